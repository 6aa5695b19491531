"""The session socket with the real engine: analyses, stored rows, alerts, refusals and bad input."""
import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from engagement.models import EngagementLog
from monitor import services
from monitor.models import Alert, AlertKind, ExamSession, SessionStatus
from tests.monitor.conftest import FACE, NO_FACE, TURNED, TWO_FACES, token_headers
from tests.tokens import token_for

pytestmark = pytest.mark.django_db(transaction=True)
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


CLOCK = None  # the server clock of the running test (server_clock fixture)


@pytest.fixture(autouse=True)
def _clock(server_clock):
    global CLOCK
    CLOCK = server_clock
    yield
    CLOCK = None


def at(seconds):
    return (T0 + timedelta(seconds=seconds)).isoformat()


def path(session):
    return f"/ws/monitor/sessions/{session.id}/"


async def joined(connect, session, user):
    ws, connected, code = await connect(path(session), token_headers(user))
    assert connected, code
    hello = await ws.receive_json_from(timeout=10)
    assert hello["type"] == "connected" and hello["session_id"] == str(session.id)
    return ws


async def send_frame(ws, image, seconds):
    """Send a frame stamped T0 + seconds, which the server also receives at T0 + seconds."""
    CLOCK.now = at(seconds)
    await ws.send_json_to({"type": "frame", "image": image, "timestamp": at(seconds)})
    return await next_of(ws, "analysis", "error")


async def next_of(ws, *types):
    while True:
        message = await ws.receive_json_from(timeout=30)
        if message["type"] in types:
            return message


@database_sync_to_async
def rows(session):
    return list(EngagementLog.objects.filter(session_key=str(session.id)).order_by("frame_time"))


@database_sync_to_async
def alerts(session, kind=None):
    qs = Alert.objects.filter(session=session)
    return list(qs.filter(kind=kind) if kind else qs)


async def test_frames_are_analysed_and_stored(connect, exam_session, learner):
    ws = await joined(connect, exam_session, learner)
    answer = await send_frame(ws, FACE, 0)
    assert answer["type"] == "analysis" and answer["success"] is True
    assert answer["dominant_emotion"] == "happy" and answer["engagement_status"] == "highly_engaged"
    assert answer["alerts"] == [] and answer["smoothed_score"] == answer["engagement_score"]
    stored = await rows(exam_session)
    assert [r.pk for r in stored] == [answer["log_id"]] and stored[0].user_id == learner.pk
    assert answer["frame_id"] == answer["log_id"]  # the old name of log_id, kept for existing clients
    session = await database_sync_to_async(ExamSession.objects.get)(pk=exam_session.pk)
    assert session.status == SessionStatus.ACTIVE and session.frame_count == 1
    await ws.disconnect()


@pytest.mark.embedded_only  # analysis processes are the embedded server's; the scaled set-up has Celery workers
@pytest.mark.parametrize("count", [1, 0])
async def test_frames_analysed_in_the_servers_analysis_processes_or_threads_are_stored_and_answered(
        connect, exam_session, learner, settings, count):
    from engagement import processes

    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "ANALYSIS_PROCESSES": count}
    processes.processes_stop()
    try:
        ws = await joined(connect, exam_session, learner)
        answers = [await send_frame(ws, image, s) for image, s in ((FACE, 0), (TWO_FACES, 2), (TWO_FACES, 4),
                                                                   (NO_FACE, 6))]
        # With 1 they went to a process; with 0 (threads only) none was started.
        assert bool(processes.process_pids()) is bool(count)
        assert [a["face_count"] for a in answers] == [1, 2, 2, 0] and answers[0]["dominant_emotion"] == "happy"
        assert [r.pk for r in await rows(exam_session)] == [a["log_id"] for a in answers]
        [several] = await alerts(exam_session, AlertKind.MULTIPLE_FACES)
        assert several.opened_at.isoformat() == at(4) and several.closed_at.isoformat() == at(6)
        await ws.disconnect()
    finally:
        processes.processes_stop()


async def test_absence_opens_one_alert_and_closes_when_the_face_returns(connect, exam_session, learner, settings):
    assert settings.MONITOR["ABSENT_SECONDS"] == 6  # proctoring/settings_test.py: workers read it too
    ws = await joined(connect, exam_session, learner)
    assert (await send_frame(ws, FACE, 0))["success"]
    answers = [await send_frame(ws, NO_FACE, s) for s in (2, 4, 6, 8, 10)]
    assert [a["error"] for a in answers] == ["no_face"] * 5
    # No face since t=2: the alert opens at t=8 (6 s later) and stays the same one at t=10.
    assert [[x["kind"] for x in a["alerts"]] for a in answers] == [[], [], [], ["absent"], ["absent"]]
    back = await send_frame(ws, FACE, 12)
    assert back["success"] and back["alerts"] == []
    [absent] = await alerts(exam_session, AlertKind.ABSENT)
    assert absent.opened_at.isoformat() == at(8) and absent.closed_at.isoformat() == at(12)
    assert absent.frame_count == 2 and absent.severity == "warning"
    assert len(await rows(exam_session)) == 7
    await ws.disconnect()


async def test_a_turned_head_opens_looking_away_and_facing_the_screen_closes_it(connect, exam_session, learner,
                                                                                  settings):
    assert settings.MONITOR["LOOKING_AWAY_SECONDS"] == 6  # proctoring/settings_test.py: workers read it too
    ws = await joined(connect, exam_session, learner)
    answers = [await send_frame(ws, TURNED, s) for s in (0, 3, 6)]
    assert all(a["looking_away"] is True and a["head_pose"]["yaw"] > 35 for a in answers)
    assert [[x["kind"] for x in a["alerts"]] for a in answers] == [[], [], ["looking_away"]]
    event = await next_of(ws, "alert")
    assert event["event"] == "opened" and event["alert"]["kind"] == "looking_away"
    back = await send_frame(ws, FACE, 9)
    assert back["looking_away"] is False and back["alerts"] == []
    [alert] = await alerts(exam_session, AlertKind.LOOKING_AWAY)
    assert alert.opened_at.isoformat() == at(6) and alert.closed_at.isoformat() == at(9)
    stored = await rows(exam_session)
    assert [r.looking_away for r in stored] == [True, True, True, False] and stored[0].head_yaw > 35
    await ws.disconnect()
    summary = await database_sync_to_async(lambda: services.session_end(
        session=ExamSession.objects.get(pk=exam_session.pk)).summary)()
    assert summary["looking_away_frames"] == 3 and summary["alerts_by_kind"] == {"looking_away": 1}


async def test_two_faces_open_multiple_faces(connect, exam_session, learner):
    ws = await joined(connect, exam_session, learner)
    first = await send_frame(ws, TWO_FACES, 0)
    assert first["face_count"] == 2 and first["alerts"] == []  # one frame is not enough (K = 2)
    second = await send_frame(ws, TWO_FACES, 5)
    assert [a["kind"] for a in second["alerts"]] == ["multiple_faces"]
    event = await next_of(ws, "alert")
    assert event["event"] == "opened" and event["alert"]["severity"] == "critical"
    assert len(await alerts(exam_session, AlertKind.MULTIPLE_FACES)) == 1
    await ws.disconnect()


async def test_another_user_is_refused(connect, exam_session):
    other = await database_sync_to_async(get_user_model().objects.create_user)("mallory", password="x" * 12)
    await database_sync_to_async(token_for)(other)
    ws, connected, code = await connect(path(exam_session), token_headers(other))
    assert not connected and code == 4403


@pytest.mark.parametrize("headers", [
    [(b"origin", b"http://testserver")],  # no credentials
    [(b"origin", b"http://testserver"), (b"authorization", b"Token not-a-real-token")],
])
async def test_anonymous_is_refused(connect, exam_session, headers):
    ws, connected, code = await connect(path(exam_session), headers)
    assert not connected


async def test_foreign_origin_is_refused(connect, exam_session, learner):
    headers = [(b"host", b"testserver"), (b"origin", b"http://evil.example"),
               (b"authorization", f"Token {token_for(learner)}".encode())]
    ws, connected, code = await connect(path(exam_session), headers)
    assert not connected


async def test_ended_or_unknown_sessions_are_refused(connect, exam_session, learner):
    ws, connected, _ = await connect("/ws/monitor/sessions/00000000-0000-0000-0000-000000000000/",
                                     token_headers(learner))
    assert not connected
    ws, connected, _ = await connect("/ws/monitor/sessions/not-a-uuid/", token_headers(learner))
    assert not connected
    exam_session.status = SessionStatus.ENDED
    await database_sync_to_async(exam_session.save)()
    ws, connected, code = await connect(path(exam_session), token_headers(learner))
    assert not connected and code == 4403


@pytest.mark.parametrize("message, code", [
    ('{"type": "frame", "image": ', "invalid_json"),
    ('["frame"]', "unknown_type"),
    ('{"type": "video"}', "unknown_type"),
    ('{"type": "frame", "image": "data:text/plain;base64,aGVsbG8="}', "not_an_image"),
    ('{"type": "frame", "image": "%%%"}', "invalid_base64"),
    ('{"type": "frame"}', "no_image"),
    ('{"type": "frame", "image": "' + FACE + '", "timestamp": "noon"}', "invalid_timestamp"),
])
async def test_bad_messages_get_an_error_and_the_socket_stays_open(connect, exam_session, learner, message, code):
    ws = await joined(connect, exam_session, learner)
    await ws.send_to(text_data=message)
    error = await next_of(ws, "error", "analysis")
    assert error["type"] == "error" and error["error"] == code and error["message"]
    await ws.send_json_to({"type": "ping"})
    assert (await next_of(ws, "pong"))["type"] == "pong"
    assert await rows(exam_session) == []
    await ws.disconnect()


async def test_oversized_frame_is_refused(connect, exam_session, learner, settings):
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "MAX_REQUEST_BYTES": 10_000}
    ws = await joined(connect, exam_session, learner)
    error = await send_frame(ws, FACE, 0)
    assert error["type"] == "error" and error["error"] == "payload_too_large"
    assert await rows(exam_session) == []
    await ws.disconnect()


async def test_newer_frame_replaces_a_waiting_one(connect, exam_session, learner):
    ws = await joined(connect, exam_session, learner)
    # The first frame has no face, which takes the slower detection pass: the next two arrive meanwhile.
    for seconds, image in ((0, NO_FACE), (1, FACE), (2, FACE)):
        CLOCK.now = at(seconds)
        await ws.send_json_to({"type": "frame", "image": image, "timestamp": at(seconds)})
    messages = [await next_of(ws, "analysis", "dropped", "error") for _ in range(3)]
    messages.sort(key=lambda m: m["timestamp"])  # "dropped" is sent as soon as the third frame arrives
    assert [(m["type"], m["timestamp"]) for m in messages] == [
        ("analysis", at(0)), ("dropped", at(1)), ("analysis", at(2))]
    stored = await rows(exam_session)
    assert [r.pk for r in stored] == [messages[0]["frame_id"], messages[2]["frame_id"]]
    await ws.disconnect()


async def test_rate_limit_answers_excess_frames_with_an_error(connect, exam_session, learner, settings):
    settings.MONITOR = {**settings.MONITOR, "RATE_LIMIT_FRAMES": 2, "RATE_LIMIT_SECONDS": 60}
    ws = await joined(connect, exam_session, learner)
    assert (await send_frame(ws, FACE, 0))["type"] == "analysis"
    assert (await send_frame(ws, FACE, 1))["type"] == "analysis"
    refused = await send_frame(ws, FACE, 2)
    assert refused["type"] == "error" and refused["error"] == "rate_limited" and refused["timestamp"] == at(2)
    assert len(await rows(exam_session)) == 2
    await ws.disconnect()


async def test_disconnect_mid_analysis_still_stores_the_frame(connect, exam_session, learner):
    ws = await joined(connect, exam_session, learner)
    CLOCK.now = at(0)
    await ws.send_json_to({"type": "frame", "image": FACE, "timestamp": at(0)})
    await asyncio.sleep(0.005)  # the frame is in analysis, not answered
    await ws.disconnect()
    for _ in range(200):  # a Celery worker may still be storing it
        stored = await rows(exam_session)
        if stored:
            break
        await asyncio.sleep(0.05)
    [row] = stored
    assert row.engagement_status == "highly_engaged"


async def test_instructors_see_updates_and_learners_cannot_listen(connect, exam_session, learner):
    staff = await database_sync_to_async(get_user_model().objects.create_superuser)("ines", password="x" * 12)
    await database_sync_to_async(token_for)(staff)
    feed, connected, _ = await connect("/ws/monitor/instructors/", token_headers(staff))
    assert connected
    initial = await feed.receive_json_from(timeout=10)
    assert initial["type"] == "sessions" and [s["id"] for s in initial["sessions"]] == [str(exam_session.id)]
    ws = await joined(connect, exam_session, learner)
    await send_frame(ws, TWO_FACES, 0)
    await send_frame(ws, TWO_FACES, 5)
    updates = [await feed.receive_json_from(timeout=10)]
    while updates[-1]["session"]["frames"] < 2:
        updates.append(await feed.receive_json_from(timeout=10))
    # The learner's page connecting is news too, before any frame.
    assert updates[0]["session"]["connection"] == "connected" and updates[0]["session"]["frames"] == 0
    assert all(u["type"] == "session" and u["session"]["id"] == str(exam_session.id) for u in updates)
    assert [a["kind"] for a in updates[-1]["session"]["alerts"]] == ["multiple_faces"]
    _, connected, code = await connect("/ws/monitor/instructors/", token_headers(learner))
    assert not connected and code == 4403
    await ws.disconnect()
    await feed.disconnect()


async def test_instructors_only_see_their_courses(connect, exam_session, learner):
    from django.contrib.auth.models import Group, Permission

    from monitor.models import CourseAssignment
    from monitor.services import session_create

    @database_sync_to_async
    def make_instructor(name, course):
        user = get_user_model().objects.create_user(name, password="x" * 12, is_staff=True)
        # Transactional tests flush the database, and with it the group that migration 0002 made
        # (tests/monitor/test_migrations.py checks that one): rebuild the part this test needs.
        group, _ = Group.objects.get_or_create(name="Instructors")
        group.permissions.add(Permission.objects.get(codename="monitor_sessions"))
        user.groups.add(group)
        CourseAssignment.objects.create(instructor=user, course_id=course)
        token_for(user)
        return user

    mine, other = await make_instructor("ines", "c1"), await make_instructor("otto", "c2")
    await database_sync_to_async(session_create)(learner=learner, course_id="c2", exam_id="e9")
    feed, connected, _ = await connect("/ws/monitor/instructors/", token_headers(mine))
    assert connected
    assert [s["course_id"] for s in (await feed.receive_json_from(timeout=10))["sessions"]] == ["c1"]
    foreign, connected, _ = await connect("/ws/monitor/instructors/", token_headers(other))
    assert [s["course_id"] for s in (await foreign.receive_json_from(timeout=10))["sessions"]] == ["c2"]
    ws = await joined(connect, exam_session, learner)
    await send_frame(ws, FACE, 0)
    assert (await feed.receive_json_from(timeout=10))["session"]["id"] == str(exam_session.id)
    assert await foreign.receive_nothing(timeout=0.5)
    for socket in (ws, feed, foreign):
        await socket.disconnect()


async def test_an_idle_socket_keeps_working(connect, exam_session, learner):
    """A learner's frames come every few seconds: the socket must outlive quiet spells (a channel-layer timeout)."""
    ws = await joined(connect, exam_session, learner)
    await asyncio.sleep(7)
    answer = await send_frame(ws, FACE, 0)
    assert answer["type"] == "analysis" and answer["success"]
    await ws.disconnect()


@pytest.mark.embedded_only  # the wait is changed in this process's settings; workers read their own
async def test_frames_that_waited_too_long_are_dropped_not_analysed(connect, exam_session, learner, settings):
    settings.MONITOR = {**settings.MONITOR, "MAX_FRAME_WAIT": 0}  # every frame has waited "too long"
    ws = await joined(connect, exam_session, learner)
    CLOCK.now = at(0)
    await ws.send_json_to({"type": "frame", "image": FACE, "timestamp": at(0)})
    answer = await next_of(ws, "analysis", "dropped", "error")
    assert answer["type"] == "dropped" and answer["timestamp"] == at(0) and "busy" in answer["message"]
    assert await rows(exam_session) == []
    await ws.disconnect()


async def test_the_rules_run_on_the_server_clock_not_the_client_timestamp(connect, exam_session, learner, settings):
    """Six no-face frames all stamped with the same time, received 2 s apart: absence opens on the server's time."""
    ws = await joined(connect, exam_session, learner)
    answers = []
    for seconds in (0, 2, 4, 6, 8, 10):
        CLOCK.now = at(seconds)
        await ws.send_json_to({"type": "frame", "image": NO_FACE, "timestamp": at(0)})
        answers.append(await next_of(ws, "analysis", "error"))
    assert [[x["kind"] for x in a["alerts"]] for a in answers][-1] == ["absent"]
    stored = await rows(exam_session)
    assert [r.frame_time.isoformat() for r in stored] == [at(s) for s in (0, 2, 4, 6, 8, 10)]
    assert {r.client_time.isoformat() for r in stored} == {at(0)}  # the client's time, kept as reported
    await ws.disconnect()


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-11-26T08:50:00Z"])
async def test_timestamps_far_from_the_server_clock_are_refused_and_nothing_is_stored(connect, exam_session,
                                                                                      learner, stamp):
    ws = await joined(connect, exam_session, learner)
    CLOCK.now = at(0)  # 09:00; the last stamp is 10 minutes off, past the 300 s default
    await ws.send_json_to({"type": "frame", "image": FACE, "timestamp": stamp})
    answer = await next_of(ws, "analysis", "error")
    assert answer["type"] == "error" and answer["error"] == "timestamp_skew" and "clock" in answer["message"]
    assert await rows(exam_session) == []
    await ws.disconnect()


async def test_a_huge_timestamp_is_not_echoed_back(connect, exam_session, learner):
    ws = await joined(connect, exam_session, learner)
    await ws.send_json_to({"type": "frame", "image": FACE, "timestamp": "x" * 100_000})
    answer = await next_of(ws, "analysis", "error")
    assert answer["error"] == "invalid_timestamp" and len(answer["timestamp"]) == 64
    await ws.disconnect()


async def test_sockets_per_session_are_capped_and_a_closed_one_frees_its_place(connect, exam_session, learner,
                                                                               settings):
    assert settings.MONITOR["MAX_SOCKETS_PER_SESSION"] == 2
    first = await joined(connect, exam_session, learner)
    second = await joined(connect, exam_session, learner)
    _, connected, code = await connect(path(exam_session), token_headers(learner))
    assert not connected and code == 4429
    await second.disconnect()
    third = await joined(connect, exam_session, learner)
    await third.disconnect()
    await first.disconnect()


async def test_the_rate_limit_is_per_session_not_per_socket(connect, exam_session, learner, settings):
    settings.MONITOR = {**settings.MONITOR, "RATE_LIMIT_FRAMES": 2, "RATE_LIMIT_SECONDS": 60}
    one = await joined(connect, exam_session, learner)
    two = await joined(connect, exam_session, learner)
    assert (await send_frame(one, FACE, 0))["type"] == "analysis"
    assert (await send_frame(two, FACE, 1))["type"] == "analysis"
    refused = await send_frame(one, FACE, 2)  # a third frame within the minute, whichever socket sends it
    assert refused["type"] == "error" and refused["error"] == "rate_limited"
    assert len(await rows(exam_session)) == 2
    await one.disconnect()
    await two.disconnect()


async def test_an_instructor_whose_rights_are_removed_stops_receiving(connect, exam_session, learner, settings):
    from django.contrib.auth.models import Group, Permission

    from monitor.models import CourseAssignment

    settings.MONITOR = {**settings.MONITOR, "RIGHTS_RECHECK_SECONDS": 0}  # re-read on every message

    @database_sync_to_async
    def make_instructor():
        user = get_user_model().objects.create_user("ines", password="x" * 12, is_staff=True)
        group, _ = Group.objects.get_or_create(name="Instructors")
        group.permissions.add(Permission.objects.get(codename="monitor_sessions"))
        user.groups.add(group)
        CourseAssignment.objects.create(instructor=user, course_id="c1")
        token_for(user)
        return user

    ines = await make_instructor()
    feed, connected, _ = await connect("/ws/monitor/instructors/", token_headers(ines))
    assert connected and (await feed.receive_json_from(timeout=10))["type"] == "sessions"
    ws = await joined(connect, exam_session, learner)
    await send_frame(ws, FACE, 0)
    assert (await feed.receive_json_from(timeout=10))["type"] == "session"
    await database_sync_to_async(CourseAssignment.objects.filter(instructor=ines).delete)()
    await send_frame(ws, FACE, 5)
    assert await feed.receive_nothing(timeout=0.5)  # no longer their course
    await database_sync_to_async(get_user_model().objects.filter(pk=ines.pk).update)(is_staff=False)
    await send_frame(ws, FACE, 10)
    closed = await feed.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4403}
    await ws.disconnect()


@pytest.mark.embedded_only  # the cache of this process; the scaled set-up counts in Redis
async def test_sockets_still_open_when_the_cache_evicts_the_counts(connect, learner, settings):
    """Found with 300 learners: LocMemCache culled the per-session counts between add and incr (HTTP 500)."""
    from monitor.services import session_create

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "OPTIONS": {"MAX_ENTRIES": 2, "CULL_FREQUENCY": 1}}}
    sessions = [await database_sync_to_async(session_create)(learner=learner, course_id="c", exam_id=f"e{i}")
                for i in range(40)]
    # All at once, as a class starting an exam: other sessions' counts are added between one's add and incr.
    opened = await asyncio.gather(*(connect(path(session), token_headers(learner)) for session in sessions))
    assert [(connected, code) for _, connected, code in opened] == [(True, None)] * len(sessions)
    for ws, _, _ in opened:
        await ws.disconnect()


async def test_a_failed_handshake_gives_its_socket_place_back(connect, exam_session, learner, monkeypatch):
    """Found when Redis restarted: each failed retry kept a place, and the learner was soon refused (4429)."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    real = layer.group_add
    failures = []

    async def flaky(group, channel):
        if len(failures) < 3:
            failures.append(group)
            raise ConnectionError("channel layer down")
        return await real(group, channel)

    monkeypatch.setattr(layer, "group_add", flaky)
    from channels.testing import WebsocketCommunicator

    from proctoring.asgi import application

    for _ in range(3):
        attempt = WebsocketCommunicator(application, path(exam_session), headers=token_headers(learner))
        # Refused with "try again later" (HTTP 503 from proctoring.serve), not a server error (issue 28).
        assert await attempt.connect(timeout=5) == (False, 1013)
    first = await joined(connect, exam_session, learner)  # the failures used up none of the two places
    second = await joined(connect, exam_session, learner)
    await first.disconnect()
    await second.disconnect()


async def test_a_frame_that_races_the_end_tells_the_learner_the_exam_ended_not_an_error(connect, exam_session,
                                                                                          learner):
    from channels.layers import get_channel_layer

    from monitor import broadcast

    ws = await joined(connect, exam_session, learner)
    assert (await send_frame(ws, FACE, 0))["success"]
    # The LMS ends the exam: stored, but its message to this socket has not arrived when the next frame is refused.
    exam_session.status = SessionStatus.ENDED
    await database_sync_to_async(exam_session.save)(update_fields=["status"])
    CLOCK.now = at(2)
    await ws.send_json_to({"type": "frame", "image": FACE, "timestamp": at(2)})
    assert (await ws.receive_json_from(timeout=30))["type"] == "ended"  # the end, not "has ended or is not yours"
    closed = await ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4000}  # the page ends the exam; it does not reconnect
    # The end's own message, arriving after the socket closed, is not sent on it (no second close, no crash).
    await get_channel_layer().group_send(broadcast.session_group(str(exam_session.id)),
                                         {"type": "session.ended", "summary": None})
    assert await ws.receive_nothing(timeout=0.5)
