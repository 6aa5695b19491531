"""The admin report as a review: alerts first with clock time and timeline minute, decisions with a note."""
from datetime import timedelta

import numpy as np
import pytest

from monitor import charts, selectors
from monitor.models import Alert, WebhookDelivery
from tests.monitor.test_admin import T0, between, session_url, world  # noqa: F401

pytestmark = pytest.mark.django_db


def review_url(alert):
    return f"/admin/monitor/examsession/{alert.session_id}/alerts/{alert.pk}/review/"


def test_the_report_lists_the_alerts_first_with_clock_time_and_timeline_minute(client, world):  # noqa: F811
    client.force_login(world.ines)
    client.cookies["tz"] = "Europe/Berlin"  # the instructor in Berlin
    report = between(client.get(session_url(world.s1)).content.decode(), 'id="session-report"', "</section>")
    assert report.index('id="report-alerts"') < report.index("Engagement over time")
    alerts = between(report, 'id="report-alerts"', "</ol>")
    faces, absent = alerts.split('class="alert-row')[1:]
    # Two faces from 09:00:10 UTC: opened at the second such frame (15 s), minute 0.2 on the timeline.
    assert "Several faces" in faces and ">10:00:15 CET</time>" in faces and "minute 0.2 on the timeline" in faces
    assert ">10:00:35 CET</time>" in absent and "minute 0.6 on the timeline" in absent
    timeline = between(report, '<figure data-chart="timeline">', "</figure>")
    assert "clock time (CET)" in timeline and "10:00:" in timeline  # the chart reads in clock time too


def test_an_instructor_records_a_decision_with_a_note_from_the_report(client, world, settings):  # noqa: F811
    settings.WEBHOOKS = {**settings.WEBHOOKS, "BACKGROUND": False}
    from monitor.models import Webhook

    Webhook.objects.create(owner=world.root, url="https://lms.example/hook", secret="s" * 16,
                           events=["alert.reviewed"])
    alert = world.s1.alerts.get(kind="multiple_faces")
    client.force_login(world.ines)
    page = client.get(session_url(world.s1)).content.decode()
    assert f'name="note-{alert.pk}"' in page and 'value="needs_follow_up"' in page
    answer = client.post(review_url(alert), {"outcome": "confirmed", f"note-{alert.pk}": "Her brother sat beside her."})
    assert answer.status_code == 302 and answer["Location"].endswith(f"#alert-{alert.pk}")
    alert.refresh_from_db()
    assert (alert.review_outcome, alert.review_note, alert.reviewed_by) == (
        "confirmed", "Her brother sat beside her.", world.ines)
    assert WebhookDelivery.objects.filter(event="alert.reviewed").count() == 1
    shown = client.get(session_url(world.s1)).content.decode()
    row = between(shown, f'id="alert-{alert.pk}"', "</li>")
    assert "<strong>Confirmed</strong>" in row and "<q>Her brother sat beside her.</q>" in row
    assert f'name="note-{alert.pk}"' not in row  # final: no more buttons
    again = client.post(review_url(alert), {"outcome": "dismissed"}, follow=True)
    assert "already confirmed" in again.content.decode()
    alert.refresh_from_db()
    assert alert.review_outcome == "confirmed"
    # Another course's instructor may not decide.
    client.force_login(world.otto)
    assert client.post(review_url(world.s1.alerts.get(kind="absent")), {"outcome": "dismissed"}).status_code == 403
    assert Alert.objects.get(session=world.s1, kind="absent").review_outcome == ""


def test_the_score_line_breaks_across_absences_and_gaps(world):  # noqa: F811
    points = selectors.session_timeline(session=world.s1)
    start = points[0]["frame_time"]
    late = [{**points[-1], "frame_time": points[-1]["frame_time"] + timedelta(minutes=5)}]  # frames stopped 5 min

    def minutes(times):
        return np.array([(t - start).total_seconds() / 60 for t in times], dtype=float)

    xs, scores, smoothed = charts._with_breaks(points + late, minutes, frame_interval=5)
    # Frames 6-8 had no face (25-35 s): no score there, nor a smoothed one carried across them.
    assert np.isnan(scores[5:8]).all() and np.isnan(smoothed[5:8]).all()
    assert not np.isnan(scores[:5]).any() and not np.isnan(scores[8:10]).any()
    # The 5-minute silence is a break, not a line.
    assert np.isnan(scores[10]) and scores[11] == late[0]["score"] and len(xs) == len(points) + 2


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_instructor_in_berlin_decides_on_an_alert_with_its_evidence(live_server, settings, request):
    from django.contrib.auth import get_user_model
    from playwright.sync_api import expect

    from monitor import services
    from tests.browser import chromium_context, page_login, page_screenshot
    from tests.monitor.test_admin import make_instructor
    from tests.monitor.test_evidence import KEY, run
    from tests.monitor.conftest import FACE, TWO_FACES

    settings.MONITOR = {**settings.MONITOR, "EVIDENCE_KEY": KEY, "EVIDENCE_COURSES": ["c1"]}
    session = services.session_create(learner=get_user_model().objects.create_user("lea", password="x" * 12),
                                      course_id="c1", exam_id="midterm")
    run(session, [FACE, FACE, TWO_FACES, TWO_FACES, FACE])
    alert = Alert.objects.get(session=session, kind="multiple_faces")
    make_instructor("ines", "c1")
    with chromium_context(timezone_id="Europe/Berlin") as context:
        page = context.new_page()
        page_login(page=page, base_url=live_server.url, username="ines", password="ines-password")
        page.goto(f"{live_server.url}{session_url(session)}")
        row = page.locator(f"#alert-{alert.pk}")
        expect(row).to_contain_text("Several faces")
        expect(row.locator("time")).to_have_text(__import__("re").compile(r"^\d\d:\d\d:\d\d CE(S)?T$"))
        picture = row.locator("figure.evidence img")
        expect(picture).to_be_visible()
        assert picture.evaluate("img => img.complete && img.naturalWidth") == 320  # decrypted and served
        row.locator("textarea").fill("Someone else sat down for a minute: ask the learner.")
        with page.expect_navigation():
            row.get_by_role("button", name="Needs follow-up").click()
        expect(page.locator(".messagelist")).to_contain_text("recorded as needs follow-up")
        row = page.locator(f"#alert-{alert.pk}")
        expect(row.locator(".decision")).to_contain_text("Needs follow-up by ines")
        expect(row.locator(".decision q")).to_have_text("Someone else sat down for a minute: ask the learner.")
        expect(row.get_by_role("button", name="Confirmed")).to_be_visible()  # follow-up still takes a decision
        page_screenshot(page=page, name=request.node.name)
    alert.refresh_from_db()
    assert alert.review_outcome == "needs_follow_up"


def test_adding_a_session_in_the_admin_gives_the_learners_exam_link(client, world):  # noqa: F811
    client.force_login(world.root)
    answer = client.post("/admin/monitor/examsession/add/", {
        "learner": world.s1.learner.pk, "course_id": "c1", "exam_id": "retake", "attempt_id": "", "status": "scheduled",
        "frame_interval": "5", "alerts-TOTAL_FORMS": 0, "alerts-INITIAL_FORMS": 0}, follow=True)
    text = answer.content.decode()
    assert 'id="exam-link"' in text
    link = between(text, 'id="exam-link">', "</a>")
    from monitor.models import ExamSession

    session = ExamSession.objects.get(exam_id="retake")
    client.logout()
    opened = client.get(link)
    assert opened.status_code == 302 and opened["Location"] == f"/monitor/sessions/{session.id}/"


def test_frames_not_analysed_say_why_in_words_in_the_log_list(client, world):  # noqa: F811
    client.force_login(world.ines)
    logs = client.get("/admin/engagement/engagementlog/").content.decode()
    assert "No face in view" in logs and ">no_face<" not in logs
