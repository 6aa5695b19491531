"""In this process or on Celery workers: the one place the apps ask (the project's CELERY_BROKER_URL decides)."""
from __future__ import annotations

from typing import Any

from django.conf import settings


def offloaded() -> bool:
    """True when a Celery broker is configured: analysis, webhook deliveries and LMS syncs then go to workers."""
    return bool(getattr(settings, "CELERY_BROKER_URL", ""))


def task_send(name: str, *, eta: Any = None, **kwargs: Any) -> Any:
    """Queue the Celery task of that name ("app.tasks.function") with keyword arguments; its AsyncResult.

    By name, so that no module that queues work imports the tasks module that calls it back (no import circle),
    and Celery is imported only by set-ups that use it.
    """
    from celery import current_app

    return current_app.send_task(name, kwargs=kwargs, eta=eta)
