"""A whole proctored exam in a real Chromium: absence, a second face, a lost browser, a server restart, decisions.

The learner and the instructor get through it with only what the pages say; the server is the project's ASGI
application over real WebSockets with the real engine, the webcam a video composed from scikit-image pictures.
"""
import re

import numpy as np
import pytest
import requests
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from monitor.models import Alert, AlertKind, EvidenceAccess, EvidenceFrame, ReviewOutcome
from tests import images
from tests.browser import CHROMIUM, TIMEOUT_MS, chromium_args, chromium_context, page_screenshot, y4m_write
from tests.monitor.test_admin import make_instructor
from tests.monitor.test_exam_page import asgi_server, fast_presence, fast_rules, lms_token, live_view  # noqa: F401
from tests.monitor.test_recovery_browser import server_restart_seen

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
FPS = 2  # the page sends a frame every 0.5 s: two video frames a second are all it can see
PHONE = {"width": 390, "height": 844}
# What the instructor decides on each kind of alert, and why (the note).
DECISIONS = {
    AlertKind.MULTIPLE_FACES: (ReviewOutcome.CONFIRMED, "A second person sat beside her: the picture shows it."),
    AlertKind.ABSENT: (ReviewOutcome.DISMISSED, "Left for a few seconds, came back; nothing on the desk."),
    AlertKind.DISCONNECTED: (ReviewOutcome.DISMISSED, "Her browser crashed; she came back with a new link."),
}
OTHER_DECISION = (ReviewOutcome.FOLLOW_UP, "To talk over with the learner.")


@pytest.fixture
def evidence_key(settings, celery_workers):
    """A Fernet key for evidence pictures, in this process and in the Celery workers that analyse frames."""
    key = celery_workers.env.get("MONITOR_EVIDENCE_KEY") if celery_workers else Fernet.generate_key().decode()
    settings.MONITOR = {**settings.MONITOR, "EVIDENCE_KEY": key}
    return key


def webcam(path, *segments):
    """A fake webcam video of (frame, seconds) segments, played in a loop."""
    frames = [frame for frame, seconds in segments for _ in range(seconds * FPS)]
    return y4m_write(path=path, frames=frames, fps=FPS)


def empty_room():
    """A 640x480 room with nobody in it (scikit-image's coffee cup)."""
    room = np.asarray(images.no_face_images()["coffee"])
    return np.ascontiguousarray(np.pad(room, ((40, 40), (20, 20), (0, 0)), mode="edge")[:480, :640])


def agree(page):
    """Read the monitoring notice, which names the evidence picture this course keeps, and start."""
    notice = page.locator("#notice")
    expect(notice.locator("#notice-pictures")).to_contain_text("One small picture (320\u00d7240) of the moment a "
                                                               "critical alert opens")
    expect(page.locator("#exam")).to_be_hidden()
    page.locator("#start").click()
    expect(notice).to_be_hidden()


def test_a_learner_and_an_instructor_get_through_an_exam_with_everything_going_wrong(
        asgi_server, fast_presence, fast_rules, evidence_key, tmp_path, request):
    get_user_model().objects.create_user("lea", password="lea-password")
    make_instructor("ines", "c1")
    token = lms_token()
    lms = {"Authorization": f"Token {token}"}
    # The course keeps evidence: the LMS asks for it when it creates the session.
    created = requests.post(f"{asgi_server.url}/api/v1/sessions/", headers=lms, timeout=30, json={
        "learner": "lea", "course_id": "c1", "exam_id": "midterm", "frame_interval": 0.5, "evidence": True})
    assert created.status_code == 201, created.content
    created = created.json()
    row_selector = f'tr[data-session="{created["id"]}"]'
    # Her first browser's camera: her face, she leaves (14 s: past the 6 s absence rule), someone sits beside her,
    # then her alone for good (long enough that the video does not loop before her browser is lost).
    first_camera = webcam(tmp_path / "first.y4m", (images.webcam_face(), 6), (empty_room(), 14),
                          (images.two_faces(), 6), (images.webcam_face(), 90))
    with chromium_context(video=first_camera) as context:
        live = live_view(context, asgi_server.url)  # the instructor, in a browser context of her own
        row = live.locator(row_selector)
        expect(row.locator("td.session-cell")).to_have_text("Not started")

        # -- the learner starts, from the LMS's link ------------------------------------------------------
        first = context.browser.new_context(viewport={"width": 1280, "height": 800})
        exam = first.new_page()
        exam.goto(created["exam_url"])
        page_screenshot(page=exam, name=f"{request.node.name}-01-learner-notice")
        agree(exam)
        expect(exam.locator("#connection")).to_have_text("connected")
        expect(exam.locator("#status")).to_have_text("Camera OK: face in view")
        expect(exam.locator("#rejoin-help")).to_contain_text("open the exam again from your course page")
        expect(row.locator("td.session-cell")).to_have_text("In progress")
        expect(row.locator("td.presence-cell")).to_contain_text("Connected")

        # -- an absence: the learner is told what to do, the instructor sees it at the top -------------------
        expect(exam.locator("#alerts li[data-kind=absent]")).to_be_visible()
        expect(exam.locator("#status")).to_have_text("We cannot see you: please return to the camera.")
        page_screenshot(page=exam, name=f"{request.node.name}-02-learner-absent")
        expect(row.locator("span[data-kind=absent]")).to_be_visible()
        expect(row.locator("td.status-cell")).to_have_text("No face in view")
        expect(live.locator("#announce")).to_contain_text(re.compile(r"New alert: lea, Absent"))

        # -- a second face: never "Camera OK", a critical alert read out to the instructor -------------------
        expect(exam.locator("#status")).to_have_text("2 faces in view: only you should be in view of the camera.")
        expect(exam.locator("#alerts li[data-kind=multiple_faces]")).to_be_visible()
        page_screenshot(page=exam, name=f"{request.node.name}-03-learner-two-faces")
        expect(live.locator("#announce")).to_contain_text(re.compile(r"New alert: lea, Several faces \(critical\)"))
        expect(live.locator("#alert-counts span[data-kind=multiple_faces]")).to_have_text("Several faces: 1")
        expect(live).to_have_title(re.compile(r"^\(\d+\) Live sessions$"))
        page_screenshot(page=live, name=f"{request.node.name}-04-instructor-alerts")
        expect(exam.locator("#status")).to_have_text("Camera OK: face in view")  # she is alone again

        # -- her browser is lost: the old link's page says how to get back; the LMS gives a fresh link --------
        first.close()
        expect(row.locator("td.presence-cell")).to_contain_text("Disconnected")
        expect(row.locator("span[data-kind=disconnected]")).to_be_visible()
        second_camera = webcam(tmp_path / "second.y4m", (images.webcam_face(), 5))
        phone_browser = context.browser.browser_type.launch(
            executable_path=CHROMIUM, headless=True, args=chromium_args(video=second_camera), timeout=TIMEOUT_MS)
        try:
            phone = phone_browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            phone.set_default_timeout(TIMEOUT_MS)
            exam = phone.new_page()
            exam.goto(created["exam_url"])  # the link she still has: used
            expect(exam.locator("#rejoin-help")).to_contain_text("open the exam again from your course page")
            page_screenshot(page=exam, name=f"{request.node.name}-05-learner-used-link-390")
            fresh = requests.post(f"{asgi_server.url}/api/v1/sessions/{created['id']}/join-link/", headers=lms,
                                  timeout=30)  # what the LMS does when she opens the exam from the course again
            assert fresh.status_code == 201, fresh.content
            exam.goto(fresh.json()["exam_url"])
            assert exam.url.endswith(f"/monitor/sessions/{created['id']}/")
            agree(exam)
            expect(exam.locator("#status")).to_have_text("Camera OK: face in view")
            assert exam.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            page_screenshot(page=exam, name=f"{request.node.name}-06-learner-back-390")
            expect(row.locator("td.presence-cell")).to_contain_text("Connected")
            expect(row.locator("td.presence-cell .rejoined")).to_contain_text(re.compile(r"Rejoined 1\u00d7"))

            # -- the server restarts: both pages say so, neither claims all is well, both come back ---------
            server_restart_seen(server=asgi_server, page=exam, live=live, row=row,
                                shot=f"{request.node.name}-07-restart-390")
            frames = int(row.locator("td.frames-cell").inner_text())
            expect(row.locator("td.frames-cell")).not_to_have_text(str(frames))  # her frames reach it again

            # -- the instructor opens the report beside the live view; the LMS ends the exam ---------------
            with live.context.expect_page() as opened:
                row.locator("td").first.locator("a").click()
            report = opened.value
            assert live.url.endswith("/monitor/live/")
            ended = requests.post(f"{asgi_server.url}/api/v1/sessions/{created['id']}/end/", headers=lms,
                                  timeout=30)
            assert ended.status_code == 200, ended.content
            expect(exam.locator("#ended-banner")).to_be_visible()
            page_screenshot(page=exam, name=f"{request.node.name}-08-learner-ended-390")
        finally:
            phone_browser.close()

        # -- a decision on each alert, with the evidence picture where the course keeps it ----------------------
        alerts = list(Alert.objects.filter(session_id=created["id"]).order_by("opened_at"))
        kinds = {alert.kind for alert in alerts}
        assert {AlertKind.ABSENT, AlertKind.MULTIPLE_FACES, AlertKind.DISCONNECTED} <= kinds, kinds
        report.reload()
        expect(report.locator("#report-alerts li.alert-row")).to_have_count(len(alerts))
        for alert in alerts:
            item = report.locator(f"#alert-{alert.pk}")
            expect(item.locator("time").first).to_have_text(re.compile(r"^\d\d:\d\d:\d\d [A-Z]{3,4}$"))
            picture = item.locator("figure.evidence img")
            if alert.kind == AlertKind.MULTIPLE_FACES:  # critical: its moment, decrypted for the course's instructor
                expect(picture).to_be_visible()
                assert picture.evaluate("img => img.complete && img.naturalWidth") == 320
            else:
                expect(picture).to_have_count(0)
        page_screenshot(page=report, name=f"{request.node.name}-10-report-before")
        for alert in alerts:
            outcome, note = DECISIONS.get(alert.kind, OTHER_DECISION)
            item = report.locator(f"#alert-{alert.pk}")
            item.locator("textarea").fill(note)
            with report.expect_navigation():
                item.get_by_role("button", name=outcome.label).click()
            expect(report.locator(".messagelist")).to_contain_text(f"recorded as {outcome.label.lower()}")
            expect(report.locator(f"#alert-{alert.pk} .decision")).to_contain_text(f"{outcome.label} by ines")
        page_screenshot(page=report, name=f"{request.node.name}-11-report-decided")
        report.set_viewport_size(PHONE)  # the report on a phone: nothing runs off the side of the page
        assert report.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page_screenshot(page=report, name=f"{request.node.name}-12-report-390")
        live.set_viewport_size(PHONE)
        assert live.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page_screenshot(page=live, name=f"{request.node.name}-13-instructor-390")

    decided = {alert.kind: (alert.review_outcome, alert.review_note, alert.reviewed_by.username)
               for alert in Alert.objects.filter(session_id=created["id"])}
    assert all(outcome for outcome, _, _ in decided.values()), decided
    assert decided[AlertKind.MULTIPLE_FACES] == (ReviewOutcome.CONFIRMED, DECISIONS[AlertKind.MULTIPLE_FACES][1],
                                                 "ines")
    # One picture, of the critical alert only; her looking at it is on record.
    assert list(EvidenceFrame.objects.values_list("alert__kind", flat=True)) == [AlertKind.MULTIPLE_FACES]
    assert EvidenceAccess.objects.filter(username="ines").exists()
