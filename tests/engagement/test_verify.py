"""POST /verify-faces: the same person and two people on package photos, the contract, and every bad input."""
import base64

import numpy as np
import pytest
from PIL import Image

from engagement.engines.base import AnalysisEngine, FrameAnalysis
from tests import images

SEED = "/verify-faces"
V1 = "/api/v1/engagement/verify-faces"
ASTRONAUT = images.data_url(images.astronaut())
pytestmark = pytest.mark.django_db(transaction=True)


def verify(api, img1, img2, url=V1, **extra):
    response = api.post(url, {"img1": img1, "img2": img2, **extra}, format="json")
    assert response["Content-Type"].startswith("application/json")
    return response


def assert_error(response, status, code, says=""):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["error"] == code and says in body["message"]
    return body


@pytest.mark.parametrize("url", [SEED, V1, V1 + "/"])
def test_the_astronaut_in_a_webcam_frame_is_the_astronaut(api, url):
    response = verify(api, ASTRONAUT, images.data_url(images.webcam_face()), url)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True and body["verified"] is True
    assert 0 <= body["distance"] < body["threshold"] == 0.6
    assert body["model"] == "dlib_resnet_v1"
    assert [face["face_count"] for face in body["faces"]] == [1, 1]
    assert all(set(face["region"]) == {"x", "y", "w", "h"} for face in body["faces"])
    # The webcam frame shows her face larger than the photo does (177 px against 105).
    assert body["faces"][1]["region"]["w"] > body["faces"][0]["region"]["w"]
    assert body["processing_ms"] > 0 and {"decode", "describe_img1", "describe_img2"} <= set(body["timings_ms"])


@pytest.mark.parametrize("other", [
    pytest.param(lambda: images.astronaut()[:, ::-1], id="mirrored"),
    pytest.param(lambda: images.composed_face(90, "grey", (420, 260)), id="small-and-shifted"),
])
def test_a_mirrored_or_moved_face_is_the_same_person(api, other):
    body = verify(api, ASTRONAUT, images.data_url(np.ascontiguousarray(other()), "PNG")).json()
    assert body["verified"] is True and body["distance"] < body["threshold"]


@pytest.mark.parametrize("detector", ["blazeface", "dlib"])
def test_two_people_are_not_verified(api, detector):
    body = verify(api, ASTRONAUT, images.data_url(images.webcam_hopper()), detector_backend=detector).json()
    assert body["success"] is True and body["verified"] is False
    assert body["distance"] > body["threshold"]


def test_the_largest_face_is_compared(api):
    # A small astronaut in a corner of Grace Hopper's frame: Grace Hopper's face, the larger, is the one compared.
    frame = np.array(images.webcam_hopper())
    frame[300:480, 0:180] = np.asarray(Image.fromarray(images.astronaut()[20:320, 160:460]).resize((180, 180)))
    body = verify(api, ASTRONAUT, images.data_url(frame)).json()
    assert body["faces"][1]["face_count"] == 2 and body["verified"] is False


def test_no_face_in_one_image_is_an_answer_that_names_it(api):
    response = verify(api, ASTRONAUT, images.data_url(images.no_face_images()["coffee"]))
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is False and body["error"] == "no_face" and body["image"] == "img2"
    assert "img2" in body["message"] and "verified" not in body and "distance" not in body
    assert body["faces"][0]["face_count"] == 1 and body["faces"][1] == {"region": None, "face_count": 0}
    first = verify(api, images.data_url(images.no_face_images()["rocket"]), ASTRONAUT).json()
    assert (first["error"], first["image"]) == ("no_face", "img1")


def test_a_face_too_small_to_compare_names_its_image(api):
    body = verify(api, images.data_url(images.small_face()), ASTRONAUT).json()
    assert body["success"] is False and body["error"] == "face_too_small" and body["image"] == "img1"


@pytest.mark.parametrize("payload, code, says", [
    ({"img2": ASTRONAUT}, "no_image", "img1"),
    ({"img1": ASTRONAUT}, "no_image", "img2"),
    ({"img1": ASTRONAUT, "img2": "not base64!"}, "invalid_base64", "img2"),
    ({"img1": 12, "img2": ASTRONAUT}, "invalid_image", "img1"),
    ({"img1": ASTRONAUT, "img2": "data:image/png;base64," + base64.b64encode(b"%PDF-1.4 not an image").decode()}, "not_an_image",
     "img2"),
    ({"img1": ASTRONAUT, "img2": ASTRONAUT, "detector_backend": "retinaface"}, "invalid_detector", "detector"),
])
def test_bad_input_is_a_400_naming_the_image(api, payload, code, says):
    assert_error(api.post(V1, payload, format="json"), 400, code, says)


def test_a_body_that_is_not_an_object_is_a_400(api):
    assert_error(api.post(V1, [ASTRONAUT, ASTRONAUT], format="json"), 400, "invalid_request")
    assert api.post(V1, "img1=x", content_type="text/plain").status_code == 415


def test_anonymous_is_401(anonymous_api):
    assert_error(verify(anonymous_api, ASTRONAUT, ASTRONAUT), 401, "not_authenticated")


def test_verification_shares_the_analysis_throttle(api, settings):
    settings.API_THROTTLE_RATES = {"user": None, "analyze": "2/minute", "batch": None}
    assert api.post("/analyze-mood", {"image": ASTRONAUT}, format="json").status_code == 200
    assert verify(api, ASTRONAUT, ASTRONAUT).status_code == 200
    response = verify(api, ASTRONAUT, ASTRONAUT)
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1


class EmotionOnlyEngine(AnalysisEngine):
    """An engine that implements only the analysis part of the contract, as a third party's might."""

    name = "emotion-only"

    def analyze(self, image, *, detector=None):
        return FrameAnalysis(face_count=0, error="no_face")


@pytest.mark.embedded_only  # the engine is changed in this process's settings; Celery workers keep their own
def test_an_engine_without_descriptors_answers_501(api, settings, fresh_engine):
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "ENGINE": f"{__name__}.EmotionOnlyEngine", "OPTIONS": {}}
    assert_error(verify(api, ASTRONAUT, ASTRONAUT), 501, "verification_unsupported", "cannot compare faces")


def test_the_schema_documents_verify_faces(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/engagement/verify-faces/"]["post"]
    assert operation["tags"] == ["engagement"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][request]["required"]) == {"img1", "img2"}
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    fields = schema["components"]["schemas"][answer]["properties"]
    assert {"success", "verified", "distance", "threshold", "model", "faces", "processing_ms",
            "timings_ms", "error", "image"} <= set(fields)
    assert {"400", "429", "501", "503"} <= set(operation["responses"])


def test_the_numpy_network_gives_dlib_s_own_descriptors():
    import dlib

    from engagement.engines import faceid

    files = {name: str(faceid.packaged_file(faceid.DISTRIBUTION, name))
             for name in (faceid.LANDMARKS_FILE, faceid.DESCRIPTOR_FILE)}
    landmarks = dlib.shape_predictor(files[faceid.LANDMARKS_FILE])
    dlib_network = dlib.face_recognition_model_v1(files[faceid.DESCRIPTOR_FILE])
    for frame in (images.webcam_face(), images.webcam_hopper(), images.astronaut()[:, ::-1]):
        frame = np.ascontiguousarray(frame)
        box = max(dlib.get_frontal_face_detector()(frame, 1), key=lambda r: r.area())
        chip = dlib.get_face_chip(frame, landmarks(frame, box), size=faceid.CHIP_SIZE, padding=faceid.CHIP_PADDING)
        ours = faceid.resnet_descriptor().describe(chip)
        assert ours.shape == (128,) and np.abs(ours - np.array(dlib_network.compute_face_descriptor(chip))).max() < 1e-5


def test_a_file_that_is_not_the_network_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    from engagement.engines import faceid

    with pytest.raises(ImproperlyConfigured, match="not dlib's face recognition ResNet"):
        faceid.ResNetDescriptor(faceid.packaged_file(faceid.DISTRIBUTION, faceid.LANDMARKS_FILE))
