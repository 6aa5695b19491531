"""Presence: the connection state kept by the session socket, and the camera_blocked and disconnected alerts."""
import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from engagement import services as engagement_services
from monitor import presence, services
from monitor.broadcast import presence_announce
from monitor.models import Alert, AlertKind, Connection, ExamSession, Severity, Webhook, WebhookDelivery
from monitor.presence import PresenceEvent, presence_sweep, session_presence_record
from tests.monitor.conftest import FACE, token_headers
from tests.tokens import token_for

pytestmark = pytest.mark.django_db(transaction=True)
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def no_background_webhooks(settings):
    """Deliveries are recorded but not sent: these tests look at what was recorded."""
    settings.WEBHOOKS = {**settings.WEBHOOKS, "BACKGROUND": False}


@pytest.fixture
def hooked(exam_session, no_background_webhooks):
    """The session, of an LMS account's tenant, with its webhook subscribed to alert events."""
    lms = get_user_model().objects.create_user("lms", password="x" * 12)
    Webhook.objects.create(owner=lms, url="https://lms.example/hook", secret="s" * 16,
                           events=["alert.opened", "alert.closed"])
    ExamSession.objects.filter(pk=exam_session.pk).update(tenant=services.tenant_of_account(account=lms))
    return reload(exam_session)


def reload(session):
    return ExamSession.objects.get(pk=session.pk)


def opened(changes):
    """The kinds of the alerts a sweep opened."""
    return [event["alert"]["kind"] for change in changes for event in change.events if event["event"] == "opened"]


def deliveries(event):
    return [d.payload for d in WebhookDelivery.objects.filter(event=event)]


def record(session, event, seconds, problem=""):
    return session_presence_record(session_id=session.id, event=event, camera_problem=problem, at=at(seconds))


def frame(session, seconds):
    result = engagement_services.frame_analyze(frame=engagement_services.Frame(image=FACE, timestamp=at(seconds)))
    return services.session_frame_record(session_id=session.id, user=session.learner, result=result,
                                         received_at=at(seconds))


def test_a_blocked_camera_opens_an_alert_after_the_delay_once_and_a_working_camera_closes_it(hooked):
    record(hooked, PresenceEvent.SOCKET_OPEN, 0)
    change = record(hooked, PresenceEvent.CAMERA_PROBLEM, 1, "denied")
    assert change.row["connection"] == "camera_blocked" and reload(hooked).connection == Connection.CAMERA_BLOCKED
    assert presence_sweep(now=at(20)) == []  # 19 s: not yet (MONITOR_CAMERA_BLOCKED_SECONDS is 20)
    [change] = presence_sweep(now=at(21))
    [alert] = Alert.objects.filter(session=hooked)
    assert (alert.kind, alert.severity, alert.closed_at) == (AlertKind.CAMERA_BLOCKED, Severity.CRITICAL, None)
    assert alert.message == "No camera picture for 20 s: camera access was denied."
    assert change.events == [{"type": "alert", "event": "opened", "alert": alert.as_message()}]
    assert [a["kind"] for a in change.row["alerts"]] == ["camera_blocked"]
    assert presence_sweep(now=at(60)) == []  # one alert per spell, however long it lasts
    assert [p["data"]["alert"]["kind"] for p in deliveries("alert.opened")] == ["camera_blocked"]

    change = record(hooked, PresenceEvent.CAMERA_OK, 70)
    alert.refresh_from_db()
    assert alert.closed_at == at(70) and change.events[0]["event"] == "closed"
    assert reload(hooked).connection == Connection.CONNECTED
    assert [p["data"]["alert"]["kind"] for p in deliveries("alert.closed")] == ["camera_blocked"]


def test_a_page_gone_opens_a_disconnected_alert_and_coming_back_closes_it(hooked):
    record(hooked, PresenceEvent.SOCKET_OPEN, 0)
    assert reload(hooked).connection == Connection.CONNECTED
    record(hooked, PresenceEvent.SOCKET_CLOSED, 10)
    assert presence_sweep(now=at(39)) == []  # MONITOR_DISCONNECTED_SECONDS is 30
    presence_sweep(now=at(40))
    [alert] = Alert.objects.filter(session=hooked)
    assert alert.kind == AlertKind.DISCONNECTED and alert.severity == Severity.WARNING
    assert alert.message == "The exam page has been disconnected for 30 s."
    change = record(hooked, PresenceEvent.SOCKET_OPEN, 50)
    alert.refresh_from_db()
    assert alert.closed_at == at(50) and change.row["connection"] == "connected"
    # The live view's row says the page came back, and when.
    assert change.row["rejoins"] == 1 and change.row["rejoined_at"] == at(50).isoformat()
    assert [p["data"]["alert"]["kind"] for p in deliveries("alert.closed")] == ["disconnected"]


def test_a_short_reload_raises_nothing(exam_session):
    record(exam_session, PresenceEvent.SOCKET_OPEN, 0)
    record(exam_session, PresenceEvent.SOCKET_CLOSED, 10)
    change = record(exam_session, PresenceEvent.SOCKET_OPEN, 12)
    # No disconnection alert; only no_frames, as the page (back) has sent no frame for 88 s.
    assert opened(presence_sweep(now=at(100))) == [AlertKind.NO_FRAMES]
    assert not Alert.objects.exclude(kind=AlertKind.NO_FRAMES).exists()
    assert change.row["rejoins"] == 1  # no alert, but the page did go and come back
    assert record(exam_session, PresenceEvent.SOCKET_OPEN, 13) is None  # a second socket is not a rejoin
    assert reload(exam_session).rejoin_count == 1


def test_reopening_the_page_keeps_a_blocked_camera_blocked(exam_session):
    record(exam_session, PresenceEvent.SOCKET_OPEN, 0)
    record(exam_session, PresenceEvent.CAMERA_PROBLEM, 1, "missing")
    presence_sweep(now=at(30))
    record(exam_session, PresenceEvent.SOCKET_OPEN, 40)  # a second tab: the camera is still missing
    session = reload(exam_session)
    assert session.connection == Connection.CAMERA_BLOCKED
    assert Alert.objects.get(kind=AlertKind.CAMERA_BLOCKED).closed_at is None
    assert "no camera was found" in Alert.objects.get().message


def test_a_frame_proves_presence_unless_it_is_older_than_the_change(exam_session):
    record(exam_session, PresenceEvent.SOCKET_OPEN, 0)
    record(exam_session, PresenceEvent.CAMERA_PROBLEM, 10, "stopped")
    presence_sweep(now=at(40))
    # A worker's late answer for a frame received before the camera stopped changes nothing.
    frame(exam_session, 5)
    assert reload(exam_session).connection == Connection.CAMERA_BLOCKED
    assert Alert.objects.get(kind=AlertKind.CAMERA_BLOCKED).closed_at is None
    # A frame received now does: the camera works again.
    frame(exam_session, 50)
    assert reload(exam_session).connection == Connection.CONNECTED
    assert Alert.objects.get(kind=AlertKind.CAMERA_BLOCKED).closed_at == at(50)


def test_a_silent_connected_session_is_taken_as_disconnected(exam_session, settings):
    record(exam_session, PresenceEvent.SOCKET_OPEN, 0)
    frame(exam_session, 5)
    # Its server died without closing the socket: no frame for MONITOR_PRESENCE_STALE_SECONDS (120). Not
    # disconnected yet at 124 s, but unmonitored long since (no_frames).
    assert opened(presence_sweep(now=at(124))) == [AlertKind.NO_FRAMES]
    changes = presence_sweep(now=at(126))
    session = reload(exam_session)
    assert session.connection == Connection.DISCONNECTED and session.connection_changed_at == at(5)
    assert changes[0].row["connection"] == "disconnected"
    # Disconnected since its last frame, so the alert's delay has long passed.
    assert Alert.objects.get(closed_at__isnull=True, kind=AlertKind.DISCONNECTED)


def test_a_page_heard_from_without_analysed_frames_is_not_silence(exam_session):
    record(exam_session, PresenceEvent.SOCKET_OPEN, 0)
    frame(exam_session, 5)
    # Its frames are refused (a skewed clock, the rate limit) or it has none to send, but it pings.
    async_to_sync(presence.session_heard)(session_id=exam_session.id, at=at(100))
    # Not disconnected, but not monitored either: pings alone raise no_frames.
    assert opened(presence_sweep(now=at(200))) == [AlertKind.NO_FRAMES]
    assert reload(exam_session).connection == Connection.CONNECTED
    presence_sweep(now=at(222))  # 122 s after it was last heard from
    session = reload(exam_session)
    assert session.connection == Connection.DISCONNECTED and session.connection_changed_at == at(100)


def test_a_slow_frame_interval_is_not_silence(learner):
    session = services.session_create(learner=learner, course_id="c1", exam_id="e2", frame_interval=60)
    record(session, PresenceEvent.SOCKET_OPEN, 0)
    frame(session, 5)
    assert presence_sweep(now=at(150)) == []  # 145 s < 3 intervals
    presence_sweep(now=at(190))
    assert reload(session).connection == Connection.DISCONNECTED


def test_ended_and_unstarted_sessions_raise_nothing(exam_session, learner):
    waiting = services.session_create(learner=learner, course_id="c1", exam_id="e2")
    record(exam_session, PresenceEvent.SOCKET_OPEN, 0)
    record(exam_session, PresenceEvent.SOCKET_CLOSED, 1)
    services.session_end(session=exam_session)
    assert presence_sweep(now=at(10_000)) == []
    assert record(exam_session, PresenceEvent.SOCKET_OPEN, 10_001) is None
    assert reload(waiting).connection == Connection.WAITING and not Alert.objects.exists()


def test_the_alert_rules_leave_presence_alone(exam_session):
    """Analysed frames never open the presence kinds: only the page's own reports and the sweep do."""
    record(exam_session, PresenceEvent.SOCKET_OPEN, 0)
    for seconds in range(0, 60, 5):
        frame(exam_session, seconds)
    assert not Alert.objects.filter(kind__in=presence.PRESENCE_KINDS).exists()


# The socket: what the consumer reports, and what it pushes.

async def joined(connect, session, user):
    ws, connected, code = await connect(f"/ws/monitor/sessions/{session.id}/", token_headers(user))
    assert connected, code
    assert (await ws.receive_json_from(timeout=10))["type"] == "connected"
    return ws


@database_sync_to_async
def connection_of(session):
    return reload(session).connection


async def test_the_socket_keeps_the_connection_until_the_last_one_closes(connect, exam_session, learner):
    assert await connection_of(exam_session) == Connection.WAITING
    first = await joined(connect, exam_session, learner)
    assert await connection_of(exam_session) == Connection.CONNECTED
    second = await joined(connect, exam_session, learner)  # a second tab
    await first.disconnect()
    assert await connection_of(exam_session) == Connection.CONNECTED
    await second.disconnect()
    assert await connection_of(exam_session) == Connection.DISCONNECTED


async def test_the_page_reports_its_camera(connect, exam_session, learner):
    ws = await joined(connect, exam_session, learner)
    await ws.send_json_to({"type": "camera", "state": "denied"})
    await ws.send_json_to({"type": "camera", "state": "on fire"})
    error = await ws.receive_json_from(timeout=10)
    assert error["type"] == "error" and error["error"] == "invalid_camera_state" and "denied" in error["message"]
    await ws.send_json_to({"type": "camera", "state": ["ok"]})
    assert (await ws.receive_json_from(timeout=10))["error"] == "invalid_camera_state"
    session = await database_sync_to_async(reload)(exam_session)
    assert session.connection == Connection.CAMERA_BLOCKED and session.rule_state["camera_problem"] == "denied"
    await ws.send_json_to({"type": "camera", "state": "ok"})
    await ws.send_json_to({"type": "ping"})
    assert (await ws.receive_json_from(timeout=10))["type"] == "pong"  # the report before it was handled
    assert await connection_of(exam_session) == Connection.CONNECTED


async def test_presence_alerts_reach_the_learner_and_the_instructors(connect, exam_session, learner):
    staff = await database_sync_to_async(get_user_model().objects.create_superuser)("ines", password="x" * 12)
    
    await database_sync_to_async(token_for)(staff)
    feed, connected, _ = await connect("/ws/monitor/instructors/", token_headers(staff))
    assert connected and (await feed.receive_json_from(timeout=10))["type"] == "sessions"
    ws = await joined(connect, exam_session, learner)
    assert (await feed.receive_json_from(timeout=10))["session"]["connection"] == "connected"
    await ws.send_json_to({"type": "camera", "state": "missing"})
    assert (await feed.receive_json_from(timeout=10))["session"]["connection"] == "camera_blocked"
    later = datetime.now(timezone.utc) + timedelta(seconds=60)
    for change in await database_sync_to_async(presence_sweep)(now=later):
        await presence_announce(change)
    message = await ws.receive_json_from(timeout=10)
    assert message["type"] == "alert" and message["event"] == "opened"
    assert message["alert"]["kind"] == "camera_blocked"
    row = (await feed.receive_json_from(timeout=10))["session"]
    assert [a["kind"] for a in row["alerts"]] == ["camera_blocked"]
    await ws.send_json_to({"type": "camera", "state": "ok"})
    closed = await ws.receive_json_from(timeout=10)  # the learner's other sockets hear it too
    assert closed["type"] == "alert" and closed["event"] == "closed"
    row = (await feed.receive_json_from(timeout=10))["session"]
    assert row["connection"] == "connected" and row["alerts"] == []


async def test_any_message_of_the_page_is_heard(connect, exam_session, learner):
    import time

    from django.core.cache import cache

    ws = await joined(connect, exam_session, learner)
    before = time.time()
    await ws.send_to(text_data="not json")  # refused, but the page is there
    assert (await ws.receive_json_from(timeout=10))["error"] == "invalid_json"
    assert await cache.aget(presence.heard_key(exam_session.id)) >= before
    await ws.disconnect()


def test_a_batch_records_its_events_in_order_and_reads_the_rows_once(exam_session):
    other = services.session_create(learner=get_user_model().objects.create_user("olga"), course_id="c1",
                                    exam_id="e1")
    ended = services.session_end(session=services.session_create(
        learner=get_user_model().objects.create_user("omar"), course_id="c1", exam_id="e1"))
    record(exam_session, PresenceEvent.SOCKET_OPEN, 0)
    record(other, PresenceEvent.SOCKET_OPEN, 0)
    notes = [presence.PresenceNote(exam_session.id, PresenceEvent.SOCKET_CLOSED, at=at(10)),
             presence.PresenceNote(str(other.id), PresenceEvent.SOCKET_CLOSED, at=at(10)),
             presence.PresenceNote(ended.id, PresenceEvent.SOCKET_OPEN, at=at(10)),
             presence.PresenceNote(exam_session.id, PresenceEvent.SOCKET_OPEN, at=at(12))]  # the page reloaded
    with CaptureQueriesContext(connection) as queries:
        changes = presence.sessions_presence_record(notes=notes)
    # Each event's row as it was after that event; none for the ended session.
    assert [c and c.row["connection"] for c in changes] == ["disconnected", "disconnected", None, "connected"]
    assert changes[3].row["rejoins"] == 1 and changes[0].row["rejoins"] == 0
    # The rows locked and read once and their open alerts once, whatever the number of events.
    assert len([q for q in queries if q["sql"].startswith("SELECT")]) == 2
    assert (reload(exam_session).connection, reload(exam_session).rejoin_count) == (Connection.CONNECTED, 1)
    assert reload(other).connection == Connection.DISCONNECTED
    assert reload(other).connection_changed_at == at(10)
    with pytest.raises(ValueError):
        presence.sessions_presence_record(notes=[presence.PresenceNote(other.id, "socket_exploded")])


@pytest.fixture
def batches(monkeypatch):
    """The events of each batch that presence_record stores (the real batches, in one transaction each)."""
    stored = []
    real = presence.sessions_presence_record

    def spied(*, notes):
        stored.append([(str(n.session_id), n.event) for n in notes])
        return real(notes=notes)

    monkeypatch.setattr(presence, "sessions_presence_record", spied)
    return stored


async def test_sockets_that_close_together_are_stored_in_one_batch(exam_session, batches):
    sessions = [exam_session] + [await database_sync_to_async(services.session_create)(
        learner=await database_sync_to_async(get_user_model().objects.create_user)(f"l{i}"), course_id="c1",
        exam_id="e1") for i in range(4)]
    for session in sessions:
        await presence.presence_record(session_id=session.id, event=PresenceEvent.SOCKET_OPEN)
    assert len(batches) == 5  # one at a time: each open is stored at once
    batches.clear()
    changes = await asyncio.gather(*(presence.presence_record(session_id=s.id, event=PresenceEvent.SOCKET_CLOSED)
                                     for s in sessions))
    assert batches == [[(str(s.id), PresenceEvent.SOCKET_CLOSED) for s in sessions]]
    assert [c.row["id"] for c in changes] == [str(s.id) for s in sessions]
    assert {c.row["connection"] for c in changes} == {"disconnected"}
    assert {await connection_of(s) for s in sessions} == {Connection.DISCONNECTED}


async def test_an_open_does_not_wait_for_closes_gathering(exam_session, batches, monkeypatch):
    await presence.presence_record(session_id=exam_session.id, event=PresenceEvent.SOCKET_OPEN)
    monkeypatch.setattr(presence, "CLOSE_GATHER_SECONDS", 30)  # long enough that waiting for it would show
    batches.clear()
    closing = asyncio.ensure_future(presence.presence_record(session_id=exam_session.id,
                                                             event=PresenceEvent.SOCKET_CLOSED))
    await asyncio.sleep(0.05)
    assert batches == [] and not closing.done()  # the close waits for others
    # The page reloaded: its open is stored now, after the close, in the same batch.
    change = await asyncio.wait_for(presence.presence_record(session_id=exam_session.id,
                                                             event=PresenceEvent.SOCKET_OPEN), timeout=10)
    assert batches == [[(str(exam_session.id), PresenceEvent.SOCKET_CLOSED),
                        (str(exam_session.id), PresenceEvent.SOCKET_OPEN)]]
    assert (await closing).row["connection"] == "disconnected"
    assert change.row["connection"] == "connected" and change.row["rejoins"] == 1


async def test_a_batch_that_cannot_be_stored_fails_each_of_its_sockets(exam_session, monkeypatch):
    def unreachable(*, notes):
        raise OperationalError("the database is restarting")

    monkeypatch.setattr(presence, "sessions_presence_record", unreachable)
    outcomes = await asyncio.gather(*(presence.presence_record(session_id=exam_session.id, event=event)
                                      for event in (PresenceEvent.SOCKET_OPEN, PresenceEvent.SOCKET_CLOSED)),
                                    return_exceptions=True)
    assert [type(o) for o in outcomes] == [OperationalError, OperationalError]


async def test_closes_a_moment_apart_are_gathered_into_one_batch(exam_session, batches, monkeypatch):
    others = [await database_sync_to_async(services.session_create)(
        learner=await database_sync_to_async(get_user_model().objects.create_user)(f"g{i}"), course_id="c1",
        exam_id="e1") for i in range(2)]
    sessions = [exam_session, *others]
    for session in sessions:
        await presence.presence_record(session_id=session.id, event=PresenceEvent.SOCKET_OPEN)
    monkeypatch.setattr(presence, "CLOSE_GATHER_SECONDS", 1.0)
    batches.clear()
    closing = []
    for session in sessions:  # pages leaving 50 ms apart, as a class does at the end of its exam
        closing.append(asyncio.ensure_future(presence.presence_record(session_id=session.id,
                                                                      event=PresenceEvent.SOCKET_CLOSED)))
        await asyncio.sleep(0.05)
    await asyncio.gather(*closing)
    assert batches == [[(str(s.id), PresenceEvent.SOCKET_CLOSED) for s in sessions]]


async def test_a_close_is_dropped_when_the_page_is_back_before_it_is_stored(exam_session, batches, monkeypatch):
    from monitor import slots

    await presence.presence_record(session_id=exam_session.id, event=PresenceEvent.SOCKET_OPEN)
    monkeypatch.setattr(presence, "CLOSE_GATHER_SECONDS", 0.5)
    batches.clear()
    closing = asyncio.ensure_future(presence.presence_record(session_id=exam_session.id,
                                                             event=PresenceEvent.SOCKET_CLOSED))
    await asyncio.sleep(0.05)
    # The reloaded page's socket reached another server (its open stored there) while this close waited.
    assert await slots.slot_take(session_id=str(exam_session.id), socket_id="another-server-socket")
    try:
        assert await closing is None
        assert batches == [] and await connection_of(exam_session) == Connection.CONNECTED
    finally:
        await slots.slot_release(session_id=str(exam_session.id), socket_id="another-server-socket")


async def test_one_event_that_fails_does_not_fail_the_rest_of_its_batch(exam_session, monkeypatch):
    other = await database_sync_to_async(services.session_create)(
        learner=await database_sync_to_async(get_user_model().objects.create_user)("f1"), course_id="c1",
        exam_id="e1")
    real = presence.sessions_presence_record

    def failing_for_one(*, notes):
        if any(str(n.session_id) == str(exam_session.id) for n in notes):
            raise OperationalError("deadlock detected")
        return real(notes=notes)

    monkeypatch.setattr(presence, "sessions_presence_record", failing_for_one)
    outcomes = await asyncio.gather(*(presence.presence_record(session_id=s.id, event=PresenceEvent.CAMERA_OK)
                                      for s in (exam_session, other)), return_exceptions=True)
    assert isinstance(outcomes[0], OperationalError)
    assert outcomes[1].row["connection"] == "connected" and await connection_of(other) == Connection.CONNECTED
    with pytest.raises(ValueError):  # refused before it is queued: it cannot fail a batch
        await presence.presence_record(session_id=other.id, event="socket_exploded")


def test_a_batch_closes_each_sessions_own_alerts(hooked):
    other = services.session_create(learner=get_user_model().objects.create_user("olga"), course_id="c1",
                                    exam_id="e1")
    ExamSession.objects.filter(pk=other.pk).update(tenant=hooked.tenant)
    for session in (hooked, other):
        record(session, PresenceEvent.SOCKET_OPEN, 0)
        record(session, PresenceEvent.SOCKET_CLOSED, 10)
    presence_sweep(now=at(40))
    assert Alert.objects.filter(kind=AlertKind.DISCONNECTED, closed_at__isnull=True).count() == 2
    changes = presence.sessions_presence_record(notes=[
        presence.PresenceNote(other.id, PresenceEvent.SOCKET_OPEN, at=at(50)),
        presence.PresenceNote(hooked.id, PresenceEvent.SOCKET_OPEN, at=at(51))])
    assert [c.row["id"] for c in changes] == [str(other.id), str(hooked.id)]
    assert [[e["alert"]["kind"] for e in c.events] for c in changes] == [["disconnected"], ["disconnected"]]
    assert sorted(a.closed_at for a in Alert.objects.all()) == [at(50), at(51)]
    closed = deliveries("alert.closed")
    assert sorted(p["data"]["session"]["id"] for p in closed) == sorted([str(other.id), str(hooked.id)])
