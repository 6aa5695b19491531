"""Celery tasks of engagement (scaled set-up only): analysis of API frames and face verification on a worker."""
from celery import shared_task

from . import services
from .exceptions import EngagementError


@shared_task(acks_late=True, reject_on_worker_lost=True)
def frames_analyze(*, frames: list, detector_backend=None, session_id=None, user_id=None,
                   fail_alone: bool = True) -> dict:
    """Analyse API frames on a worker: {"results": [...]}, or {"error", "status"} for a request-level error."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    try:
        return {"results": services.frames_analyze(frames=services.frames_from_json(frames), user=user,
                                                   detector_backend=detector_backend, session_id=session_id,
                                                   fail_alone=fail_alone)}
    except EngagementError as exc:
        return exc.as_answer()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def faces_verify(*, images: dict, detector_backend=None, user_id=None) -> dict:
    """Verify two API images on a worker: {"result": {...}}, or {"error", "status"} for a request-level error."""
    try:
        return {"result": services.faces_verify(images=images, detector_backend=detector_backend, account=user_id)}
    except EngagementError as exc:
        return exc.as_answer()
