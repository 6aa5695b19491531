"""Limits of the analysis API: throttles, concurrent batches, request bodies, and the analysis pool's turns."""
import json
import tempfile
import time
import uuid

import numpy as np
import pytest
from channels.testing import ApplicationCommunicator
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from engagement import limits
from engagement.conf import engagement_settings
from engagement.models import EngagementLog
from tests import images
from tests.tokens import token_for

BATCH = "/api/v1/engagement/batch-analyze-mood"
ANALYZE = "/api/v1/engagement/analyze-mood"
FACE = images.data_url(images.webcam_face())
pytestmark = pytest.mark.django_db(transaction=True)
NO_LIMITS = {"user": None, "analyze": None, "batch": None}


def client_for(name):
    user = get_user_model().objects.create_user(name, password="x" * 12)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return user, client


def batch(session_id, frames=1):
    return {"frames": [{"image": FACE}] * frames, "session_id": session_id}


def assert_429(response, code):
    assert response.status_code == 429, response.content
    assert response.json()["error"] == code and response.json()["success"] is False
    assert int(response["Retry-After"]) >= 1


def logs(session_id):
    return EngagementLog.objects.filter(session_key=session_id).count()


def test_batches_are_throttled_per_user_and_scope(settings):
    settings.API_THROTTLE_RATES = {**NO_LIMITS, "batch": "2/minute"}
    _, first = client_for("throttled-1")
    _, second = client_for("throttled-2")
    assert [first.post(BATCH, batch("s-throttle"), format="json").status_code for _ in range(2)] == [200, 200]
    assert_429(first.post(BATCH, batch("s-throttle"), format="json"), "throttled")
    assert logs("s-throttle") == 2  # the refused batch wrote nothing
    # The scope is the batch endpoint: single frames still pass, and so do other users' batches.
    assert first.post(ANALYZE, {"image": FACE}, format="json").status_code == 200
    assert second.post(BATCH, batch("s-other"), format="json").status_code == 200


def test_the_whole_api_is_throttled_per_user(settings):
    settings.API_THROTTLE_RATES = {**NO_LIMITS, "user": "3/minute"}
    _, client = client_for("busy")
    assert [client.get("/api/v1/sessions/").status_code for _ in range(3)] == [200, 200, 200]
    assert_429(client.post(ANALYZE, {"image": FACE, "session_id": "s-user"}, format="json"), "throttled")
    assert logs("s-user") == 0


def test_a_user_has_one_batch_in_analysis_at_a_time(settings):
    settings.API_THROTTLE_RATES = NO_LIMITS
    user, client = client_for("parallel")
    with limits.batch_slot(user=user):  # a batch of this user's is being analysed
        assert_429(client.post(BATCH, batch("s-parallel"), format="json"), "too_many_batches")
        _, other = client_for("someone-else")
        assert other.post(BATCH, batch("s-someone"), format="json").status_code == 200
    assert logs("s-parallel") == 0
    assert client.post(BATCH, batch("s-parallel"), format="json").status_code == 200  # the place was given back
    assert logs("s-parallel") == 1


def token_of(name):
    user = get_user_model().objects.create_user(name, password="x" * 12)
    return token_for(user)


def http_scope(path, token, length=None, method="POST"):
    headers = [(b"host", b"testserver"), (b"content-type", b"application/json"),
               (b"authorization", f"Token {token}".encode())]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http", "method": method, "path": path, "query_string": b"", "headers": headers,
            "scheme": "http", "server": ("testserver", 80), "client": ("127.0.0.1", 5000), "http_version": "1.1"}


async def answer_of(communicator, timeout=30):
    start = await communicator.receive_output(timeout)
    body = b""
    while True:
        part = await communicator.receive_output(timeout)
        body += part.get("body", b"")
        if not part.get("more_body"):
            break
    return start["status"], dict(start["headers"]), json.loads(body or b"null")


@pytest.fixture
def asgi():
    from proctoring.asgi import application

    return application


async def test_a_declared_oversized_body_is_refused_unread(asgi, settings):
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "MAX_BATCH_REQUEST_BYTES": 1000}
    communicator = ApplicationCommunicator(asgi, http_scope(BATCH, "no-token-needed", length=5000))
    # Nothing of the body is sent: the answer comes from the headers alone.
    status, _, body = await answer_of(communicator)
    assert status == 413 and body["error"] == "payload_too_large"


async def test_an_undeclared_oversized_body_is_cut_at_the_limit(asgi, settings):
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "MAX_BATCH_REQUEST_BYTES": 1000}
    from channels.db import database_sync_to_async

    token = await database_sync_to_async(token_of)("chunked")
    communicator = ApplicationCommunicator(asgi, http_scope(BATCH, token))
    for _ in range(5):
        await communicator.send_input({"type": "http.request", "body": b" " * 400, "more_body": True})
    await communicator.send_input({"type": "http.request", "body": b"{}", "more_body": False})
    status, _, body = await answer_of(communicator)
    assert status == 413 and body["error"] == "payload_too_large"


async def test_a_process_reads_a_bounded_number_of_large_bodies_at_once(asgi, settings):
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "MAX_CONCURRENT_BODIES": 1}
    settings.API_THROTTLE_RATES = NO_LIMITS
    from channels.db import database_sync_to_async

    token = await database_sync_to_async(token_of)("uploader")
    body = json.dumps(batch("s-bodies", frames=40)).encode()
    assert len(body) > 2 * 1024 * 1024
    slow = ApplicationCommunicator(asgi, http_scope(BATCH, token, length=len(body)))
    await slow.send_input({"type": "http.request", "body": body[:1000], "more_body": True})  # still uploading
    busy = ApplicationCommunicator(asgi, http_scope(BATCH, token, length=len(body)))
    status, headers, answer = await answer_of(busy)
    assert status == 429 and answer["error"] == "server_busy" and int(headers[b"retry-after"]) >= 1
    await slow.send_input({"type": "http.request", "body": body[1000:], "more_body": False})
    status, _, answer = await answer_of(slow, timeout=120)
    assert status == 200 and answer["summary"]["analyzed_frames"] == 40
    assert await database_sync_to_async(logs)("s-bodies") == 40  # only the accepted batch was written
    small = ApplicationCommunicator(asgi, http_scope(ANALYZE, token, length=len(json.dumps({"image": FACE}))))
    await small.send_input({"type": "http.request", "body": json.dumps({"image": FACE}).encode()})
    assert (await answer_of(small))[0] == 200  # small bodies never wait for the cap


async def test_bodies_up_to_the_batch_limit_stay_in_memory(asgi, monkeypatch):
    """A 12 MB batch (over the 10 MB single-frame limit) is read and analysed without a temporary file."""
    rollovers = []
    real = tempfile.SpooledTemporaryFile.rollover

    def spy(self):
        rollovers.append(self)
        return real(self)

    monkeypatch.setattr(tempfile.SpooledTemporaryFile, "rollover", spy)
    noise = np.random.default_rng(0).integers(0, 256, (1500, 1500, 3), dtype=np.uint8)
    big = images.data_url(noise, fmt="PNG")
    body = json.dumps({"frames": [{"image": big}, {"image": big}]}).encode()
    assert len(body) > 12 * 1024 * 1024
    from channels.db import database_sync_to_async

    token = await database_sync_to_async(token_of)("big-bodies")
    communicator = ApplicationCommunicator(asgi, http_scope(BATCH, token, length=len(body)))
    for start in range(0, len(body), 1024 * 1024):  # as a server hands it over, in parts
        await communicator.send_input({"type": "http.request", "body": body[start:start + 1024 * 1024],
                                       "more_body": start + 1024 * 1024 < len(body)})
    status, _, answer = await answer_of(communicator, timeout=120)
    assert status == 200 and len(answer["results"]) == 2, answer
    assert rollovers == []


@pytest.mark.embedded_only
def test_a_batch_takes_its_turns_on_the_shared_pool_in_chunks(api, settings, monkeypatch):
    """Live frames queue on the same threads: a batch enters in chunks, so none waits for a whole batch."""
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "BATCH_CHUNK_FRAMES": 4}
    from engagement import services

    calls = []
    real = services._frames_results

    def spy(frames, *args):
        import threading

        calls.append((len(frames), threading.current_thread().name))
        return real(frames, *args)

    monkeypatch.setattr(services, "_frames_results", spy)
    response = api.post(BATCH, {"frames": [{"image": FACE}] * 10}, format="json")
    assert response.status_code == 200
    assert [r["index"] for r in response.json()["results"]] == list(range(10))
    assert [n for n, _ in calls] == [4, 4, 2] and all(name.startswith("analysis") for _, name in calls)


def test_an_accounts_decoded_pixels_are_counted_across_its_requests(settings):
    """Medium 3: frames of one account in analysis at once share ENGAGEMENT_ACCOUNT_MAX_PIXELS; others are free.

    On the scaled set-up the frames are decoded by Celery workers, which count them in the same shared cache.
    """
    settings.API_THROTTLE_RATES = NO_LIMITS
    limit = engagement_settings["ACCOUNT_MAX_PIXELS"]  # the workers' too: the same settings, never changed here
    user, client = client_for("pixels")
    in_flight = limits.PixelHold(account=user.pk)
    try:
        in_flight.reserve(limit - 200_000)  # other requests of this account hold frames in analysis
        assert limits.pixels_held(account=user.pk) == limit - 200_000
        # The 640x480 face (307,200 pixels) would take the account over its budget: refused before decoding.
        assert_429(client.post(ANALYZE, {"image": FACE, "session_id": "s-pixels"}, format="json"), "pixel_budget")
        assert_429(client.post("/api/v1/engagement/verify-faces", {"img1": FACE, "img2": FACE}, format="json"),
                   "pixel_budget")
        answer = client.post(BATCH, batch("s-pixels", frames=2), format="json").json()
        assert [r.get("error") for r in answer["results"]] == ["pixel_budget", "pixel_budget"]
        assert logs("s-pixels") == 0  # nothing refused was recorded
        _, other = client_for("other-account")
        assert other.post(ANALYZE, {"image": FACE}, format="json").status_code == 200
    finally:
        in_flight.release()
    assert client.post(ANALYZE, {"image": FACE, "session_id": "s-pixels"}, format="json").status_code == 200
    # Every answered request gave its pixels back: three faces fit again, and nothing is left held.
    assert client.post(BATCH, batch("s-pixels", frames=3), format="json").json()["summary"]["analyzed_frames"] == 3
    assert client.post("/api/v1/engagement/verify-faces", {"img1": FACE, "img2": FACE},
                       format="json").json()["verified"] is True
    assert limits.pixels_held(account=user.pk) == 0 and logs("s-pixels") == 4


def test_the_pixels_of_frames_in_analysis_are_held_in_the_shared_count(settings):
    """Medium 3: a frame counts from its decoding to its answer wherever it is decoded (a Celery worker when
    scaled): the test, another process then, sees the account's count rise during a batch and fall after it."""
    import threading

    settings.API_THROTTLE_RATES = NO_LIMITS
    user, client = client_for("pixels-held")
    answers = []
    sender = threading.Thread(target=lambda: answers.append(
        client.post(BATCH, batch("s-held", frames=24), format="json")))
    seen = 0
    sender.start()
    while sender.is_alive():
        seen = max(seen, limits.pixels_held(account=user.pk))
        sender.join(0.005)
    assert answers[0].status_code == 200 and answers[0].json()["summary"]["analyzed_frames"] == 24
    assert seen >= 640 * 480  # at least one decoded face was counted while the batch was in analysis
    assert seen % (640 * 480) == 0 and seen <= 24 * 640 * 480
    assert limits.pixels_held(account=user.pk) == 0


def test_a_count_left_by_a_killed_process_stops_counting_by_itself(settings, monkeypatch):
    """A process killed mid-analysis never gives its pixels back: its window expires, and a release that comes
    late never takes pixels off a newer window's count."""
    import types
    import uuid

    account = f"killed-process-{uuid.uuid4()}"
    now = [1_000_000.0]
    monkeypatch.setattr(limits, "time", types.SimpleNamespace(time=lambda: now[0]))  # this module's clock only
    window = engagement_settings["WORKER_TIMEOUT"] + 60
    killed, live = limits.PixelHold(account=account), limits.PixelHold(account=account)
    killed.reserve(engagement_settings["ACCOUNT_MAX_PIXELS"])  # never released
    with pytest.raises(limits.TooManyRequests):
        live.reserve(1)
    now[0] += window  # still counted in the next window: a request may hold pixels that long
    with pytest.raises(limits.TooManyRequests):
        live.reserve(1)
    now[0] += window
    live.reserve(1000)
    assert limits.pixels_held(account=account) == 1000
    killed.release()  # its window's count is not the live one's
    assert limits.pixels_held(account=account) == 1000
    live.release()
    assert limits.pixels_held(account=account) == 0


def test_live_frames_take_the_analysis_threads_before_api_work():
    """Medium 3: a live frame queued after API work runs before it (API work keeps its arrival order)."""
    import threading

    from engagement.services import AnalysisPool

    pool = AnalysisPool(max_workers=1, thread_name_prefix="test-analysis")
    busy, order = threading.Event(), []
    running = pool.submit(busy.wait, 30)  # the one thread is analysing something
    queued = [pool.submit(order.append, "api-1"), pool.submit(order.append, "api-2"),
              pool.live.submit(order.append, "live")]
    busy.set()
    for future in [running, *queued]:
        future.result(timeout=30)
    assert order == ["live", "api-1", "api-2"]
    failing = pool.live.submit(int, "not a number")
    with pytest.raises(ValueError):
        failing.result(timeout=30)


def test_a_counter_whose_window_expires_mid_count_still_expires(monkeypatch):
    # Django's Redis incr checks that the key exists, then INCRBYs: a window that expires in between is made again
    # without an expiry, which would rate-limit a session (or hold an account's pixels) for good.
    from django.core.cache import cache

    key = f"test.counter.{uuid.uuid4().hex}"
    monkeypatch.setattr(limits, "_redis_client", lambda key: None)  # the path of caches other than Redis's

    def incr_after_expiry(name, delta=1):  # what Redis does when the key expires between EXISTS and INCRBY
        cache.delete(name)
        cache.set(name, delta, timeout=None)
        return delta

    assert limits.cache_count_add(key, timeout=1) == 1
    with monkeypatch.context() as patched:
        patched.setattr(cache, "incr", incr_after_expiry)
        assert limits.cache_count_add(key, timeout=1) == 1
    time.sleep(1.5)
    assert cache.get(key) is None  # the window ended: counting starts afresh
    assert limits.cache_count_add(key, timeout=30) == 1 and limits.cache_count_add(key, timeout=30) == 2


def test_a_count_given_back_after_its_window_expired_leaves_nothing_behind(monkeypatch):
    from django.core.cache import cache

    key = f"test.counter.{uuid.uuid4().hex}"
    monkeypatch.setattr(limits, "_redis_client", lambda key: None)  # the path of caches other than Redis's
    limits.cache_count_add(key, 5, timeout=30)

    def decr_after_expiry(name, delta=1):  # Redis's DECRBY on a key that expired after Django's EXISTS
        cache.delete(name)
        cache.set(name, -delta, timeout=None)
        return -delta

    with monkeypatch.context() as patched:
        patched.setattr(cache, "decr", decr_after_expiry)
        limits.cache_count_take(key, 5)
    assert cache.get(key) is None


@pytest.mark.scaled_only
def test_a_counter_on_redis_is_one_round_trip_with_its_expiry(monkeypatch):
    """Every frame counts its rate limit and its pixels: on Redis each add and take is one atomic command."""
    from django.core.cache import cache

    client, stored = limits._redis_client(key := f"test.counter.{uuid.uuid4().hex}")
    commands = []
    execute = type(client).execute_command  # Django makes a client object per call, on one connection pool

    def counted(self, *args, **kwargs):
        commands.append(args[0])
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(type(client), "execute_command", counted)
    assert limits.cache_count_add(key, 5, timeout=30) == 5
    assert limits.cache_count_add(key, 2, timeout=30) == 7
    limits.cache_count_take(key, 7)
    assert commands == ["EVAL", "EVAL", "EVAL"]
    monkeypatch.undo()
    assert cache.get(key) == 0 and 0 < client.pttl(stored) <= 30_000  # Django reads the count the script wrote
    assert limits.cache_count_add(key, 1, timeout=30) == 1 and client.pttl(stored) > 29_000  # made afresh: new expiry
    cache.delete(key)
    limits.cache_count_take(key, 3)  # expired meanwhile: nothing is made again (no count without an expiry)
    assert cache.get(key) is None and client.exists(stored) == 0


@pytest.mark.scaled_only
def test_counters_on_redis_count_every_add_from_threads_at_once():
    from concurrent.futures import ThreadPoolExecutor

    key = f"test.counter.{uuid.uuid4().hex}"
    with ThreadPoolExecutor(8) as pool:
        totals = list(pool.map(lambda _: limits.cache_count_add(key, timeout=30), range(200)))
    assert sorted(totals) == list(range(1, 201))
