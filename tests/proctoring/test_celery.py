"""The Celery app's handling of a worker's database connections: kept between tasks, as Django keeps them between
requests (CONN_MAX_AGE), and dropped when too old or broken."""
import time

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import connection

from proctoring.celery import app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_signals():
    """Celery's own Django fix-up of a worker process, installed as a worker installs it, and a (non-eager) task."""
    fixup = DjangoWorkerFixup(app)
    fixup.install()
    from monitor.tasks import frame_process as task

    def run_task(query=True):  # the signals a worker sends around each task (none before: ending one only)
        if query:
            task_prerun.send(sender=task, task_id="t", task=task, args=(), kwargs={})
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        task_postrun.send(sender=task, task_id="t", task=task, args=(), kwargs={}, retval=None, state="SUCCESS")

    yield run_task
    for signal, handler in ((task_prerun, fixup.on_task_prerun), (task_postrun, fixup.on_task_postrun)):
        signal.disconnect(handler)


def test_a_worker_keeps_its_database_connection_from_task_to_task(worker_signals):
    # Celery closes them after every task unless CELERY_DB_REUSE_MAX is set: on PostgreSQL, every frame then
    # started a server process (measured: 11 % of a 2-core box at 150 learners).
    worker_signals()
    first = connection.connection
    assert first is not None
    for _ in range(3):
        worker_signals()
        assert connection.connection is first


def test_a_connection_past_its_age_or_broken_is_closed_after_its_task(worker_signals):
    worker_signals()
    connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE
    worker_signals(query=False)
    assert connection.connection is None
    worker_signals()
    first = connection.connection
    connection.errors_occurred = True
    connection.is_usable = lambda: False  # the server went away during the task
    try:
        worker_signals(query=False)
    finally:
        del connection.is_usable
    assert connection.connection is None and first is not None


@pytest.mark.scaled_only
def test_a_task_that_nobody_waits_for_listens_for_no_result(settings):
    # Sent by name, Celery cannot see the task's ignore_result: each frame subscribed to a result channel.
    import redis

    from engagement.offload import task_send

    result = task_send("monitor.tasks.webhook_deliver", delivery_id=0)  # no such delivery: the worker does nothing
    listened = redis.Redis.from_url(settings.CELERY_RESULT_BACKEND).pubsub_channels("celery-task-meta-*")
    assert result.id and f"celery-task-meta-{result.id}".encode() not in listened
