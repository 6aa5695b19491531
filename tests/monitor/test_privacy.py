"""Retention purge, a learner's export and erasure, and age/gender: switched off, and off in exams by default."""
import json
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from engagement import services as engagement_services
from engagement.models import EngagementLog
from monitor import services
from monitor.models import Alert, ExamSession, Webhook, WebhookDelivery
from tests import images
from tests.tokens import token_for

pytestmark = pytest.mark.django_db
User = get_user_model()
FACE = images.encode(images.webcam_face())
EMPTY = images.encode(images.no_face_images()["coffee"])


def sit(learner, start, frames, course="c1", tenant=None):
    """A session whose frames (real engine) start at `start`, 5 s apart, then ended."""
    session = services.session_create(learner=learner, course_id=course, exam_id="e1", tenant=tenant)
    for i, image in enumerate(frames):
        result = engagement_services.frame_analyze(frame=engagement_services.Frame(
            image=image, timestamp=(start + timedelta(seconds=5 * i)).isoformat()))
        services.session_frame_record(session_id=session.id, user=learner, result=result)
    return session


@pytest.fixture
def old_and_new(settings):
    settings.MONITOR = {**settings.MONITOR, "ABSENT_SECONDS": 5}
    settings.WEBHOOKS = {**settings.WEBHOOKS, "BACKGROUND": False}  # deliveries stay pending: nothing is sent
    lea = User.objects.create_user("lea", password="x" * 12)
    bob = User.objects.create_user("bob", password="x" * 12)
    lms = User.objects.create_user("lms", password="x" * 12)
    Webhook.objects.create(owner=lms, url="https://93.184.215.14/hook", secret="s" * 20,
                           events=["alert.opened", "alert.closed", "session.ended"])
    tenant = services.tenant_of_account(account=lms)
    old = sit(lea, timezone.now() - timedelta(days=400), [FACE, EMPTY, EMPTY, EMPTY], tenant=tenant)
    services.session_end(session=old)
    ExamSession.objects.filter(pk=old.pk).update(ended_at=timezone.now() - timedelta(days=399))
    # As if saved then: the purge goes by the server's time, not by the frames' (client) times.
    EngagementLog.objects.filter(session_key=str(old.pk)).update(created_at=timezone.now() - timedelta(days=400))
    new = sit(lea, timezone.now() - timedelta(minutes=5), [FACE, FACE], tenant=tenant)
    other = sit(bob, timezone.now() - timedelta(minutes=5), [FACE], tenant=tenant)
    return lea, bob, old, new, other


def test_purge_dry_run_then_purge(old_and_new, settings, capsys):
    lea, bob, old, new, other = old_and_new
    settings.RETENTION_DAYS = 365
    call_command("purge_engagement_data", "--dry-run")
    out = capsys.readouterr().out
    assert "would delete 4 logs, 1 alerts, 1 sessions" in out
    assert EngagementLog.objects.count() == 7  # a dry run deletes nothing
    call_command("purge_engagement_data")
    assert "deleted 4 logs, 1 alerts, 1 sessions" in capsys.readouterr().out
    assert not ExamSession.objects.filter(pk=old.pk).exists() and not Alert.objects.exists()
    assert EngagementLog.objects.count() == 3 and ExamSession.objects.count() == 2


def test_a_frame_stamped_in_year_9999_is_purged_by_its_server_time(settings):
    settings.RETENTION_DAYS = 365
    lea = User.objects.create_user("lea", password="x" * 12)
    result = engagement_services.frame_analyze(frame=engagement_services.Frame(image=FACE,
                                                                               timestamp="9999-12-31T00:00:00Z"))
    log = engagement_services.engagement_log_build(result=result, frame_time=timezone.now().replace(year=9999),
                                                   session_id="s", user=lea)
    log.save()
    EngagementLog.objects.filter(pk=log.pk).update(created_at=timezone.now() - timedelta(days=366))
    call_command("purge_engagement_data")
    assert not EngagementLog.objects.exists()


def test_export_learner_data(old_and_new, tmp_path):
    lea, bob, old, new, other = old_and_new
    target = tmp_path / "lea.json"
    call_command("export_learner_data", "lea", "--output", str(target))
    data = json.loads(target.read_text())
    assert data["user"]["username"] == "lea"
    assert {s["id"] for s in data["sessions"]} == {str(old.id), str(new.id)}
    assert len(data["logs"]) == 6 and all(log["session_id"] != str(other.id) for log in data["logs"])
    assert [a["kind"] for s in data["sessions"] for a in s["alerts"]] == ["absent"]
    assert [d["event"] for d in data["webhook_deliveries"]] == ["alert.opened", "alert.closed", "session.ended"]
    with pytest.raises(CommandError):
        call_command("export_learner_data", "nobody")


def test_erase_learner_data(old_and_new, capsys, client):
    lea, bob, old, new, other = old_and_new
    with pytest.raises(CommandError):
        call_command("erase_learner_data", "lea")  # needs --yes
    assert EngagementLog.objects.filter(user=lea).count() == 6
    token_for(lea)
    client.force_login(lea)
    services.session_end(session=other)  # bob's delivery must stay
    assert WebhookDelivery.objects.count() == 4
    call_command("erase_learner_data", "lea", "--yes")
    assert ("6 logs, 1 alerts, 2 sessions, 3 webhook deliveries, 1 tokens, 1 login sessions"
            in capsys.readouterr().out)
    assert not EngagementLog.objects.filter(user=lea).exists() and not ExamSession.objects.filter(learner=lea).exists()
    assert EngagementLog.objects.filter(user=bob).count() == 1 and User.objects.filter(username="lea").exists()
    payloads = WebhookDelivery.objects.values_list("payload", flat=True)
    assert [p["data"]["session"]["learner"] for p in payloads] == ["bob"]
    assert WebhookDelivery.objects.count() == 1 and not AuthToken.objects.filter(user=lea).exists()
    assert client.get("/api/v1/sessions/").status_code in (401, 403)  # the login is gone


@pytest.mark.embedded_only  # the switch is changed in this process's settings; workers read their own
def test_age_and_gender_off_are_neither_computed_nor_stored(settings, fresh_engine):
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "OPTIONS": {**settings.ENGAGEMENT["OPTIONS"], "age_gender": False}}
    user = User.objects.create_user("lea", password="x" * 12)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    body = client.post("/analyze-mood", {"image": images.data_url(images.webcam_face()), "session_id": "s1"},
                       format="json").json()
    assert body["success"] and body["age"] is None and body["gender"] is None
    assert "age_gender" not in body["timings_ms"]
    log = EngagementLog.objects.get()
    assert log.age is None and log.gender == ""


def exam_frame(session):
    """One face frame through the exam path (what the socket's analysis runs, in a thread or a worker)."""
    return services.session_frame_process(session_id=str(session.id), user_id=session.learner_id,
                                          frame_id=str(uuid.uuid4()), image=images.data_url(images.webcam_face()),
                                          timestamp=None)["analysis"]


@pytest.mark.django_db(transaction=True)  # the exam path closes its connections, as a worker's thread must
def test_exams_infer_no_age_or_gender_by_default(settings):
    """Off by default (MONITOR's AGE_GENDER): neither inferred nor stored, though the engine can infer them."""
    assert settings.MONITOR["AGE_GENDER"] is False and engagement_services.age_gender_enabled()
    lea = User.objects.create_user("lea", password="x" * 12)
    analysis = exam_frame(services.session_create(learner=lea, course_id="c1", exam_id="e1"))
    assert analysis["success"] and analysis["age"] is None and analysis["gender"] is None
    assert "age_gender" not in analysis["timings_ms"]
    log = EngagementLog.objects.get()
    assert log.age is None and log.gender == ""


@pytest.mark.django_db(transaction=True)
def test_exams_infer_age_and_gender_when_asked(settings):
    settings.MONITOR = {**settings.MONITOR, "AGE_GENDER": True}
    lea = User.objects.create_user("lea", password="x" * 12)
    analysis = exam_frame(services.session_create(learner=lea, course_id="c1", exam_id="e1"))
    assert isinstance(analysis["age"], int) and analysis["gender"] in ("Man", "Woman")
    assert (EngagementLog.objects.get().age, EngagementLog.objects.get().gender) == (analysis["age"], analysis["gender"])


def test_analyze_mood_keeps_age_and_gender_while_exams_do_not(settings):
    """The prototype's contract: /analyze-mood answers age and gender whatever MONITOR's AGE_GENDER says."""
    assert settings.MONITOR["AGE_GENDER"] is False
    user = User.objects.create_user("lea", password="x" * 12)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    body = client.post("/analyze-mood", {"image": images.data_url(images.webcam_face())}, format="json").json()
    assert body["success"] and isinstance(body["age"], int) and body["gender"] in ("Man", "Woman")


@pytest.mark.parametrize("monitor_on, engine_on, mentioned", [(False, True, False), (True, True, True),
                                                              (True, False, False)])
def test_notice_mentions_age_and_gender_only_when_inferred(client, settings, monitor_on, engine_on, mentioned):
    """The learner's notice is generated from the settings in force: age and gender only when exams infer them."""
    settings.MONITOR = {**settings.MONITOR, "AGE_GENDER": monitor_on}
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "OPTIONS": {**settings.ENGAGEMENT["OPTIONS"], "age_gender": engine_on}}
    lea = User.objects.create_user("lea", password="x" * 12)
    session = services.session_create(learner=lea, course_id="c1", exam_id="e1")
    client.force_login(lea)
    page = client.get(reverse("monitor:exam", args=[session.id])).content.decode()
    notice = page[page.index('id="notice"'):page.index('id="start"')]
    assert "expression" in notice
    assert ("age and gender" in notice) is mentioned and ("gender" in notice) is mentioned
