"""The LMS REST API for every role: sessions, reports, logs, alerts, webhooks, schema; and the denials."""
from datetime import datetime, timedelta, timezone

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIClient

from engagement import services as engagement_services
from monitor import services
from monitor.models import Alert, CourseAssignment, ExamSession, SessionStatus, Webhook
from tests import images
from tests.tokens import token_for

pytestmark = pytest.mark.django_db
User = get_user_model()
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
FRAMES = {"face": images.encode(images.webcam_face()), "empty": images.encode(images.no_face_images()["coffee"]),
          "two": images.encode(images.two_faces())}


def client_for(user):
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def record(session, frames):
    """Analyse real frames with the real engine and record them in the session, 5 s apart."""
    for i, name in enumerate(frames):
        result = engagement_services.frame_analyze(frame=engagement_services.Frame(
            image=FRAMES[name], timestamp=(T0 + timedelta(seconds=5 * i)).isoformat()))
        services.session_frame_record(session_id=session.id, user=session.learner, result=result)


@pytest.fixture
def world(settings):
    """An LMS account, two instructors (courses c1 / c2), two learners with a session each, and a stranger."""
    settings.MONITOR = {**settings.MONITOR, "ABSENT_SECONDS": 5}
    lms = User.objects.create_user("lms", password="x" * 12)
    lms.user_permissions.add(Permission.objects.get(codename="add_examsession"))
    instructors = Group.objects.get(name="Instructors")
    ines = User.objects.create_user("ines", password="x" * 12, is_staff=True)
    otto = User.objects.create_user("otto", password="x" * 12, is_staff=True)
    for user, course in ((ines, "c1"), (otto, "c2")):
        user.groups.add(instructors)
        CourseAssignment.objects.create(instructor=user, course_id=course)
    lea = User.objects.create_user("lea", password="x" * 12)
    bob = User.objects.create_user("bob", password="x" * 12)
    tenant = services.tenant_of_account(account=lms)  # the LMS account's sessions, as its API calls make them
    mine = services.session_create(learner=lea, course_id="c1", exam_id="midterm", tenant=tenant)
    record(mine, ["face", "face", "empty", "empty", "empty", "face", "two", "two"])
    theirs = services.session_create(learner=bob, course_id="c2", exam_id="final", tenant=tenant)
    record(theirs, ["face"])
    return {"lms": lms, "ines": ines, "otto": otto, "lea": lea, "bob": bob, "mine": mine, "theirs": theirs}


def ids(response):
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["results"]}


def test_session_list_per_role(world):
    mine, theirs = str(world["mine"].id), str(world["theirs"].id)
    assert ids(client_for(world["lms"]).get("/api/v1/sessions/")) == {mine, theirs}
    assert ids(client_for(world["ines"]).get("/api/v1/sessions/")) == {mine}
    assert ids(client_for(world["otto"]).get("/api/v1/sessions/")) == {theirs}
    assert ids(client_for(world["lea"]).get("/api/v1/sessions/")) == {mine}
    assert client_for(None).get("/api/v1/sessions/").status_code == 401


@pytest.mark.parametrize("query, expected", [
    ("course=c1", {"mine"}), ("exam=final", {"theirs"}), ("learner=bob", {"theirs"}), ("status=active", {"mine", "theirs"}),
    ("status=ended", set()), ("created_after=2000-01-01T00:00:00Z", {"mine", "theirs"}),
    ("created_before=2000-01-01T00:00:00Z", set()),
])
def test_session_filters(world, query, expected):
    assert ids(client_for(world["lms"]).get(f"/api/v1/sessions/?{query}")) == {str(world[k].id) for k in expected}


@pytest.mark.parametrize("query", ["status=sleeping", "created_after=yesterday", "page=99"])
def test_bad_filters_are_4xx_json(world, query):
    response = client_for(world["lms"]).get(f"/api/v1/sessions/?{query}")
    assert response.status_code in (400, 404) and response.json()["success"] is False


def test_pagination(world):
    body = client_for(world["lms"]).get("/api/v1/sessions/?page_size=1").json()
    assert body["count"] == 2 and len(body["results"]) == 1 and "page=2" in body["next"]
    second = client_for(world["lms"]).get(body["next"]).json()
    assert len(second["results"]) == 1 and second["results"][0]["id"] != body["results"][0]["id"]
    logs = client_for(world["lms"]).get(f"/api/v1/sessions/{world['mine'].id}/logs/").json()
    assert logs["count"] == 8 and len(logs["results"]) == 8 and logs["next"] is None


def test_session_detail_and_denials(world):
    url = f"/api/v1/sessions/{world['mine'].id}/"
    assert client_for(world["ines"]).get(url).json()["learner"] == "lea"
    assert client_for(world["lea"]).get(url).status_code == 200
    for who in ("otto", "bob"):
        response = client_for(world[who]).get(url)
        assert response.status_code == 403 and response.json()["error"] == "permission_denied"
    assert client_for(None).get(url).status_code == 401
    missing = client_for(world["lms"]).get("/api/v1/sessions/00000000-0000-0000-0000-000000000000/")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    garbage = client_for(world["lms"]).get("/api/v1/sessions/not-a-uuid/")
    assert garbage.status_code == 404 and garbage.json()["success"] is False


def test_report(world):
    body = client_for(world["ines"]).get(f"/api/v1/sessions/{world['mine'].id}/report/").json()
    assert body["session"]["id"] == str(world["mine"].id)
    assert body["summary"]["frames"] == 8 and body["summary"]["no_face_frames"] == 3
    timeline = body["timeline"]
    assert len(timeline) == 8 and [p["face_count"] for p in timeline] == [1, 1, 0, 0, 0, 1, 2, 2]
    assert timeline[2]["score"] is None and timeline[2]["smoothed_score"] == timeline[1]["smoothed_score"]
    assert sum(body["status_shares"].values()) == pytest.approx(1, abs=0.001)
    assert body["emotion_shares"]["happy"] > 80  # the smiling face reads as clearly happy (88.9 % with the shipped model)
    assert {a["kind"] for a in body["alerts"]} == {"absent", "multiple_faces"}
    assert client_for(world["bob"]).get(f"/api/v1/sessions/{world['mine'].id}/report/").status_code == 403


def test_logs_filters(world):
    url = f"/api/v1/sessions/{world['mine'].id}/logs/"
    client = client_for(world["lea"])
    assert client.get(url + "?success=false").json()["count"] == 3
    assert client.get(url + "?status=highly_engaged").json()["count"] == 5
    since = (T0 + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    assert client.get(url, {"since": since}).json()["count"] == 2
    assert client.get(url + "?since=noon").status_code == 400
    assert client_for(world["otto"]).get(url).status_code == 403


def test_end_is_for_the_lms_only(world):
    url = f"/api/v1/sessions/{world['mine'].id}/end/"
    for who in ("ines", "lea", "bob"):
        assert client_for(world[who]).post(url).status_code == 403
    response = client_for(world["lms"]).post(url)
    assert response.status_code == 200 and response.json()["status"] == SessionStatus.ENDED
    assert response.json()["summary"]["frames"] == 8


def test_alert_list_and_filters(world):
    lms = client_for(world["lms"])
    assert {a["kind"] for a in lms.get("/api/v1/alerts/").json()["results"]} == {"absent", "multiple_faces"}
    assert [a["kind"] for a in lms.get("/api/v1/alerts/?kind=absent").json()["results"]] == ["absent"]
    assert lms.get("/api/v1/alerts/?course=c2").json()["count"] == 0
    assert lms.get("/api/v1/alerts/?reviewed=true").json()["count"] == 0
    assert lms.get("/api/v1/alerts/?reviewed=false").json()["count"] == 2
    assert lms.get("/api/v1/alerts/?kind=sleeping").status_code == 400
    assert client_for(world["otto"]).get("/api/v1/alerts/").json()["count"] == 0
    assert client_for(world["lea"]).get("/api/v1/alerts/").json()["count"] == 2  # her own session's


def test_alert_review_records_the_reviewer(world):
    alert = Alert.objects.get(kind="absent")
    url = f"/api/v1/alerts/{alert.pk}/review/"
    assert client_for(world["lea"]).post(url).status_code == 403  # learners do not review
    assert client_for(world["otto"]).post(url).status_code == 403  # another course
    response = client_for(world["ines"]).post(url)
    assert response.status_code == 200 and response.json()["reviewed_by"] == "ines"
    alert.refresh_from_db()
    assert alert.reviewed_by == world["ines"] and alert.reviewed_at is not None
    again = client_for(world["lms"]).post(url).json()
    assert again["reviewed_by"] == "ines"  # the first review stands
    assert client_for(world["lms"]).get("/api/v1/alerts/?reviewed=true").json()["count"] == 1
    assert client_for(world["lms"]).post("/api/v1/alerts/999999/review/").status_code == 404


@pytest.mark.parametrize("payload, field", [
    ({"url": "ftp://lms.example/hook", "secret": "s" * 20, "events": ["alert.opened"]}, "url"),
    ({"url": "file:///etc/passwd", "secret": "s" * 20, "events": ["alert.opened"]}, "url"),
    ({"url": "http://127.0.0.1:9/hook", "secret": "short", "events": ["alert.opened"]}, "secret"),
    ({"url": "http://127.0.0.1:9/hook", "secret": "s" * 20, "events": ["alert.exploded"]}, "events"),
    ({"url": "http://127.0.0.1:9/hook", "secret": "s" * 20, "events": []}, "events"),
    ({"url": "http://127.0.0.1:9/hook", "secret": "s" * 20, "events": "alert.opened"}, "events"),
])
def test_bad_webhooks_are_400(world, payload, field):
    response = client_for(world["lms"]).post("/api/v1/webhooks/", payload, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]


def test_webhooks_are_the_lms_own(world):
    # A public address (no DNS needed offline): internal ones are refused (test_webhooks.py).
    payload = {"url": "https://93.184.215.14/hook", "secret": "s" * 20, "events": ["alert.opened", "session.ended"]}
    lms = client_for(world["lms"])
    created = lms.post("/api/v1/webhooks/", payload, format="json")
    assert created.status_code == 201 and "secret" not in created.json()
    hook = Webhook.objects.get()
    assert hook.owner == world["lms"] and hook.secret == "s" * 20
    assert [h["url"] for h in lms.get("/api/v1/webhooks/").json()["results"]] == ["https://93.184.215.14/hook"]
    assert lms.patch(f"/api/v1/webhooks/{hook.pk}/", {"active": False}, format="json").json()["active"] is False
    assert lms.get(f"/api/v1/webhooks/{hook.pk}/deliveries/").json()["count"] == 0
    for who in ("ines", "lea"):
        assert client_for(world[who]).post("/api/v1/webhooks/", payload, format="json").status_code == 403
        assert client_for(world[who]).get("/api/v1/webhooks/").status_code == 403
    assert client_for(None).get("/api/v1/webhooks/").status_code == 401
    assert lms.delete(f"/api/v1/webhooks/{hook.pk}/").status_code == 204
    assert lms.get(f"/api/v1/webhooks/{hook.pk}/").status_code == 404


def test_malformed_json_and_wrong_types_are_400(world):
    lms = client_for(world["lms"])
    assert lms.post("/api/v1/sessions/", b"{not json", content_type="application/json").status_code == 400
    assert lms.post("/api/v1/webhooks/", b"[]", content_type="application/json").status_code == 400
    response = lms.post("/api/v1/sessions/", {"learner": 3.5, "course_id": ["c"], "exam_id": {}}, format="json")
    assert response.status_code == 400 and response.json()["success"] is False


def test_schema_and_docs_work_offline(client):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    spec = schema.json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/sessions/", "/api/v1/sessions/{session_id}/report/", "/api/v1/alerts/{alert_id}/review/",
                 "/api/v1/webhooks/", "/analyze-mood", "/api/v1/engagement/batch-analyze-mood"):
        assert any(p.rstrip("/") == path.rstrip("/") for p in spec["paths"]), path
    # The report's summary is documented field by field (Swagger showed a free object: additionalProp1).
    report = spec["components"]["schemas"]["Report"]["properties"]["summary"]
    ref = (report.get("allOf") or report.get("oneOf") or [report])[0]["$ref"].rsplit("/", 1)[1]
    assert {"frames", "seconds_by_status", "duration_seconds"} <= set(spec["components"]["schemas"][ref]["properties"])
    docs = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs
    assert "cdn." not in docs and "unpkg" not in docs and "jsdelivr" not in docs
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")  # served by our own app


def test_date_filters_accept_any_offset_and_refuse_out_of_range(world):
    lms = client_for(world["lms"])
    assert ids(lms.get("/api/v1/sessions/", {"created_after": "0144-01-09T04:39:08-21:16"})) == {
        str(world["mine"].id), str(world["theirs"].id)}
    response = lms.get("/api/v1/sessions/", {"created_after": "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 400 and response.json()["success"] is False


def test_course_ids_of_lti_launches_are_reserved(world):
    lms = client_for(world["lms"])
    response = lms.post("/api/v1/sessions/", {"learner": world["lea"].username, "course_id": "lti:0123456789:7",
                                              "exam_id": "quiz"}, format="json")
    assert response.status_code == 400 and "reserved for LTI launches" in str(response.json())
    assert not ExamSession.objects.filter(course_id__startswith="lti:").exists()
