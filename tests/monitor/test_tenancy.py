"""Tenancy: each LMS account (REST) sees and acts on its own sessions, learners, alerts and webhooks only."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from monitor import services
from monitor.models import Alert, ExamSession, SessionStatus, Webhook, WebhookDelivery
from tests.tokens import token_for

pytestmark = pytest.mark.django_db
User = get_user_model()


def lms_account(name):
    account = User.objects.create_user(name, password="x" * 12)
    account.user_permissions.add(Permission.objects.get(codename="add_examsession"))
    return account


def client_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


@pytest.fixture
def two_lms():
    """Two LMS accounts, each with a learner and a session made over REST, and an alert in A's session."""
    a, b = lms_account("lms-a"), lms_account("lms-b")
    User.objects.create_user("lea")
    User.objects.create_user("bob")
    made = {}
    for account, learner in ((a, "lea"), (b, "bob")):
        answer = client_for(account).post("/api/v1/sessions/", {"learner": learner, "course_id": "c1",
                                                                "exam_id": "e1"}, format="json")
        assert answer.status_code == 201, answer.content
        made[account.username] = ExamSession.objects.get(pk=answer.json()["id"])
    alert = Alert.objects.create(session=made["lms-a"], kind="absent", severity="warning", message="m",
                                 opened_at=made["lms-a"].created_at)
    return {"a": a, "b": b, "sa": made["lms-a"], "sb": made["lms-b"], "alert": alert}


def test_an_lms_account_lists_and_reads_only_its_own_sessions(two_lms):
    listed = client_for(two_lms["b"]).get("/api/v1/sessions/").json()["results"]
    assert [s["id"] for s in listed] == [str(two_lms["sb"].id)]
    sa = two_lms["sa"].id
    for path in (f"/api/v1/sessions/{sa}/", f"/api/v1/sessions/{sa}/report/", f"/api/v1/sessions/{sa}/logs/"):
        assert client_for(two_lms["b"]).get(path).status_code == 403, path
    assert client_for(two_lms["a"]).get(f"/api/v1/sessions/{sa}/").status_code == 200
    assert client_for(two_lms["b"]).get("/api/v1/alerts/").json()["count"] == 0
    admin = User.objects.create_superuser("root", password="x" * 12)
    assert client_for(admin).get("/api/v1/sessions/").json()["count"] == 2


def test_an_lms_account_cannot_end_or_review_another_tenants_session(two_lms):
    b = client_for(two_lms["b"])
    ended = b.post(f"/api/v1/sessions/{two_lms['sa'].id}/end/")
    assert ended.status_code == 403 and ended.json()["error"] == "permission_denied"
    two_lms["sa"].refresh_from_db()
    assert two_lms["sa"].status != SessionStatus.ENDED
    assert b.post(f"/api/v1/sessions/{two_lms['sa'].id}/join-link/").status_code == 403
    assert b.post(f"/api/v1/alerts/{two_lms['alert'].id}/review/").status_code == 403
    two_lms["alert"].refresh_from_db()
    assert two_lms["alert"].reviewed_at is None
    assert client_for(two_lms["a"]).post(f"/api/v1/alerts/{two_lms['alert'].id}/review/").status_code == 200
    assert client_for(two_lms["a"]).post(f"/api/v1/sessions/{two_lms['sa'].id}/end/").status_code == 200


def test_an_lms_account_cannot_name_another_tenants_learner(two_lms):
    lea = User.objects.get(username="lea")
    for name in ("lea", lea.pk, str(lea.pk)):
        answer = client_for(two_lms["b"]).post("/api/v1/sessions/", {"learner": name, "course_id": "c",
                                                                     "exam_id": "e"}, format="json")
        # Answered as an unknown learner: one tenant cannot learn which accounts another has.
        assert answer.status_code == 400 and answer.json()["error"] == "unknown_learner", name
    assert ExamSession.objects.filter(learner=lea).count() == 1


def test_webhooks_hear_only_their_tenants_events(two_lms, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "BACKGROUND": False}
    hooks = {}
    for key in ("a", "b"):
        hooks[key] = Webhook.objects.create(owner=two_lms[key], url="https://lms.example/hooks", secret="s" * 16,
                                            events=["session.ended"])
    services.session_end(session=two_lms["sa"])
    assert list(WebhookDelivery.objects.values_list("webhook", flat=True)) == [hooks["a"].pk]
