"""Per-exam settings of a session: alert kinds switched off (never raised) and the course's words in the notice."""
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from monitor import services
from monitor.alerts import KINDS
from monitor.models import NOTICE_TEXT_MAX_LENGTH, Alert, ExamSession
from monitor.presence import PresenceEvent, presence_sweep, session_presence_record
from tests.monitor.test_admin import SCENARIO, T0, record

pytestmark = pytest.mark.django_db
User = get_user_model()


def two_sessions(**settings):
    lea = User.objects.create_user("lea", password="x" * 12)
    plain = services.session_create(learner=lea, course_id="c1", exam_id="e1")
    tuned = services.session_create(learner=lea, course_id="c1", exam_id="e2", **settings)
    return plain, tuned


def test_a_frame_rule_switched_off_raises_no_alert_and_the_others_still_do():
    plain, tuned = two_sessions(alerts_off=["multiple_faces"])
    record(plain, SCENARIO)
    record(tuned, SCENARIO)
    assert sorted(plain.alerts.values_list("kind", flat=True)) == ["absent", "multiple_faces"]
    assert list(tuned.alerts.values_list("kind", flat=True)) == ["absent"]


def test_switching_a_kind_off_while_its_alert_is_open_closes_it():
    _, tuned = two_sessions()
    record(tuned, ["two", "two"])
    assert tuned.alerts.get().closed_at is None
    ExamSession.objects.filter(pk=tuned.pk).update(alerts_off=["multiple_faces"])
    record(tuned, ["two"], start=T0 + timedelta(seconds=10))
    assert tuned.alerts.get().closed_at == T0 + timedelta(seconds=10)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("event, kind", [(PresenceEvent.SOCKET_CLOSED, "disconnected"),
                                         (PresenceEvent.CAMERA_PROBLEM, "camera_blocked")])
def test_a_presence_alert_switched_off_is_not_raised_by_the_sweep(event, kind):
    plain, tuned = two_sessions(alerts_off=[kind])
    for session in (plain, tuned):
        session_presence_record(session_id=session.id, event=PresenceEvent.SOCKET_OPEN, at=T0)
        session_presence_record(session_id=session.id, event=event, at=T0 + timedelta(seconds=5))
    presence_sweep(now=T0 + timedelta(seconds=120))
    assert list(Alert.objects.filter(kind=kind).values_list("session", flat=True)) == [plain.pk]


@pytest.mark.django_db(transaction=True)
def test_no_frames_switched_off_is_not_raised_by_the_sweep():
    plain, tuned = two_sessions(alerts_off=["no_frames"])
    for session in (plain, tuned):
        session_presence_record(session_id=session.id, event=PresenceEvent.SOCKET_OPEN, at=T0)
    presence_sweep(now=T0 + timedelta(seconds=60))
    assert list(Alert.objects.filter(kind="no_frames").values_list("session", flat=True)) == [plain.pk]


def test_the_notice_shows_the_courses_words_as_text(client):
    words = "Kept 90 days by the faculty.\nAsk <b>exams@uni.example</b>."
    plain, tuned = two_sessions(notice_text=words)
    client.force_login(tuned.learner)
    page = client.get(reverse("monitor:exam", args=[tuned.id])).content.decode()
    notice = page[page.index('id="notice"'):page.index('id="start"')]
    assert ('<blockquote id="notice-course">Kept 90 days by the faculty.<br>Ask &lt;b&gt;exams@uni.example&lt;/b&gt;.'
            '</blockquote>') in notice
    assert 'id="notice-course"' not in client.get(reverse("monitor:exam", args=[plain.id])).content.decode()


@pytest.mark.parametrize("settings, code", [({"alerts_off": ["absent", "sleeping"]}, "unknown_alert_kind"),
                                            ({"notice_text": "x" * (NOTICE_TEXT_MAX_LENGTH + 1)},
                                             "notice_text_too_long")])
def test_bad_settings_are_refused_and_nothing_is_created(settings, code):
    lea = User.objects.create_user("lea", password="x" * 12)
    with pytest.raises(services.InvalidInput) as refused:
        services.session_create(learner=lea, course_id="c1", exam_id="e1", **settings)
    assert refused.value.code == code and not ExamSession.objects.exists()


def test_the_admin_form_checks_the_kinds():
    session = ExamSession(alerts_off=["absent", "sleeping"])
    with pytest.raises(ValidationError, match="Unknown alert kind 'sleeping'"):
        session.clean_fields(exclude=["learner", "course_id", "exam_id"])
    ExamSession(alerts_off=[spec.value for spec in KINDS]).clean_fields(exclude=["learner", "course_id", "exam_id"])


@pytest.fixture
def lms_api():
    lms = User.objects.create_user("lms", password="x" * 12)
    lms.user_permissions.add(Permission.objects.get(codename="add_examsession"))
    client = APIClient()
    client.force_authenticate(lms)
    return client


def test_the_lms_sets_them_over_rest(lms_api):
    User.objects.create_user("lea", password="x" * 12)
    made = lms_api.post("/api/v1/sessions/", {"learner": "lea", "course_id": "c1", "exam_id": "e1",
                                              "alerts_off": ["looking_away", "struggling"],
                                              "notice_text": "Kept for the appeal period only."}, format="json")
    assert made.status_code == 201, made.content
    session = ExamSession.objects.get()
    assert session.alerts_off == ["looking_away", "struggling"]
    read = lms_api.get(f"/api/v1/sessions/{session.id}/").json()
    assert read["alerts_off"] == ["looking_away", "struggling"] and read["notice_text"] == "Kept for the appeal period only."
    for bad, field in [({"alerts_off": ["sleeping"]}, "alerts_off"), ({"alerts_off": "absent"}, "alerts_off"),
                       ({"notice_text": "x" * (NOTICE_TEXT_MAX_LENGTH + 1)}, "notice_text")]:
        answer = lms_api.post("/api/v1/sessions/", {"learner": "lea", "course_id": "c1", "exam_id": "e2", **bad},
                              format="json")
        assert answer.status_code == 400 and field in answer.json()["errors"], (bad, answer.content)
    assert ExamSession.objects.count() == 1
    # The learner reads their session without the kinds that go unseen.
    learner = APIClient()
    learner.force_authenticate(session.learner)
    for read in (learner.get(f"/api/v1/sessions/{session.id}/").json(), learner.get("/api/v1/sessions/").json()):
        read = read["results"][0] if "results" in read else read
        assert read["id"] == str(session.id) and "alerts_off" not in read and read["notice_text"]


def test_an_administrator_sets_them_when_adding_a_session(client):
    lea = User.objects.create_user("lea", password="x" * 12)
    client.force_login(User.objects.create_superuser("root", password="x" * 12))
    form = {"learner": lea.pk, "course_id": "c1", "exam_id": "e1", "attempt_id": "", "frame_interval": "5",
            "alerts-TOTAL_FORMS": 0, "alerts-INITIAL_FORMS": 0, "notice_text": "Kept 30 days."}
    page = client.get("/admin/monitor/examsession/add/").content.decode()
    assert 'type="checkbox" name="alerts_off" value="looking_away"' in page
    bad = client.post("/admin/monitor/examsession/add/", {**form, "alerts_off": ["absent", "sleeping"]})
    assert bad.status_code == 200 and "sleeping is not one of the available choices" in bad.content.decode()
    assert not ExamSession.objects.exists()
    added = client.post("/admin/monitor/examsession/add/", {**form, "alerts_off": ["struggling", "absent"]})
    assert added.status_code == 302
    session = ExamSession.objects.get()
    assert sorted(session.alerts_off) == ["absent", "struggling"] and session.notice_text == "Kept 30 days."
