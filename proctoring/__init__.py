"""The proctoring Django project: settings, URLs and the ASGI application."""

from .celery import app as celery_app  # noqa: E402  (so that @shared_task binds to our app)

__all__ = ["celery_app"]
