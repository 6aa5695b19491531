"""LTI launches in Chromium, from a real platform on loopback to the tool's pages, with a fake camera."""
import re

import pytest
from playwright.sync_api import expect

from monitor.models import ExamSession
from tests.browser import chromium_context, page_screenshot
from tests.lti.conftest import platform_registered
from tests.lti.platform import AP, LEARNER
from tests.monitor.test_exam_page import asgi_server, face_then_empty  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def platform(asgi_server):  # noqa: F811
    """A platform registered in the tool served with WebSockets (the exam page needs them)."""
    platform = platform_registered(asgi_server.url.replace("127.0.0.1", "localhost"))
    yield platform
    platform.stop()


def test_a_learner_launch_lands_on_the_exam_page(platform, tmp_path, request):
    with chromium_context(video=face_then_empty(tmp_path, 5, 1)) as context:
        page = context.new_page()
        page.goto(platform.launch_url(sub="learner-1", roles=LEARNER))
        expect(page.locator("#notice")).to_contain_text("This exam is monitored through your webcam")
        session = ExamSession.objects.get()
        assert page.url.endswith(f"/monitor/sessions/{session.id}/")
        assert session.learner.username.startswith("lea-martin-")
        page.locator("#start").click()
        expect(page.locator("#status")).to_have_text("Camera OK: face in view")
        page_screenshot(page=page, name=request.node.name)


def test_start_proctoring_checks_the_camera_then_returns_a_signed_start_assessment(platform, tmp_path, request):
    claims = {AP + "start_assessment_url": f"{platform.url}/start-assessment", AP + "attempt_number": 3,
              AP + "session_data": "opaque-session-7"}
    with chromium_context(video=face_then_empty(tmp_path, 30, 1)) as context:
        page = context.new_page()
        page.goto(platform.launch_url(sub="learner-1", roles=LEARNER, message_type="LtiStartProctoring",
                                      extra=claims))
        expect(page.locator("h1")).to_contain_text("Before your exam")
        expect(page.locator("section.notice")).to_contain_text("No picture is stored")
        expect(page.locator("#check-status")).to_have_text("Camera OK: you are in view.")
        expect(page.locator("#start")).to_be_enabled()
        page_screenshot(page=page, name=f"{request.node.name}-check")
        with context.expect_page() as opened:
            page.locator("#start").click()
        # The platform verified the tool's signed LtiStartAssessment against the tool's key set.
        expect(page.locator("#started")).to_have_text("Assessment started")
        [started] = platform.started
        assert started[AP + "session_data"] == "opaque-session-7" and started[AP + "attempt_number"] == 3
        assert started["https://purl.imsglobal.org/spec/lti/claim/resource_link"]["id"] == "final-exam"
        # The monitoring window started at once (the learner agreed on the check page) and is analysing.
        monitor = opened.value
        session = ExamSession.objects.get()
        assert session.attempt_id == "3"
        # The new window may still be at about:blank for a moment: wait for its navigation, do not read it at once.
        expect(monitor).to_have_url(re.compile(rf"/monitor/sessions/{session.id}/$"))
        expect(monitor.locator("#notice")).to_be_hidden()
        expect(monitor.locator("#status")).to_have_text("Camera OK: face in view")
        expect(monitor.locator("#connection")).to_have_text("connected")
        page_screenshot(page=monitor, name=f"{request.node.name}-monitor")


def test_start_needs_a_passed_camera_check(platform, tmp_path):
    claims = {AP + "start_assessment_url": f"{platform.url}/start-assessment", AP + "attempt_number": 1}
    with chromium_context(video=None) as context:  # no camera at all
        page = context.new_page()
        page.goto(platform.launch_url(sub="learner-1", roles=LEARNER, message_type="LtiStartProctoring",
                                      extra=claims))
        expect(page.locator("#camera-message")).to_contain_text("No camera was found")
        expect(page.locator("#start")).to_be_disabled()
        # Forcing the form anyway: the server refuses without a passed check, and the platform hears nothing.
        page.evaluate("document.getElementById('start').disabled = false")
        page.locator("#start").click()
        expect(page.locator(".error")).to_contain_text(re.compile("camera check has not passed"))
        assert platform.started == []


def test_an_administrator_finds_the_set_up_page_from_home(platform, request):
    from django.contrib.auth import get_user_model

    from tests.browser import page_login

    get_user_model().objects.create_superuser("root", password="root-password")
    with chromium_context() as context:
        page = context.new_page()
        page_login(page=page, base_url=platform.tool_url, username="root", password="root-password")
        page.goto(platform.tool_url + "/")
        page.get_by_role("link", name="Register this tool in an LMS (LTI 1.3)").click()
        expect(page.locator("#launch-url")).to_have_text(f"{platform.tool_url}/lti/launch/")
        expect(page.locator("#jwks-url")).to_have_text(f"{platform.tool_url}/lti/jwks/")
        expect(page.locator("#key-status")).to_contain_text("Active key")
        expect(page.locator("table.setup").last).to_contain_text("deployment-1")
        page_screenshot(page=page, name=request.node.name)


def test_a_launch_inside_an_lms_frame_continues_in_a_window_of_its_own(platform, tmp_path, request):
    with chromium_context(video=face_then_empty(tmp_path, 5, 1)) as context:
        page = context.new_page()
        page.goto(platform.course_url(sub="learner-1", roles=LEARNER))
        frame = page.frame_locator("#tool")
        expect(frame.locator("h1")).to_have_text("This activity opens in a window of its own")
        page_screenshot(page=page, name=f"{request.node.name}-frame")
        with context.expect_page() as opened:
            frame.locator("#open").click()
        window = opened.value
        expect(window.locator("#notice")).to_contain_text("This exam is monitored through your webcam")
        window.locator("#start").click()
        expect(window.locator("#status")).to_have_text("Camera OK: face in view")
        page_screenshot(page=window, name=f"{request.node.name}-window")
