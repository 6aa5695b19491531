"""The Celery application: used only when CELERY_BROKER_URL is set (workers analyse frames and batches)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctoring.settings")

app = Celery("proctoring")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
