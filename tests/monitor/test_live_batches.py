"""The live view's rows of analysed frames go out in batches: one channel-layer send a window for all of a server's
frames, each session's newest row only, and a newer message about a session never overtaken by its older row."""
import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model

from monitor import broadcast
from monitor.broadcast import INSTRUCTORS_CHANNEL_GROUP
from monitor.services import instructors_group
from tests.monitor.conftest import token_headers
from tests.tokens import token_for


def row(session_id: str, frames: int, course: str = "c1", learner: str = "bob") -> dict:
    return {"id": session_id, "frames": frames, "course_id": course, "learner": learner}


@pytest.fixture
def window(settings):
    settings.MONITOR = {**settings.MONITOR, "LIVE_BATCH_SECONDS": 0.2}
    return 0.2


@pytest.fixture
async def listener():
    """A channel in the instructors' group, as an instructor's socket's channel is."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(INSTRUCTORS_CHANNEL_GROUP, channel)
    yield channel
    await layer.group_discard(INSTRUCTORS_CHANNEL_GROUP, channel)


async def nothing_more(channel: str, wait: float) -> bool:
    try:
        await asyncio.wait_for(get_channel_layer().receive(channel), timeout=wait)
    except asyncio.TimeoutError:
        return True
    return False


async def test_the_rows_of_a_window_go_out_as_one_message_each_sessions_newest(window, listener):
    for r in (row("a", 1), row("b", 1), row("a", 2), row("c", 7)):
        await broadcast.live_row_send(r)
    message = await asyncio.wait_for(get_channel_layer().receive(listener), timeout=5)
    assert message["type"] == "session.updates"
    assert message["sessions"] == [row("a", 2), row("b", 1), row("c", 7)]
    assert await nothing_more(listener, 3 * window)
    # The next window starts with the next row.
    await broadcast.live_row_send(row("b", 2))
    message = await asyncio.wait_for(get_channel_layer().receive(listener), timeout=5)
    assert message["sessions"] == [row("b", 2)]


async def test_a_newer_message_about_a_session_drops_its_waiting_row(window, listener):
    await broadcast.live_row_send(row("a", 1))
    await broadcast.live_row_send(row("b", 1))
    # The page disconnects: presence tells the instructors now, with a row that already holds frame 1.
    await broadcast.instructors_send({"type": "session.update", "session": {**row("a", 1), "connection": "closed"}})
    first = await asyncio.wait_for(get_channel_layer().receive(listener), timeout=5)
    assert first["type"] == "session.update" and first["session"]["connection"] == "closed"
    batch = await asyncio.wait_for(get_channel_layer().receive(listener), timeout=5)
    assert batch["sessions"] == [row("b", 1)]  # not a's older row, which would undo "closed"


async def test_without_a_window_each_row_goes_out_at_once(settings, listener):
    settings.MONITOR = {**settings.MONITOR, "LIVE_BATCH_SECONDS": 0}
    await broadcast.live_row_send(row("a", 1))
    message = await asyncio.wait_for(get_channel_layer().receive(listener), timeout=1)
    assert message == {"type": "session.update", "session": row("a", 1)}


@pytest.mark.django_db(transaction=True)
async def test_the_feed_forwards_a_batch_row_by_row_to_the_courses_watchers(connect, window):
    @database_sync_to_async
    def instructor_of_c1():
        from monitor.models import CourseAssignment

        ines = get_user_model().objects.create_user("ines", password="x" * 12, is_staff=True)
        ines.groups.add(instructors_group())
        CourseAssignment.objects.create(instructor=ines, course_id="c1")
        token_for(ines)
        return ines

    ines = await instructor_of_c1()
    feed, connected, code = await connect("/ws/monitor/instructors/", token_headers(ines))
    assert connected, code
    assert (await feed.receive_json_from(timeout=10))["type"] == "sessions"
    for r in (row("a", 1), row("other", 1, course="c2"), row("own", 1, learner="ines"), row("b", 3)):
        await broadcast.live_row_send(r)
    assert await feed.receive_json_from(timeout=10) == {"type": "session", "session": row("a", 1)}
    assert await feed.receive_json_from(timeout=10) == {"type": "session", "session": row("b", 3)}
    assert await feed.receive_nothing(timeout=3 * window)


async def test_a_behind_message_keeps_the_waiting_row(window, listener):
    # "behind" says the session's frames go unanalysed: the last analysed row still has to reach the live view.
    await broadcast.live_row_send(row("a", 3))
    await broadcast.instructors_send({"type": "session.behind", "session": {"id": "a", "since": "now"}})
    assert (await asyncio.wait_for(get_channel_layer().receive(listener), timeout=5))["type"] == "session.behind"
    batch = await asyncio.wait_for(get_channel_layer().receive(listener), timeout=5)
    assert batch["sessions"] == [row("a", 3)]


async def test_a_slow_channel_layer_gets_one_send_at_a_time_and_loses_no_session(window, listener, monkeypatch):
    layer = get_channel_layer()
    real, release, calls = layer.group_send, asyncio.Event(), []

    async def slow_first(group, message):
        calls.append(message)
        if len(calls) == 1:
            await release.wait()  # Redis hanging on the first window's send
        await real(group, message)

    monkeypatch.setattr(layer, "group_send", slow_first)
    await broadcast.live_row_send(row("a", 1))
    await asyncio.sleep(1.5 * window)
    for r in (row("b", 1), row("a", 2), row("b", 2)):
        await broadcast.live_row_send(r)
        await asyncio.sleep(window)
    assert len(calls) == 1  # no second send while the first waits
    release.set()
    first = await asyncio.wait_for(layer.receive(listener), timeout=5)
    second = await asyncio.wait_for(layer.receive(listener), timeout=5)
    assert first["sessions"] == [row("a", 1)] and second["sessions"] == [row("b", 2), row("a", 2)]


def test_a_row_says_when_it_was_read(transactional_db):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from monitor import selectors, services

    session = services.session_create(learner=get_user_model().objects.create_user("lea"), course_id="c",
                                      exam_id="e")
    before = timezone.now()
    as_of = selectors.session_live_row(session=session)["as_of"]
    assert before <= timezone.datetime.fromisoformat(as_of) <= timezone.now()


def test_a_loop_that_is_gone_is_forgotten(settings):
    import gc

    settings.MONITOR = {**settings.MONITOR, "LIVE_BATCH_SECONDS": 0.05}

    import weakref

    loops = []

    async def one_window():
        loops.append(weakref.ref(asyncio.get_running_loop()))
        await broadcast.live_row_send(row("a", 1))
        await asyncio.sleep(0.2)  # the window's send done

    for _ in range(3):
        asyncio.run(one_window())
    gc.collect()
    assert [ref() for ref in loops] == [None, None, None]  # nothing keeps a finished loop (and its rows) alive
