"""In this process or on Celery workers: the one place the apps ask (the project's CELERY_BROKER_URL decides)."""
from __future__ import annotations

from typing import Any

from django.conf import settings


def offloaded() -> bool:
    """True when a Celery broker is configured: analysis, webhook deliveries and LMS syncs then go to workers."""
    return bool(getattr(settings, "CELERY_BROKER_URL", ""))


def task_send(name: str, *, eta: Any = None, **kwargs: Any) -> Any:
    """Queue the Celery task of that name ("app.tasks.function") with keyword arguments; nobody waits for its result.

    By name, so that no module that queues work imports the tasks module that calls it back (no import circle),
    and Celery is imported only by set-ups that use it. Sent by name, Celery cannot see the task's own
    ignore_result: without it, the server subscribed to a result channel in Redis for every frame, and unsubscribed
    when the result object went (two round trips and the result listener's work per frame, for no result).
    """
    from celery import current_app

    return current_app.send_task(name, kwargs=kwargs, eta=eta, ignore_result=True)


def task_answer(name: str, *, timeout: float, **kwargs: Any) -> Any:
    """Run the Celery task of that name with keyword arguments and wait for its result (at most `timeout` s)."""
    from celery import current_app

    return current_app.send_task(name, kwargs=kwargs).get(timeout=timeout)
