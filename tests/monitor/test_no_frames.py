"""Pings alone do not keep an exam monitored: the no_frames alert, and status time that keeps counting."""
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.utils import timezone

from monitor import presence, selectors, services
from monitor.models import Alert, AlertKind, Connection, ExamSession, Severity
from monitor.presence import presence_sweep
from tests.monitor.conftest import FACE, token_headers

pytestmark = pytest.mark.django_db(transaction=True)


async def joined(connect, session, user):
    ws, connected, code = await connect(f"/ws/monitor/sessions/{session.id}/", token_headers(user))
    assert connected, code
    assert (await ws.receive_json_from(timeout=10))["type"] == "connected"
    return ws


def open_kinds(session):
    return list(Alert.objects.filter(session=session, closed_at__isnull=True).values_list("kind", flat=True))


async def test_one_frame_then_pings_opens_no_frames_and_a_frame_closes_it(connect, exam_session, learner):
    ws = await joined(connect, exam_session, learner)
    await ws.send_json_to({"type": "camera", "state": "ok"})
    await ws.send_json_to({"type": "frame", "image": FACE, "timestamp": timezone.now().isoformat()})
    assert (await ws.receive_json_from(timeout=60))["type"] == "analysis"
    for _ in range(3):  # the page answers pings, as a page kept open without its camera loop would
        await ws.send_json_to({"type": "ping"})
        assert (await ws.receive_json_from(timeout=10))["type"] == "pong"
    sweep = database_sync_to_async(presence_sweep)
    # MONITOR_NO_FRAMES_SECONDS (20) and three frame intervals (15 s) after the frame: not yet, then the alert.
    assert await sweep(now=timezone.now() + timedelta(seconds=15)) == []
    [change] = await sweep(now=timezone.now() + timedelta(seconds=25))
    [event] = change.events
    assert event["alert"]["kind"] == AlertKind.NO_FRAMES and event["alert"]["severity"] == Severity.WARNING
    assert "no camera picture" in event["alert"]["message"]
    session = await database_sync_to_async(ExamSession.objects.get)(pk=exam_session.pk)
    assert session.connection == Connection.CONNECTED  # the page is there: not disconnected, not monitored
    assert await sweep(now=timezone.now() + timedelta(seconds=40)) == []  # opened once
    await ws.send_json_to({"type": "frame", "image": FACE, "timestamp": timezone.now().isoformat()})
    analysis = await ws.receive_json_from(timeout=60)
    assert analysis["type"] == "analysis" and AlertKind.NO_FRAMES not in [a["kind"] for a in analysis["alerts"]]
    assert await database_sync_to_async(open_kinds)(exam_session) == []


async def test_a_frame_the_busy_server_refused_counts_as_one_that_came(exam_session):
    await database_sync_to_async(presence.session_presence_record)(
        session_id=exam_session.id, event=presence.PresenceEvent.SOCKET_OPEN)
    start = timezone.now()
    await presence.frame_refused_for_cause(session_id=exam_session.id, at=start + timedelta(seconds=15))
    sweep = database_sync_to_async(presence_sweep)
    assert await sweep(now=start + timedelta(seconds=30)) == []
    assert len(await sweep(now=start + timedelta(seconds=36))) == 1


def test_the_report_keeps_counting_after_the_last_frame(exam_session, settings):
    """A session kept open with pings for 170 s after one frame: its statuses add up to 170 s, not one interval."""
    from engagement import services as engagement_services

    t0 = timezone.now() - timedelta(seconds=170)
    result = engagement_services.frame_analyze(frame=engagement_services.Frame(image=FACE, timestamp=t0))
    services.session_frame_record(session_id=exam_session.id, user=exam_session.learner, result=result,
                                  received_at=t0)
    # The page pinged until now (the socket records when it last heard from it).
    async_to_sync(presence.session_heard)(session_id=exam_session.id, at=timezone.now())
    ended = services.session_end(session=ExamSession.objects.get(pk=exam_session.pk))
    seconds = ended.summary["seconds_by_status"]
    assert ended.summary["duration_seconds"] == pytest.approx(170, abs=2)
    assert seconds["no_frames"] == pytest.approx(155, abs=2)  # after three frame intervals of the last status
    report = selectors.session_report(session=ended)
    assert report["status_shares"]["no_frames"] > 0.9
