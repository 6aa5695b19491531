"""The Celery application: used only when CELERY_BROKER_URL is set (workers analyse frames and batches)."""
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun
from celery.worker.consumer import Consumer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctoring.settings")

# After a lost broker connection (a Redis restart), kombu retries 2, 4, 6... s apart (up to 30 s): frames wait that
# long although Redis is back within a second. A worker tries again after 0.5 s, then at most 2 s apart.
RECONNECT_INTERVALS = {"interval_start": 0.5, "interval_step": 0.5, "interval_max": 2.0}


class PromptConsumer(Consumer):
    """Celery's worker consumer, reconnecting to the broker at RECONNECT_INTERVALS."""

    def ensure_connected(self, conn):
        """Connect as Celery does, with shorter waits between attempts."""
        ensure = conn.ensure_connection

        def prompt(*args, **kwargs):
            return ensure(*args, **{**RECONNECT_INTERVALS, **kwargs})

        conn.ensure_connection = prompt
        return super().ensure_connected(conn)


@task_prerun.connect
@task_postrun.connect
def _connections_tidy(task=None, **kwargs):
    """Django's per-request rule around each task: close the connections past CONN_MAX_AGE or broken, keep the rest."""
    if task is not None and getattr(task.request, "is_eager", False):
        return  # run in the caller's process (tests): its connections, maybe inside its transaction, are not ours
    from django.db import close_old_connections

    close_old_connections()


app = Celery("proctoring")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
