"""A database error while a socket frame is recorded: answered at once, nothing stored, the next frame analysed,
and the live view shows the row as unknown meanwhile."""
import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from engagement.models import EngagementLog
from tests.monitor.conftest import FACE, table_move, token_headers
from tests.monitor.test_consumer import _clock, at, joined, next_of, rows, send_frame  # noqa: F401 (_clock: the server clock)
from tests.tokens import token_for

pytestmark = pytest.mark.django_db(transaction=True)
move = database_sync_to_async(table_move)


async def test_a_database_error_is_answered_at_once_and_the_next_frame_is_analysed(connect, exam_session, learner):
    ws = await joined(connect, exam_session, learner)
    first = await send_frame(ws, FACE, 0)
    assert first["type"] == "analysis"
    await move(EngagementLog, away=True)
    try:
        # In a server thread or a worker alike, the frame is answered (not left to a 120 s timeout) with an
        # error the page retries on, and the socket stays open.
        answer = await send_frame(ws, FACE, 5)
        assert answer["type"] == "error" and answer["error"] == "service_unavailable", answer
    finally:
        await move(EngagementLog, away=False)
    again = await send_frame(ws, FACE, 10)
    assert again["type"] == "analysis" and again["success"], again
    assert [r.pk for r in await rows(exam_session)] == [first["frame_id"], again["frame_id"]]
    await ws.disconnect()


async def test_the_live_view_shows_a_row_as_behind_while_its_frames_fail_and_current_once_analysed(
        connect, exam_session, learner):
    """Issue 28: frames unanalysed in a row make the live view's row unknown (not frozen); an analysis ends it."""
    staff = await database_sync_to_async(get_user_model().objects.create_superuser)("ines", password="x" * 12)
    await database_sync_to_async(token_for)(staff)
    feed, connected, _ = await connect("/ws/monitor/instructors/", token_headers(staff))
    assert connected and (await feed.receive_json_from(timeout=10))["type"] == "sessions"
    ws = await joined(connect, exam_session, learner)
    assert (await send_frame(ws, FACE, 0))["type"] == "analysis"
    await move(EngagementLog, away=True)
    try:
        for seconds in (5, 10, 15):
            answer = await send_frame(ws, FACE, seconds)
            assert answer["type"] == "error" and answer["error"] == "service_unavailable", answer
        behind = await next_of(feed, "behind")
        # Since the first frame of the run that was not analysed (the server's clock when it came).
        assert behind == {"type": "behind", "session_id": str(exam_session.id), "since": at(5)}
        # A live view opened now reads it with the list of sessions.
        late, connected, _ = await connect("/ws/monitor/instructors/", token_headers(staff))
        assert connected
        [row] = (await late.receive_json_from(timeout=10))["sessions"]
        assert row["analysis_behind_since"] == at(5) and row["frames"] == 1
        await late.disconnect()
    finally:
        await move(EngagementLog, away=False)
    assert (await send_frame(ws, FACE, 20))["type"] == "analysis"
    while (update := await next_of(feed, "session"))["session"]["frames"] < 2:
        pass
    assert "analysis_behind_since" not in update["session"]
    fresh, connected, _ = await connect("/ws/monitor/instructors/", token_headers(staff))
    [row] = (await fresh.receive_json_from(timeout=10))["sessions"]
    assert "analysis_behind_since" not in row and row["frames"] == 2
    await fresh.disconnect()
    await ws.disconnect()
    await feed.disconnect()


def test_a_workers_reply_that_meets_a_redis_restart_is_sent_again(exam_session, learner, monkeypatch):
    """Issue 28: the frame is stored; its answer, refused once by a restarting Redis, still reaches the socket
    (instead of the socket waiting out its deadline and telling the learner that a stored frame failed)."""
    import time
    import uuid

    import redis
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from django.utils import timezone

    from monitor import tasks

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    send, refused = layer.send, []

    async def restarting(to, message):  # what channels_redis raises on a connection the restart closed
        if not refused:
            refused.append(to)
            raise redis.exceptions.ConnectionError("Connection closed by server.")
        await send(to, message)

    monkeypatch.setattr(layer, "send", restarting)
    frame_id, now = str(uuid.uuid4()), timezone.now()
    tasks.frame_process(session_id=str(exam_session.id), user_id=learner.pk, frame_id=frame_id, image=FACE,
                        timestamp=now.isoformat(), reply_channel=channel, received_at=time.time(),
                        server_time=now.isoformat())
    answer = async_to_sync(layer.receive)(channel)
    assert refused == [channel]
    assert answer["frame_id"] == frame_id and answer["outcome"]["analysis"]["type"] == "analysis", answer
    assert list(EngagementLog.objects.values_list("frame_id", flat=True)) == [uuid.UUID(frame_id)]


def test_the_live_rows_are_read_from_the_database_while_the_cache_restarts(exam_session, monkeypatch):
    """Redis restarting (outside the project): the live view's rows come without their unanalysed marks, not a 500."""
    from django.core.cache import cache
    from redis.exceptions import ConnectionError as RedisConnectionError

    from monitor import selectors

    def restarting(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(cache, "get_many", restarting)
    [row] = selectors.sessions_live()
    assert row["id"] == str(exam_session.id) and "analysis_behind_since" not in row


@pytest.mark.scaled_only
def test_a_workers_replies_reuse_one_redis_connection():
    """A worker answers every frame on the connections it keeps, not on a new one per reply (3.8 ms of CPU each)."""
    import redis
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from django.conf import settings

    from monitor import tasks

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    server = redis.Redis.from_url(settings.REDIS_URL)
    tasks.reply_send(channel, {"type": "frame.outcome", "frame_id": "warm-up"})  # the loop's first connection
    before = server.info("stats")["total_connections_received"]
    for i in range(20):
        tasks.reply_send(channel, {"type": "frame.outcome", "frame_id": str(i)})
    opened = server.info("stats")["total_connections_received"] - before

    async def collect():  # on one event loop: channels_redis buffers a channel's messages per loop
        return [(await layer.receive(channel))["frame_id"] for _ in range(21)]

    received = async_to_sync(collect)()
    assert received == ["warm-up", *map(str, range(20))], received
    assert opened <= 1, f"{opened} Redis connections opened for 20 replies"


@pytest.mark.scaled_only
def test_a_reply_send_that_hangs_is_given_up_and_sent_again(monkeypatch):
    """A send that Redis leaves hanging counts as failed after REPLY_TIMEOUT and is tried again, so that a worker
    never waits on it longer than the socket waits for the answer."""
    import asyncio
    import time

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from monitor import tasks

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    send, hung = layer.send, []

    async def hanging(to, message):
        if not hung:
            hung.append(to)
            await asyncio.sleep(30)
        await send(to, message)

    monkeypatch.setattr(layer, "send", hanging)
    monkeypatch.setattr(tasks, "REPLY_TIMEOUT", 0.3)
    started = time.monotonic()
    tasks.reply_send(channel, {"type": "frame.outcome", "frame_id": "late"})
    assert hung == [channel] and time.monotonic() - started < 5
    assert async_to_sync(layer.receive)(channel)["frame_id"] == "late"
