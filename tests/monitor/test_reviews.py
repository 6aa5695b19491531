"""Alert outcomes: a review records confirmed, dismissed or needs follow-up with a note, over the REST API."""
import pytest
from django.contrib.auth import get_user_model

from monitor.models import Alert, Webhook, WebhookDelivery
from tests.monitor.test_api import client_for, world  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooked(world, settings):  # noqa: F811
    """The world, with a webhook (of an administrator: it hears every session) recording alert.reviewed."""
    settings.WEBHOOKS = {**settings.WEBHOOKS, "BACKGROUND": False}
    root = get_user_model().objects.create_superuser("root", password="x" * 12)
    Webhook.objects.create(owner=root, url="https://lms.example/hook", secret="s" * 16, events=["alert.reviewed"])
    return world


def review(user, alert, **body):
    return client_for(user).post(f"/api/v1/alerts/{alert.pk}/review/", body, format="json")


def test_a_review_records_the_outcome_and_the_note_and_tells_the_lms(hooked):
    alert = Alert.objects.get(kind="absent")
    response = review(hooked["ines"], alert, outcome="needs_follow_up", note="  Ask her what happened.  ")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["review_outcome"] == "needs_follow_up" and body["review_note"] == "Ask her what happened."
    assert body["reviewed_by"] == "ines" and body["reviewed_at"]
    # Follow-up asks for a decision: the next one replaces it, and is final.
    final = review(hooked["lms"], alert, outcome="dismissed", note="She had told the proctor beforehand.").json()
    assert final["review_outcome"] == "dismissed" and final["reviewed_by"] == "lms"
    assert review(hooked["lms"], alert, outcome="dismissed", note="She had told the proctor beforehand.") \
        .status_code == 200  # the same decision again (a retry) changes nothing
    refused = review(hooked["ines"], alert, outcome="confirmed")
    assert refused.status_code == 409 and refused.json()["error"] == "already_decided"
    assert Alert.objects.get(pk=alert.pk).review_outcome == "dismissed"
    sent = [d.payload for d in WebhookDelivery.objects.filter(event="alert.reviewed").order_by("created_at")]
    assert [p["data"]["review"]["outcome"] for p in sent] == ["needs_follow_up", "dismissed"]
    assert sent[1]["data"]["review"]["note"] == "She had told the proctor beforehand."
    assert sent[1]["data"]["review"]["reviewed_by"] == "lms" and sent[1]["data"]["alert"]["kind"] == "absent"


@pytest.mark.parametrize("body, error", [
    ({"outcome": "guilty"}, "outcome"),
    ({"outcome": "confirmed", "note": "x" * 2001}, "note"),
    ({"note": "a note without a decision"}, "invalid_note"),
    ({"outcome": ["confirmed"]}, "outcome"),
])
def test_bad_reviews_are_400_json_and_change_nothing(hooked, body, error):
    alert = Alert.objects.get(kind="absent")
    response = review(hooked["ines"], alert, **body)
    assert response.status_code == 400 and error in response.content.decode()
    alert.refresh_from_db()
    assert alert.review_outcome == "" and alert.reviewed_at is None


def test_the_same_rights_as_before_and_the_learner_reads_the_outcome_not_the_note(hooked):
    alert = Alert.objects.get(kind="absent")
    assert review(hooked["lea"], alert, outcome="confirmed").status_code == 403  # the learner
    assert review(hooked["otto"], alert, outcome="confirmed").status_code == 403  # another course
    assert review(hooked["ines"], alert, outcome="confirmed", note="Two people in the room.").status_code == 200
    mine = client_for(hooked["lea"]).get("/api/v1/alerts/?kind=absent").json()["results"][0]
    assert mine["review_outcome"] == "confirmed" and "review_note" not in mine
    report = client_for(hooked["lea"]).get(f"/api/v1/sessions/{hooked['mine'].id}/report/").json()
    assert all("review_note" not in a for a in report["alerts"])
    seen = client_for(hooked["ines"]).get(f"/api/v1/sessions/{hooked['mine'].id}/report/").json()
    assert [a["review_note"] for a in seen["alerts"] if a["kind"] == "absent"] == ["Two people in the room."]
