"""The exam page and the instructors' live view in a real Chromium, over real WebSockets."""
import re
import socket
import threading
import time

import numpy as np
import pytest
import requests
import uvicorn
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from monitor import services
from monitor.models import Alert, AlertKind
from tests import images
from tests.browser import chromium_context, page_login, page_screenshot, y4m_write
from tests.monitor.conftest import table_move
from tests.tokens import token_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
FPS = 5


class AsgiServer:
    """The project's ASGI application (HTTP + WebSockets) served by uvicorn in a thread of this process."""

    def __init__(self):
        from proctoring.asgi import application

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._serve(application, port)

    def _serve(self, application, port):
        self.server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning",
                                                    ws="websockets-sansio", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)

    def restart(self):
        """Stop, then serve again on the same port: a server restart, as the pages see it."""
        from proctoring.asgi import application

        self.stop()
        self._serve(application, int(self.url.rsplit(":", 1)[1]))

    def stop(self):
        """Stop serving and close every connection."""
        self.server.should_exit = True
        self.thread.join(timeout=15)
        # A server's event loop dies with it, and a Redis channel layer keeps locks and connections bound to that
        # loop (a consumer cut off mid-receive leaves its lock held): the next server gets a layer of its own, as
        # a new server process would.
        from channels.layers import channel_layers

        channel_layers.backends.clear()


@pytest.fixture
def asgi_server():
    """A running server; its URL is `.url`."""
    server = AsgiServer()
    yield server
    server.stop()


@pytest.fixture
def fast_rules(settings):
    """Short thresholds so that a few seconds of video open an alert."""
    # The absence threshold comes from proctoring/settings_test.py (6 s), which Celery workers read too;
    # the rate limit is checked by the socket, in this process.
    settings.MONITOR = {**settings.MONITOR, "RATE_LIMIT_FRAMES": 100}


def face_then_empty(tmp_path, face_seconds=4, empty_seconds=14):
    """A webcam video: the learner's face, then an empty room (it loops)."""
    face = images.webcam_face()
    room = np.asarray(images.no_face_images()["coffee"])
    room = np.ascontiguousarray(np.pad(room, ((40, 40), (20, 20), (0, 0)), mode="edge")[:480, :640])
    frames = [face] * (face_seconds * FPS) + [room] * (empty_seconds * FPS)
    return y4m_write(path=tmp_path / "webcam.y4m", frames=frames, fps=FPS)


def test_exam_page_shows_status_and_absence_reaches_the_instructor(asgi_server, fast_rules, tmp_path, request):
    User = get_user_model()
    learner = User.objects.create_user("lea", password="lea-password")
    User.objects.create_superuser("ines", password="ines-password")
    session = services.session_create(learner=learner, course_id="c1", exam_id="midterm", frame_interval=0.5)

    with chromium_context(video=face_then_empty(tmp_path)) as context:
        page = context.new_page()
        link = f"{asgi_server.url}/monitor/join/{services.session_join_token(session=session)}/"
        page.goto(link)  # the LMS's one-time link logs the learner in
        start(page)
        expect(page.locator("#connection")).to_have_text("connected")
        # By default the learner sees whether the camera sees them, not their emotions or scores.
        expect(page.locator("#status")).to_have_text("Camera OK: face in view")
        expect(page.locator("#score")).to_have_count(0)
        expect(page.locator("#dominant")).to_have_count(0)
        page_screenshot(page=page, name=f"{request.node.name}-learner-engaged")

        expect(page.locator("#alerts li[data-kind=absent]")).to_be_visible(timeout=30_000)
        expect(page.locator("#status")).to_have_text("We cannot see you: please return to the camera.")
        page_screenshot(page=page, name=f"{request.node.name}-learner-absent")

        instructor = context.browser.new_context()
        live = instructor.new_page()
        page_login(page=live, base_url=asgi_server.url, username="ines", password="ines-password",
                   next_path="/monitor/live/")
        row = live.locator(f'tr[data-session="{session.id}"]')
        expect(row.locator("span[data-kind=absent]")).to_be_visible()
        expect(live.locator("#connection")).to_have_text("live")
        # Absence reads as absence: highlighted, a human label, no carried-over score, and how long it lasts.
        expect(row).to_have_class(re.compile(r"\bhas-alerts\b"))
        expect(row.locator("td.status-cell")).to_have_text("No face in view")
        expect(row.locator("td.score-cell")).to_have_text("-")
        expect(row.locator("td.presence-cell")).to_contain_text("Connected")
        open_for = row.locator("span[data-kind=absent] .open-for")
        first = open_for.inner_text()
        expect(open_for).not_to_have_text(first)  # it ticks
        expect(row.locator("td").first.locator("a")).to_have_attribute(
            "href", f"/admin/monitor/examsession/{session.id}/change/")
        # A session the LMS creates while the page is open appears without waiting for its first frame.
        later = requests.post(f"{asgi_server.url}/api/v1/sessions/", timeout=30,
                              json={"learner": "lea", "course_id": "c1", "exam_id": "final"},
                              headers={"Authorization": f"Token {lms_token()}"})
        assert later.status_code == 201, later.content
        expect(live.locator(f'tr[data-session="{later.json()["id"]}"]')).to_contain_text("Not started")
        live.set_viewport_size({"width": 390, "height": 800})  # a phone: the table fits, narrower columns go
        assert live.evaluate("document.documentElement.scrollWidth") <= 390
        wrap = live.locator(".table-wrap")  # and nothing hides in a scrolled table
        assert wrap.evaluate("e => e.scrollWidth") <= wrap.evaluate("e => e.clientWidth")
        page_screenshot(page=live, name=f"{request.node.name}-instructor-phone")
        # The row keeps changing as the learner's frames arrive over the instructors' socket, and its unchanged
        # cells stay the same elements: a click on the report's link is not lost to an update.
        report_link = row.locator("td").first.locator("a").element_handle()
        frames = int(row.locator("td.frames-cell").inner_text())
        expect(row.locator("td.frames-cell")).not_to_have_text(str(frames))
        assert report_link.evaluate("a => a.isConnected")
        page_screenshot(page=live, name=f"{request.node.name}-instructor")
        instructor.close()

    assert Alert.objects.filter(session=session, kind=AlertKind.ABSENT).exists()


def lms_token():
    """The LMS account's API token."""
    lms = get_user_model().objects.create_user("lms", password="x" * 12)
    lms.user_permissions.add(Permission.objects.get(codename="add_examsession"))
    return token_for(lms)


def lms_tenant():
    """The tenant of the LMS account lms_token made: its sessions are the ones it may end."""
    return services.tenant_of_account(account=get_user_model().objects.get(username="lms"))


def start(page):
    """Read the monitoring notice and start, as a learner does."""
    notice = page.locator("#notice")
    expect(notice).to_contain_text("No picture is stored")
    expect(page.locator("#exam")).to_be_hidden()  # nothing runs before the learner agrees
    page.locator("#start").click()
    expect(notice).to_be_hidden()


def test_the_first_frame_goes_at_once_and_the_end_releases_the_camera(asgi_server, settings, tmp_path, request):
    settings.MONITOR = {**settings.MONITOR, "SHOW_LEARNER_ANALYSIS": True}
    settings.RETENTION_DAYS = 90
    learner = get_user_model().objects.create_user("lea", password="lea-password")
    token = lms_token()
    # 60 s between frames: an analysis within the 15 s below can only come from the frame sent at start.
    session = services.session_create(learner=learner, course_id="c1", exam_id="e1", frame_interval=60,
                                      tenant=lms_tenant())
    with chromium_context(video=face_then_empty(tmp_path, 30, 1)) as context:
        page = context.new_page()
        page.goto(f"{asgi_server.url}/monitor/join/{services.session_join_token(session=session)}/")
        expect(page.locator("#notice")).to_contain_text("for 90 days")
        page_screenshot(page=page, name=f"{request.node.name}-notice")
        start(page)
        expect(page.locator("#status")).to_have_class("status status-highly_engaged", timeout=15_000)
        expect(page.locator("#dominant")).to_have_text("happy")  # shown: MONITOR_SHOW_LEARNER_ANALYSIS is on
        ended = requests.post(f"{asgi_server.url}/api/v1/sessions/{session.id}/end/",
                              headers={"Authorization": f"Token {token}"}, timeout=30)
        assert ended.status_code == 200
        expect(page.locator("#ended-banner")).to_be_visible()
        expect(page.locator("#connection")).to_have_text("the exam has ended")
        assert page.evaluate("document.getElementById('video').srcObject === null")  # the camera is released
        page_screenshot(page=page, name=f"{request.node.name}-ended")


@pytest.fixture
def fast_presence(settings):
    """Presence checked every half second, with alerts after 2 s (the server runs in this process)."""
    settings.MONITOR = {**settings.MONITOR, "PRESENCE_SWEEP_SECONDS": 0.5, "CAMERA_BLOCKED_SECONDS": 2,
                        "DISCONNECTED_SECONDS": 2}


def learner_page(context, base_url, session):
    """The learner's exam page, opened by the LMS's one-time link and started."""
    page = context.new_page()
    page.goto(f"{base_url}/monitor/join/{services.session_join_token(session=session)}/")
    start(page)
    return page


def live_view(context, base_url):
    """The instructors' live view, logged in as the superuser ines (a separate browser context)."""
    instructor = context.browser.new_context()
    live = instructor.new_page()
    page_login(page=live, base_url=base_url, username="ines", password="ines-password", next_path="/monitor/live/")
    expect(live.locator("#connection")).to_have_text("live")
    return live


@pytest.mark.parametrize("camera, advice, reason", [
    ("denied", "denied", "camera access was denied"),  # a camera, permission refused
    ("none", "No camera was found", "no camera was found"),  # no camera at all (no y4m, no device)
])
def test_a_blocked_camera_reaches_the_instructor_as_such(asgi_server, fast_presence, tmp_path, request, camera,
                                                         advice, reason):
    learner = get_user_model().objects.create_user("lea", password="lea-password")
    get_user_model().objects.create_superuser("ines", password="ines-password")
    session = services.session_create(learner=learner, course_id="c1", exam_id="e1")
    video = face_then_empty(tmp_path, 1, 1) if camera == "denied" else None
    with chromium_context(video=video, allow_camera=camera != "denied") as context:
        live = live_view(context, asgi_server.url)
        row = live.locator(f'tr[data-session="{session.id}"]')
        expect(row.locator("td.presence-cell")).to_have_text("Not connected yet")
        page = learner_page(context, asgi_server.url, session)
        expect(page.locator("#camera-message")).to_contain_text(advice)
        expect(page.locator("#connection")).to_have_text("connected")
        # The page tells the server; after the delay the learner and the instructor both see the alert.
        expect(row.locator("td.presence-cell")).to_contain_text("Camera blocked")
        expect(page.locator("#alerts li[data-kind=camera_blocked]")).to_contain_text(reason)
        expect(row.locator("span[data-kind=camera_blocked]")).to_be_visible()
        expect(row).to_have_class(re.compile(r"\bhas-critical\b"))
        expect(row.locator("td.status-cell")).to_have_text("-")
        page_screenshot(page=page, name=f"{request.node.name}-learner")
        page_screenshot(page=live, name=f"{request.node.name}-instructor")
    assert Alert.objects.get(session=session).kind == AlertKind.CAMERA_BLOCKED


def test_a_learner_who_leaves_shows_as_disconnected_then_ended(asgi_server, fast_presence, tmp_path, request):
    learner = get_user_model().objects.create_user("lea", password="lea-password")
    get_user_model().objects.create_superuser("ines", password="ines-password")
    token = lms_token()
    session = services.session_create(learner=learner, course_id="c1", exam_id="e1", frame_interval=0.5,
                                      tenant=lms_tenant())
    with chromium_context(video=face_then_empty(tmp_path, 30, 1)) as context:
        live = live_view(context, asgi_server.url)
        row = live.locator(f'tr[data-session="{session.id}"]')
        page = learner_page(context, asgi_server.url, session)
        expect(row.locator("td.status-cell")).to_have_text("Highly engaged")
        expect(row.locator("td.presence-cell")).to_contain_text("Connected")
        expect(row.locator("td.last-frame-cell")).to_contain_text("ago")
        page.close()  # the learner closes the tab
        expect(row.locator("td.presence-cell")).to_contain_text("Disconnected")
        # What was true before the page went no longer reads as now.
        expect(row.locator("td.status-cell")).to_have_text("-")
        expect(row.locator("td.score-cell")).to_have_text("-")
        expect(row.locator("span[data-kind=disconnected]")).to_be_visible()
        expect(row).to_have_class(re.compile(r"\babsent\b"))
        page_screenshot(page=live, name=f"{request.node.name}-disconnected")
        ended = requests.post(f"{asgi_server.url}/api/v1/sessions/{session.id}/end/",
                              headers={"Authorization": f"Token {token}"}, timeout=30)
        assert ended.status_code == 200
        # Ended in place: the row stays until a reload, marked ended, its alerts closed.
        expect(row.locator("td.presence-cell")).to_have_text("Session ended")
        expect(row).to_have_class(re.compile(r"\bended\b"))
        expect(row.locator("td.alerts-cell")).to_have_text("-")
        page_screenshot(page=live, name=f"{request.node.name}-ended")
        live.reload()
        expect(live.locator("#connection")).to_have_text("live")
        expect(live.locator(f'tr[data-session="{session.id}"]')).to_have_count(0)
    alert = Alert.objects.get(session=session)
    assert alert.kind == AlertKind.DISCONNECTED and alert.closed_at is not None


def exam_started(context, server_url):
    """A learner's exam page, joined by its link and started (frames every 0.5 s)."""
    learner = get_user_model().objects.create_user("lea", password="lea-password")
    session = services.session_create(learner=learner, course_id="c1", exam_id="e1", frame_interval=0.5)
    page = context.new_page()
    page.goto(f"{server_url}/monitor/join/{services.session_join_token(session=session)}/")
    start(page)
    return page


def test_exam_page_says_when_the_server_is_unreachable(asgi_server, fast_rules, tmp_path, request):
    with chromium_context(video=face_then_empty(tmp_path, 2, 1)) as context:
        page = exam_started(context, asgi_server.url)
        expect(page.locator("#connection")).to_have_text("connected")
        asgi_server.stop()  # the server goes away: the page says so and keeps retrying
        expect(page.locator("#connection")).to_contain_text("unreachable", timeout=20_000)
        page_screenshot(page=page, name=request.node.name)


def test_the_page_says_the_service_is_catching_up_and_recovers(asgi_server, fast_rules, tmp_path, request):
    """Issue 28: frames answered with errors in a row (the database away) make the page say so, not stay silent."""
    from engagement.models import EngagementLog

    with chromium_context(video=face_then_empty(tmp_path, 30, 1)) as context:
        status = exam_started(context, asgi_server.url).locator("#status")
        expect(status).to_have_text("Camera OK: face in view", timeout=20_000)
        table_move(EngagementLog, away=True)
        try:
            expect(status).to_contain_text("catching up", timeout=20_000)
            page_screenshot(page=status.page, name=request.node.name)
        finally:
            table_move(EngagementLog, away=False)
        expect(status).to_have_text("Camera OK: face in view", timeout=30_000)


@pytest.mark.parametrize("face_px, width", [(200, 480), (60, 640)])
def test_frames_are_smaller_when_the_face_is_large_never_when_small(asgi_server, fast_rules, tmp_path, face_px,
                                                                    width):
    """Issue 22: after a face over 150 px the page sends 480x360 frames; a 60 px face keeps them at 640x480."""
    video = y4m_write(path=tmp_path / "webcam.y4m", frames=[images.composed_face(face_px)] * FPS, fps=FPS)
    with chromium_context(video=video) as context:
        page = exam_started(context, asgi_server.url)
        expect(page.locator("#status")).to_have_text("Camera OK: face in view", timeout=20_000)
        # Frames keep going every 0.5 s: the ones after the first analysis have the size it chose, and stay so.
        canvas = page.locator("#canvas")
        expect(canvas).to_have_js_property("width", width, timeout=10_000)
        page.wait_for_timeout(1500)
        expect(canvas).to_have_js_property("width", width)
        expect(canvas).to_have_js_property("height", width * 3 // 4)
        expect(page.locator("#status")).to_have_text("Camera OK: face in view")
