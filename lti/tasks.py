"""Celery tasks of lti (scaled set-up): instructors synced from a platform's member list."""
from celery import shared_task
from lti_tool.models import LtiContext

from . import services


@shared_task(ignore_result=True)
def course_instructors_sync(*, context_id: int):
    """Sync one course's instructors (NRPS) into course assignments."""
    context = LtiContext.objects.select_related("deployment__registration").filter(pk=context_id).first()
    if context is not None:
        services.course_instructors_sync(context=context)
