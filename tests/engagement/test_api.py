"""The /analyze-mood and /batch-analyze-mood endpoints: contract, logging and every bad input."""
import json

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from engagement.models import EngagementLog
from tests import images

SEED = "/analyze-mood"
V1 = "/api/v1/engagement/analyze-mood"
BATCH = "/batch-analyze-mood"
BATCH_V1 = "/api/v1/engagement/batch-analyze-mood"
EMOTIONS = {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
FACE = images.data_url(images.webcam_face())
# Transactional: in the scaled set-up a Celery worker analyses and stores the frames in its own transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False and body["error"] == code and body["message"]
    return body


@pytest.mark.parametrize("url", [SEED, V1, SEED + "/", V1 + "/"])
def test_astronaut_is_happy_and_highly_engaged(api, url):
    response = api.post(url, {"image": images.data_url(images.astronaut()), "timestamp": "2026-11-26T10:00:00Z"},
                        format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert body["dominant_emotion"] == "happy" and body["engagement_status"] == "highly_engaged"
    assert body["engagement_score"] >= 70
    assert set(body["emotions"]) == EMOTIONS and sum(body["emotions"].values()) == pytest.approx(100, abs=0.1)
    assert "Excellent focus! Keep up the great work!" in body["recommendations"]
    assert body["gender"] in ("Man", "Woman") and isinstance(body["age"], int)
    assert body["timestamp"] == "2026-11-26T10:00:00+00:00"
    assert body["face_count"] == 1 and set(body["region"]) == {"x", "y", "w", "h"}
    assert body["processing_ms"] > 0 and body["engine"] == "bundled"
    assert EngagementLog.objects.count() == 0  # no session id: nothing stored


def test_bare_base64_and_multipart_upload(api):
    bare = FACE.split(",", 1)[1]
    assert api.post(SEED, {"image": bare}, format="json").json()["dominant_emotion"] == "happy"
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("frame.jpg", images.encode(images.webcam_face()), content_type="image/jpeg")
    response = api.post(SEED, {"image": upload, "session_id": "s-1"}, format="multipart")
    assert response.status_code == 200 and response.json()["dominant_emotion"] == "happy"
    assert EngagementLog.objects.filter(session_key="s-1").count() == 1


def test_session_id_stores_one_log_row_without_the_image(api, user):
    body = api.post(SEED, {"image": FACE, "session_id": "exam-42", "timestamp": "2026-11-26T10:00:05+01:00"},
                    format="json").json()
    log = EngagementLog.objects.get()
    assert log.user == user and log.session_key == "exam-42"
    assert log.frame_time.isoformat() == "2026-11-26T09:00:05+00:00"
    assert log.engagement_status == body["engagement_status"] and log.dominant_emotion == "happy"
    assert log.emotions == body["emotions"] and log.engagement_score == body["engagement_score"]
    assert (log.face_count, log.age, log.gender, log.engine) == (1, body["age"], body["gender"], "bundled")
    stored = json.dumps([f.value_to_string(log) for f in EngagementLog._meta.fields])
    assert "base64" not in stored and len(stored) < 2000  # derived metrics only


def test_anonymous_is_401(anonymous_api):
    response = anonymous_api.post(SEED, {"image": FACE}, format="json")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"
    assert_error(anonymous_api.post(BATCH, {"frames": [{"image": FACE}]}, format="json"), 401, "not_authenticated")


def test_session_login_works_with_csrf(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(SEED, {"image": FACE}, format="json").status_code == 403  # CSRF token missing
    client.get("/accounts/login/")
    token = client.cookies["csrftoken"].value
    response = client.post(SEED, {"image": FACE}, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json()["success"] is True


def test_no_face_is_200_with_success_false(api):
    response = api.post(SEED, {"image": images.data_url(images.no_face_images()["coffee"]), "session_id": "s"},
                        format="json")
    body = assert_error(response, 200, "no_face")
    assert body["face_count"] == 0
    assert EngagementLog.objects.get().error == "no_face"  # the frame was analysed: it is logged


def test_face_too_small(api):
    body = assert_error(api.post(SEED, {"image": images.data_url(images.small_face())}, format="json"), 200,
                        "face_too_small")
    assert body["face_count"] == 1 and body["region"]["w"] < 48


def test_two_faces_report_face_count(api):
    body = api.post(SEED, {"image": images.data_url(images.two_faces())}, format="json").json()
    assert body["success"] is True and body["face_count"] == 2


def test_detector_backend_skip(api):
    crop = images.astronaut()[40:240, 150:350]
    body = api.post(SEED, {"image": images.data_url(crop), "detector_backend": "skip"}, format="json").json()
    assert body["success"] and body["region"] == {"x": 0, "y": 0, "w": 200, "h": 200}


@pytest.mark.parametrize(
    "payload, code",
    [
        ({}, "no_image"),
        ({"image": ""}, "no_image"),
        ({"image": None}, "no_image"),
        ({"image": ["a"]}, "invalid_image"),
        ({"image": "@@@ not base64 @@@"}, "invalid_base64"),
        ({"image": "data:text/plain;base64,aGVsbG8gd29ybGQ="}, "not_an_image"),  # "hello world"
        ({"image": images.data_url(images.astronaut())[:2000]}, "invalid_base64"),  # cut mid-way
        ({"image": FACE, "timestamp": "yesterday"}, "invalid_timestamp"),
        ({"image": FACE, "detector_backend": "retinaface"}, "invalid_detector"),
        ({"image": FACE, "session_id": "x" * 200}, "invalid_session_id"),
        ({"image": FACE, "session_id": "s\x00"}, "invalid_session_id"),  # PostgreSQL refuses NUL (a 500 there)
    ],
)
def test_bad_json_input_is_400(api, payload, code):
    assert_error(api.post(SEED, payload, format="json"), 400, code)
    assert EngagementLog.objects.count() == 0


@pytest.mark.parametrize(
    "payload, code",
    [
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF", "not_an_image"),
        (images.encode(images.webcam_face())[:5000], "corrupt_image"),  # truncated JPEG
        (images.decompression_bomb_png(), "image_too_large"),
    ],
)
def test_bad_images_are_400(api, payload, code):
    import base64

    body = {"image": base64.b64encode(payload).decode(), "session_id": "s"}
    assert_error(api.post(SEED, body, format="json"), 400, code)
    assert EngagementLog.objects.count() == 0


def test_malformed_json_is_400(api):
    response = api.post(SEED, b'{"image": "abc"', content_type="application/json")
    assert_error(response, 400, "parse_error")
    assert_error(api.post(SEED, b"[1, 2]", content_type="application/json"), 400, "invalid_request")


def test_wrong_content_type_is_415(api):
    assert_error(api.post(SEED, b"image=abc", content_type="text/plain"), 415, "unsupported_media_type")
    assert_error(api.post(BATCH, b"frames=abc", content_type="application/x-www-form-urlencoded"), 415,
                 "unsupported_media_type")


def test_body_over_the_limit_is_413(api, settings):
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "MAX_REQUEST_BYTES": 20_000, "MAX_BATCH_REQUEST_BYTES": 20_000}
    assert_error(api.post(SEED, {"image": FACE}, format="json"), 413, "payload_too_large")
    assert_error(api.post(BATCH, {"frames": [{"image": FACE}]}, format="json"), 413, "payload_too_large")


@pytest.mark.embedded_only  # breaks this process's engine; workers have their own
def test_engine_failure_is_503_and_logged(api, settings, fresh_engine, tmp_path, monkeypatch, caplog):
    broken = tmp_path / "emotion_model_quantized.tflite"
    broken.write_bytes(b"not a model")  # what a damaged installation looks like
    monkeypatch.setattr("engagement.engines.emotion.fer_model_path", lambda *a: broken)
    monkeypatch.setattr("engagement.engines.emotion.OWN_MODEL", broken)
    response = api.post(SEED, {"image": FACE, "session_id": "s"}, format="json")
    assert_error(response, 503, "engine_unavailable")
    assert "analysis engine failed" in caplog.text
    assert EngagementLog.objects.count() == 0


def test_batch_summary_and_order(api, user):
    frames = [
        {"image": FACE, "timestamp": "2026-11-26T10:00:00Z"},
        {"image": "not base64!", "timestamp": "2026-11-26T10:00:01Z"},
        {"image": images.data_url(images.no_face_images()["rocket"]), "timestamp": "2026-11-26T10:00:02Z"},
        {"image": images.data_url(images.two_faces()), "timestamp": "2026-11-26T10:00:03Z"},
        "not an object",
        {"image": images.data_url(images.astronaut()), "timestamp": "bad time"},
    ]
    response = api.post(BATCH_V1, {"frames": frames, "session_id": "batch-1"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    results = body["results"]
    assert [r["success"] for r in results] == [True, False, False, True, False, False]
    assert [r.get("error") for r in results] == [None, "invalid_base64", "no_face", None, "invalid_frame",
                                                 "invalid_timestamp"]
    assert results[3]["face_count"] == 2
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4, 5]  # no_face and analysed results too
    summary = body["summary"]
    assert (summary["total_frames"], summary["analyzed_frames"], summary["failed_frames"]) == (6, 2, 4)
    scores = [results[0]["engagement_score"], results[3]["engagement_score"]]
    assert summary["average_engagement_score"] == pytest.approx(sum(scores) / 2, abs=0.01)
    assert summary["dominant_emotion"] == "happy" and summary["engagement_status"] == "highly_engaged"
    assert summary["status_counts"] == {"highly_engaged": 2}
    assert set(summary["emotion_averages"]) == EMOTIONS
    # Analysed frames (the no-face one included) are logged, in order; failed decodes are not.
    logs = list(EngagementLog.objects.filter(session_key="batch-1").order_by("frame_time"))
    assert [log.error for log in logs] == ["", "no_face", ""]
    assert all(log.user == user for log in logs)


def test_batch_matches_single_frame_answers(api):
    frames = [{"image": images.data_url(im)} for im in (images.webcam_face(), images.two_faces())]
    batch = api.post(BATCH, {"frames": frames}, format="json").json()["results"]
    for frame, result in zip(frames, batch):
        single = api.post(SEED, frame, format="json").json()
        assert result["emotions"] == pytest.approx(single["emotions"], abs=0.05)
        assert (result["region"], result["engagement_status"]) == (single["region"], single["engagement_status"])


@pytest.mark.parametrize(
    "payload, code",
    [
        ({}, "invalid_frames"),
        ({"frames": []}, "invalid_frames"),
        ({"frames": "abc"}, "invalid_frames"),
        ({"frames": [{"image": FACE}] * 101}, "batch_too_large"),
        ({"frames": [{"image": FACE}], "detector_backend": "yolo"}, "invalid_detector"),
    ],
)
def test_bad_batches_are_400(api, payload, code):
    assert_error(api.post(BATCH, payload, format="json"), 400, code)


@override_settings()
def test_batch_limit_is_a_setting(api, settings):
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "BATCH_MAX_FRAMES": 2}
    assert_error(api.post(BATCH, {"frames": [{"image": FACE}] * 3}, format="json"), 400, "batch_too_large")
    assert api.post(BATCH, {"frames": [{"image": FACE}] * 2}, format="json").status_code == 200


def test_get_is_405_json(api):
    assert_error(api.get(SEED), 405, "method_not_allowed")


@pytest.mark.parametrize("value, stored", [
    ("2026-11-26T10:00:00-21:16", "2026-11-27T07:16:00+00:00"),  # PostgreSQL refuses this offset as such
    ("2026-11-26T10:00:00", "2026-11-26T10:00:00+00:00"),  # naive means UTC
])
def test_timestamps_are_stored_in_utc(api, value, stored):
    body = api.post(SEED, {"image": FACE, "timestamp": value, "session_id": "tz"}, format="json").json()
    assert body["timestamp"] == stored
    assert EngagementLog.objects.get().frame_time.isoformat() == stored


def test_timestamp_out_of_range_is_400(api):
    assert_error(api.post(SEED, {"image": FACE, "timestamp": "0001-01-01T00:00:00+05:00"}, format="json"), 400,
                 "invalid_timestamp")


@pytest.mark.embedded_only  # the budget is changed in this process's settings; workers read their own
def test_a_batch_over_its_pixel_budget_fails_frame_by_frame(api, settings):
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "BATCH_MAX_PIXELS": 2 * 640 * 480}
    frames = [{"image": FACE}] * 3  # 640x480 each: one of the three does not fit (frames decode in parallel)
    body = api.post(BATCH, {"frames": frames}, format="json").json()
    assert sorted(str(r.get("error")) for r in body["results"]) == ["None", "None", "batch_too_large"]
    assert body["summary"]["analyzed_frames"] == 2
