"""Recovery in a real Chromium: a learner who loses the browser gets back in; outages are shown on both pages."""
import re

import pytest
import requests
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from monitor import services
from tests.browser import chromium_context, page_screenshot
from tests.monitor.test_exam_page import (asgi_server, face_then_empty, fast_presence, learner_page, lms_token,  # noqa: F401
                                         live_view, start)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def watched_session():
    """A session of the learner lea (frames every 0.5 s), watched by the superuser ines."""
    learner = get_user_model().objects.create_user("lea", password="lea-password")
    get_user_model().objects.create_superuser("ines", password="ines-password")
    return services.session_create(learner=learner, course_id="c1", exam_id="e1", frame_interval=0.5)


def test_a_learner_who_loses_the_browser_gets_back_with_a_fresh_link(asgi_server, fast_presence, tmp_path, request):
    learner = get_user_model().objects.create_user("lea", password="lea-password")
    get_user_model().objects.create_superuser("ines", password="ines-password")
    token = lms_token()
    created = requests.post(f"{asgi_server.url}/api/v1/sessions/", timeout=30,
                            json={"learner": "lea", "course_id": "c1", "exam_id": "e1", "frame_interval": 0.5},
                            headers={"Authorization": f"Token {token}"}).json()
    video = face_then_empty(tmp_path, 30, 1)
    with chromium_context(video=video) as context:
        live = live_view(context, asgi_server.url)
        row = live.locator(f'tr[data-session="{created["id"]}"]')
        lost = context.browser.new_context()  # the learner's browser, soon lost
        page = lost.new_page()
        page.goto(created["exam_url"])
        start(page)
        expect(page.locator("#connection")).to_have_text("connected")
        expect(page.locator("#rejoin-help")).to_contain_text("open the exam again from your course page")
        page_screenshot(page=page, name=f"{request.node.name}-exam")
        lost.close()  # the browser crashes: its login is gone with it
        expect(row.locator("td.presence-cell")).to_contain_text("Disconnected")

        again = context.browser.new_context()  # a new browser
        page = again.new_page()
        page.goto(created["exam_url"])  # the old link: used
        expect(page.locator("#rejoin-help")).to_contain_text("open the exam again from your course page")
        page_screenshot(page=page, name=f"{request.node.name}-used-link")
        # Reopened from the course: the LMS asks for a fresh link to the same session.
        fresh = requests.post(f"{asgi_server.url}/api/v1/sessions/{created['id']}/join-link/", timeout=30,
                              headers={"Authorization": f"Token {token}"})
        assert fresh.status_code == 201, fresh.content
        page.goto(fresh.json()["exam_url"])
        assert page.url.endswith(f"/monitor/sessions/{created['id']}/")
        start(page)
        expect(page.locator("#connection")).to_have_text("connected")
        expect(page.locator("#status")).to_have_text("Camera OK: face in view")
        # The instructor sees the learner back, and that this is a rejoin.
        expect(row.locator("td.presence-cell")).to_contain_text("Connected")
        expect(row.locator("td.presence-cell .rejoined")).to_contain_text(re.compile(r"Rejoined 1\u00d7"))
        page_screenshot(page=live, name=f"{request.node.name}-live")
        again.close()


def test_both_pages_say_when_the_server_is_lost_and_when_it_is_back(asgi_server, tmp_path, request):
    session = watched_session()
    with chromium_context(video=face_then_empty(tmp_path, 30, 1)) as context:
        live = live_view(context, asgi_server.url)
        row = live.locator(f'tr[data-session="{session.id}"]')
        page = learner_page(context, asgi_server.url, session)
        expect(page.locator("#status")).to_have_text("Camera OK: face in view")
        expect(row.locator("td.presence-cell")).to_contain_text("Connected")
        expect(page.locator("#outage")).to_be_hidden()
        expect(live.locator("#outage")).to_be_hidden()

        server_restart_seen(server=asgi_server, page=page, live=live, row=row, shot=request.node.name)


def server_restart_seen(*, server, page, live, row, shot):
    """Stop the server, then serve again: the learner's `page` and the instructor's `live` view say when it was lost
    and when it is back, and claim nothing meanwhile (screenshots named `shot`-learner-lost, ...)."""
    server.stop()
    # The learner is not told all is well while nothing is analysed.
    # When, in one format on both pages: 24-hour clock time with the viewer's time zone named.
    expect(page.locator("#outage")).to_contain_text(re.compile(r"The connection to the server was lost at "
                                                               r"\d\d:\d\d:\d\d (UTC|GMT|[A-Z]{3,4})"))
    expect(page.locator("#status")).to_have_text("Waiting for the server...")
    expect(page.locator("#status")).not_to_have_class(re.compile(r"status-ok"))
    # The instructor is not shown rows as connected while the live view hears nothing.
    expect(live.locator("#outage")).to_contain_text(re.compile(r"Live updates stopped at \d\d:\d\d:\d\d \w"))
    expect(row.locator("td.presence-cell")).to_have_text("Unknown: this page is offline")
    expect(row.locator("td.status-cell")).to_have_text("-")
    expect(row).to_have_class(re.compile(r"\bunknown\b"))
    page_screenshot(page=page, name=f"{shot}-learner-lost")
    page_screenshot(page=live, name=f"{shot}-instructor-lost")

    server.restart()
    expect(page.locator("#outage")).to_contain_text("The connection is back since")
    expect(page.locator("#status")).to_have_text("Camera OK: face in view")
    expect(live.locator("#outage")).to_contain_text("Live updates are back since")
    expect(row.locator("td.presence-cell")).to_contain_text("Connected")
    expect(row).not_to_have_class(re.compile(r"\bunknown\b"))
    page_screenshot(page=page, name=f"{shot}-learner-back")
    page_screenshot(page=live, name=f"{shot}-instructor-back")


def test_camera_ok_is_never_shown_while_two_faces_are_in_view(asgi_server, tmp_path, request):
    from tests import images
    from tests.browser import y4m_write

    learner = get_user_model().objects.create_user("lea", password="lea-password")
    session = services.session_create(learner=learner, course_id="c1", exam_id="e1", frame_interval=0.5)
    video = y4m_write(path=tmp_path / "two.y4m", frames=[images.two_faces()] * 10, fps=5)
    with chromium_context(video=video) as context:
        page = context.new_page()
        page.goto(f"{asgi_server.url}/monitor/join/{services.session_join_token(session=session)}/")
        start(page)
        status = page.locator("#status")
        expect(status).to_have_text("2 faces in view: only you should be in view of the camera.")
        expect(status).to_have_class(re.compile(r"status-warning"))
        expect(page.locator("#alerts li[data-kind=multiple_faces]")).to_be_visible()
        expect(status).not_to_have_class(re.compile(r"status-ok"))
        page_screenshot(page=page, name=request.node.name)


def test_the_live_view_is_a_triage_list(asgi_server, tmp_path, request):
    from datetime import timedelta

    from django.utils import timezone

    from monitor.models import Alert, AlertKind, Severity
    from tests import images
    from tests.browser import y4m_write

    User = get_user_model()
    User.objects.create_superuser("ines", password="ines-password")
    quiet, older, newer, crowded = (
        services.session_create(learner=User.objects.create_user(name, password="x" * 12), course_id="c1",
                                exam_id="e1", frame_interval=0.5)
        for name in ("quiet", "older", "newer", "crowded"))
    now = timezone.now()
    for session, kind, minutes in ((older, AlertKind.LOOKING_AWAY, 5), (newer, AlertKind.LOW_ENGAGEMENT, 2)):
        Alert.objects.create(session=session, kind=kind, severity=Severity.WARNING, message="...",
                             opened_at=now - timedelta(minutes=minutes))
    video = y4m_write(path=tmp_path / "two.y4m", frames=[images.two_faces()] * 10, fps=5)
    with chromium_context(video=video) as context:
        live = live_view(context, asgi_server.url)
        names = live.locator("#sessions tbody tr td:first-child")
        # Open alerts first, the longest waiting first; then the others in the order they were created.
        expect(names).to_have_text(["older", "newer", "quiet", "crowded"])
        expect(live.locator("#alert-counts")).to_have_text("Open alerts: Looking away: 1Low engagement: 1")
        expect(live).to_have_title("(2) Live sessions")
        expect(live.locator("#announce")).to_have_attribute("aria-live", "polite")
        expect(live.locator("#announce")).to_have_text("")  # alerts open at load are not news
        # Reports and reviews open beside the live view, in one window of their own.
        row = live.locator(f'tr[data-session="{older.id}"]')
        expect(row.locator("td.alerts-cell a")).to_have_attribute("target", "engagement-review")
        expect(row.locator("td").first.locator("a")).to_have_attribute("target", "engagement-review")

        page = context.new_page()
        page.goto(f"{asgi_server.url}/monitor/join/{services.session_join_token(session=crowded)}/")
        start(page)
        # A critical alert takes the top row, is counted, and is read out.
        expect(names).to_have_text(["crowded", "older", "newer", "quiet"])
        expect(live.locator("#announce")).to_contain_text(
            re.compile(r"New alert: crowded, Several faces \(critical\), at \d\d:\d\d:\d\d"))
        expect(live).to_have_title("(3) Live sessions")
        expect(live.locator("#alert-counts span[data-kind=multiple_faces]")).to_have_text("Several faces: 1")
        page_screenshot(page=live, name=f"{request.node.name}-desktop")
        with live.context.expect_page() as opened:
            live.locator(f'tr[data-session="{crowded.id}"] td.alerts-cell a').click()
        review = opened.value  # a window of its own: the live view stays where it was
        assert live.url.endswith("/monitor/live/") and "/admin/monitor/alert/" in review.url
        live.bring_to_front()

        live.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing cut off, nothing scrolled away
        assert live.evaluate("document.documentElement.scrollWidth") <= 390
        wrap = live.locator(".table-wrap")
        assert wrap.evaluate("e => e.scrollWidth") <= wrap.evaluate("e => e.clientWidth")
        page_screenshot(page=live, name=f"{request.node.name}-phone")


def test_a_reload_after_the_end_shows_the_end_not_an_error(asgi_server, tmp_path, request):
    get_user_model().objects.create_user("lea", password="lea-password")
    token = lms_token()
    session = requests.post(f"{asgi_server.url}/api/v1/sessions/", timeout=30,
                            json={"learner": "lea", "course_id": "c1", "exam_id": "e1", "frame_interval": 0.5},
                            headers={"Authorization": f"Token {token}"}).json()
    with chromium_context(video=face_then_empty(tmp_path, 2, 1)) as context:
        page = context.new_page()
        page.goto(session["exam_url"])
        start(page)
        expect(page.locator("#connection")).to_have_text("connected")
        ended = requests.post(f"{asgi_server.url}/api/v1/sessions/{session['id']}/end/",
                              headers={"Authorization": f"Token {token}"}, timeout=30)
        assert ended.status_code == 200
        expect(page.locator("#ended-banner")).to_be_visible()
        page.reload()
        expect(page.locator("#ended-banner")).to_contain_text("The exam has ended")
        expect(page.locator(".error")).to_have_count(0)
        page_screenshot(page=page, name=request.node.name)


def test_the_live_view_shows_a_row_as_unknown_while_its_frames_are_not_analysed(asgi_server, tmp_path, request):
    """Issue 28: while a learner's frames fail (the database away), the row's last status, emotion and score are
    not shown as current; the row is back to live values with the next analysed frame."""
    from engagement.models import EngagementLog
    from tests.monitor.conftest import table_move

    session = watched_session()
    with chromium_context(video=face_then_empty(tmp_path, 30, 1)) as context:
        live = live_view(context, asgi_server.url)
        row = live.locator(f'tr[data-session="{session.id}"]')
        status, score = row.locator("td.status-cell"), row.locator("td.score-cell")
        page = learner_page(context, asgi_server.url, session)
        expect(page.locator("#status")).to_have_text("Camera OK: face in view", timeout=20_000)
        expect(score).to_have_text(re.compile(r"^\d+\.\d$"))
        expect(row).not_to_have_class(re.compile(r"\bunknown\b"))
        table_move(EngagementLog, away=True)
        try:
            expect(status).to_contain_text(re.compile(r"Unknown: frames not analysed for \d+:\d\d"),
                                           timeout=20_000)
            expect(row).to_have_class(re.compile(r"\bunknown\b"))
            expect(score).to_have_text("-")
            expect(row.locator("td.presence-cell")).to_contain_text("Connected")  # the page is there
            page_screenshot(page=live, name=f"{request.node.name}-unknown")
            # A live view opened meanwhile shows the row as unknown too.
            again = live_view(context, asgi_server.url)
            expect(again.locator(f'tr[data-session="{session.id}"] td.status-cell')).to_contain_text(
                "Unknown: frames not analysed")
            again.close()
        finally:
            table_move(EngagementLog, away=False)
        # The page spaces its frames out while they fail (up to 30 s apart): the next one may be that far off.
        expect(status).not_to_contain_text("Unknown", timeout=60_000)
        expect(status).to_have_attribute("data-status", re.compile(r"^(?!unknown$)\w+$"))
        expect(score).to_have_text(re.compile(r"^\d+\.\d$"))
        expect(row).not_to_have_class(re.compile(r"\bunknown\b"))
        page_screenshot(page=live, name=f"{request.node.name}-back")


def test_the_live_view_keeps_a_sessions_newest_row_whatever_order_rows_arrive_in(asgi_server, tmp_path, request):
    """A server sends its frames' rows in batches, up to MONITOR_LIVE_BATCH_SECONDS late, while presence changes and
    ends go at once: a row that arrives after a newer one (by `as_of`) must not undo it."""
    import json
    from datetime import timedelta

    from django.utils import timezone

    from monitor import selectors
    from tests.browser import page_login

    session = watched_session()
    row = selectors.session_live_row(session=session)
    now = timezone.now() + timedelta(minutes=1)  # both later than the rows the page loads with
    newer = {**row, "learner_name": "lea (newer)", "as_of": (now + timedelta(seconds=1)).isoformat()}
    older = {**row, "learner_name": "lea (older)", "as_of": now.isoformat()}
    other = {**row, "id": "00000000-0000-0000-0000-000000000001", "learner_name": "marker",
             "as_of": now.isoformat()}
    feeds = []
    with chromium_context() as context:
        live = context.new_page()
        live.route_web_socket(re.compile(r"/ws/monitor/instructors/"),
                              lambda ws: (ws.connect_to_server(), feeds.append(ws)))
        page_login(page=live, base_url=asgi_server.url, username="ines", password="ines-password",
                   next_path="/monitor/live/")
        expect(live.locator("#connection")).to_have_text("live")
        names = live.locator("#sessions tbody tr td:first-child")
        expect(names).to_have_text(["lea"])
        for message in (newer, older, other):  # the older row last, as a batch sent late would bring it
            feeds[-1].send(json.dumps({"type": "session", "session": message}))
        expect(names).to_contain_text(["marker"])  # every message was read
        expect(live.locator(f'tr[data-session="{session.id}"] td:first-child')).to_have_text("lea (newer)")
        # An end is final: a row read later on a server whose clock runs ahead does not bring the session back.
        ended = {**newer, "status": "ended", "learner_name": "lea (ended)",
                 "as_of": (now + timedelta(seconds=2)).isoformat()}
        skewed = {**newer, "learner_name": "lea (skewed)", "as_of": (now + timedelta(seconds=3)).isoformat()}
        for message in (ended, skewed, {**other, "learner_name": "marker 2"}):
            feeds[-1].send(json.dumps({"type": "session", "session": message}))
        expect(names).to_contain_text(["marker 2"])
        expect(live.locator(f'tr[data-session="{session.id}"] td:first-child')).to_have_text("lea (ended)")
