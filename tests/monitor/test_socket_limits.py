"""Socket limits under concurrency and faults: atomic frame counters, places that a dead server cannot keep."""
import asyncio

import pytest

from monitor import slots
from monitor.consumers import SessionConsumer
from tests.monitor.conftest import token_headers

pytestmark = pytest.mark.django_db(transaction=True)


async def test_frames_arriving_at_once_are_each_counted(exam_session, settings):
    """Low 4: twenty frames at once on the session's sockets (or processes): exactly the limit passes."""
    settings.MONITOR = {**settings.MONITOR, "RATE_LIMIT_FRAMES": 5, "RATE_LIMIT_SECONDS": 60}
    sockets = [SessionConsumer() for _ in range(2)]
    for consumer in sockets:
        consumer.session_id = str(exam_session.id)
    verdicts = await asyncio.gather(*(consumer._rate_limited() for consumer in sockets for _ in range(10)))
    assert verdicts.count(False) == 5


async def test_sockets_opening_at_once_each_take_a_place(exam_session, settings):
    """The socket count per session holds when sockets open at once (the same atomic counter)."""
    settings.MONITOR = {**settings.MONITOR, "MAX_SOCKETS_PER_SESSION": 2}
    sockets = [SessionConsumer() for _ in range(6)]
    for consumer in sockets:
        consumer.session_id = str(exam_session.id)
    assert (await asyncio.gather(*(consumer._socket_slot_taken() for consumer in sockets))).count(True) == 2


async def test_camera_reports_are_rate_limited_per_session(connect, exam_session, learner, settings):
    """Low 5: camera reports past MONITOR_RATE_LIMIT_CAMERA in the window are refused before any database work."""
    settings.MONITOR = {**settings.MONITOR, "RATE_LIMIT_CAMERA": 3, "RATE_LIMIT_SECONDS": 60}
    ws, connected, code = await connect(f"/ws/monitor/sessions/{exam_session.id}/", token_headers(learner))
    assert connected, code
    assert (await ws.receive_json_from(timeout=10))["type"] == "connected"
    for _ in range(5):
        await ws.send_json_to({"type": "camera", "state": "ok"})
    errors = [await ws.receive_json_from(timeout=10) for _ in range(2)]
    assert [e["error"] for e in errors] == ["rate_limited", "rate_limited"]
    assert await ws.receive_nothing(timeout=0.5)


def session_path(session):
    return f"/ws/monitor/sessions/{session.id}/"


async def test_places_held_by_a_dead_server_free_up_within_the_socket_ttl(connect, exam_session, learner, settings):
    """Issue 28: a killed server never gives its sockets' places back; they stop counting once unrenewed."""
    settings.MONITOR = {**settings.MONITOR, "SOCKET_TTL": 1, "MAX_SOCKETS_PER_SESSION": 2}
    session_id = str(exam_session.id)
    # Two sockets of a server that was then killed: their places were taken, and no server renews them.
    for ghost in ("killed-server-socket-1", "killed-server-socket-2"):
        assert await slots.slot_take(session_id=session_id, socket_id=ghost)
    slots._held.pop("killed-server-socket-1"), slots._held.pop("killed-server-socket-2")  # their server is gone
    _, connected, code = await connect(session_path(exam_session), token_headers(learner))
    assert not connected and code == 4429
    await asyncio.sleep(1.5)
    ws, connected, code = await connect(session_path(exam_session), token_headers(learner))
    assert connected, code
    assert await slots.slots_count(session_id=session_id) == 1


async def test_a_live_socket_keeps_its_place_past_the_socket_ttl(connect, exam_session, learner, settings):
    """Its server renews the place (every third of the TTL) while the socket is open, even when the page is quiet."""
    settings.MONITOR = {**settings.MONITOR, "SOCKET_TTL": 1, "MAX_SOCKETS_PER_SESSION": 2}
    first, connected, code = await connect(session_path(exam_session), token_headers(learner))
    assert connected, code
    await asyncio.sleep(2.5)
    opened = [await connect(session_path(exam_session), token_headers(learner)) for _ in range(2)]
    assert [(connected, code) for _, connected, code in opened] == [(True, None), (False, 4429)]
    assert await slots.slots_count(session_id=str(exam_session.id)) == 2


async def test_a_socket_frame_counts_against_its_learners_pixel_budget(connect, exam_session, learner):
    """Medium 3: a live frame is decoded (by a Celery worker when scaled) within its learner's decoded-pixel
    budget, shared with the account's API requests: over it, a clear error and nothing stored; the socket lives."""
    from channels.db import database_sync_to_async

    from engagement import limits
    from engagement.conf import engagement_settings
    from engagement.models import EngagementLog
    from tests.monitor.conftest import FACE

    stored = database_sync_to_async(lambda: EngagementLog.objects.filter(session_key=str(exam_session.id)).count())
    in_flight = limits.PixelHold(account=learner.pk)
    ws, connected, code = await connect(session_path(exam_session), token_headers(learner))
    assert connected, code
    assert (await ws.receive_json_from(timeout=10))["type"] == "connected"
    try:
        # The account's API requests hold all but 200,000 pixels: the 640x480 face does not fit.
        await database_sync_to_async(in_flight.reserve)(engagement_settings["ACCOUNT_MAX_PIXELS"] - 200_000)
        await ws.send_json_to({"type": "frame", "image": FACE})
        refused = await ws.receive_json_from(timeout=60)
        assert refused["type"] == "error" and refused["error"] == "pixel_budget", refused
        assert "ENGAGEMENT_ACCOUNT_MAX_PIXELS" in refused["message"] and await stored() == 0
    finally:
        await database_sync_to_async(in_flight.release)()
    await ws.send_json_to({"type": "frame", "image": FACE})
    answer = await ws.receive_json_from(timeout=60)
    assert answer["type"] == "analysis" and answer["success"] is True and await stored() == 1
    assert await database_sync_to_async(limits.pixels_held)(account=learner.pk) == 0
