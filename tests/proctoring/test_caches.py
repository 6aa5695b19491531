"""The scaled set-up's Redis cache (one redis-py client kept per pool) and its broker's message encoding."""
import json
import threading
import uuid

import pytest

pytestmark = pytest.mark.scaled_only


def test_the_redis_cache_keeps_one_client_per_pool():
    from django.core.cache import caches

    from proctoring.caches import RedisCache

    backend = caches["default"]
    assert isinstance(backend, RedisCache)
    client = backend._cache.get_client(write=True)
    assert backend._cache.get_client(write=True) is client  # Django's own makes a new one for every call
    key = f"test.cache.{uuid.uuid4().hex}"
    backend.set(key, {"a": 1}, timeout=30)
    assert backend.get(key) == {"a": 1}
    backend.delete(key)
    assert backend.get(key) is None


def test_one_cache_shared_by_threads_counts_every_call():
    from django.core.cache import caches

    backend = caches.create_connection("default")  # one backend object (and so one kept client) for all threads
    key = f"test.cache.{uuid.uuid4().hex}"
    backend.set(key, 0, timeout=30)

    def add():
        for _ in range(100):
            backend.incr(key)

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert backend.get(key) == 800
    backend.delete(key)


def test_a_task_is_queued_as_json_not_base64():
    # kombu base64-encodes message bodies on Redis by default: a 60 kB frame took 98 kB.
    import redis
    from django.conf import settings

    from proctoring.celery import app

    queue = f"test-nobody-{uuid.uuid4().hex[:8]}"  # a queue no worker consumes: the message stays to be read
    app.send_task("monitor.tasks.webhook_deliver", kwargs={"delivery_id": 0}, queue=queue, ignore_result=True)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        message = json.loads(broker.lindex(queue, 0))
    finally:
        broker.delete(queue)
    assert message["properties"]["body_encoding"] == "utf-8"
    assert json.loads(message["body"])[1] == {"delivery_id": 0}
