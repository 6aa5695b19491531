"""The bundled engine on real images with the real models."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from engagement.engines import build_engine, get_engine
from engagement.engines.base import DETECTORS, EMOTIONS
from engagement.engines.detectors import DETECTOR_CLASSES, FaceDetector
from tests import images

BUNDLED = "engagement.engines.bundled.BundledEngine"


@pytest.fixture(scope="module")
def engine():
    return get_engine()


def test_astronaut_is_happy_with_age_and_gender(engine):
    result = engine.analyze(images.astronaut())
    assert result.error is None and result.face_count == 1
    assert set(result.emotions) == set(EMOTIONS)
    assert sum(result.emotions.values()) == pytest.approx(100, abs=0.01)
    assert max(result.emotions, key=result.emotions.get) == "happy"
    assert result.gender in ("Man", "Woman") and 1 <= result.age <= 100
    # The box sits on her face (upper middle of the picture), not anywhere.
    assert 150 < result.face.x < 300 and 40 < result.face.y < 150 and 60 < result.face.w < 140


@pytest.mark.parametrize("name", sorted(images.no_face_images()))
def test_photos_without_a_face(engine, name):
    result = engine.analyze(images.no_face_images()[name])
    assert result.face_count == 0 and result.error == "no_face" and result.emotions is None


def test_two_faces_are_counted_and_the_largest_analysed(engine):
    result = engine.analyze(images.two_faces())
    assert result.face_count == 2 and result.error is None
    assert max(result.emotions, key=result.emotions.get) == "happy"


def test_small_face_is_found_but_refused(engine):
    result = engine.analyze(images.small_face())
    assert result.face_count == 1 and result.error == "face_too_small" and result.face.w < 48


def test_skip_detector_takes_the_whole_image(engine):
    crop = images.astronaut()[40:240, 150:350]  # a browser-side crop around the face
    result = engine.analyze(crop, detector="skip")
    assert result.face_count == 1 and result.face.as_dict() == {"x": 0, "y": 0, "w": 200, "h": 200}
    assert max(result.emotions, key=result.emotions.get) == "happy"


def test_opencv_detector_finds_the_same_face(engine):
    result = engine.analyze(images.webcam_face(), detector="opencv")
    assert result.face_count == 1 and max(result.emotions, key=result.emotions.get) == "happy"


def test_batch_equals_one_by_one(engine):
    frames = [images.webcam_face(), images.no_face_images()["coffee"], images.two_faces(), images.astronaut()]
    batch = engine.analyze_many(frames)
    for frame, together in zip(frames, batch):
        alone = engine.analyze(frame)
        assert (together.face_count, together.error, together.face) == (alone.face_count, alone.error, alone.face)
        if alone.emotions:
            assert together.emotions == pytest.approx(alone.emotions, abs=0.05)
            assert (together.age, together.gender) == (alone.age, alone.gender)


def test_threads_share_one_engine_safely(engine):
    frames = [images.webcam_face(), images.two_faces()] * 6
    expected = [engine.analyze(f) for f in frames]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(engine.analyze, frames))
    for a, b in zip(expected, got):
        assert (a.face, a.age, a.gender) == (b.face, b.age, b.gender)
        assert a.emotions == pytest.approx(b.emotions, abs=0.05)


def test_age_gender_off_is_never_computed():
    engine = build_engine({"ENGINE": BUNDLED, "OPTIONS": {"age_gender": False}})
    result = engine.analyze(images.webcam_face())
    assert result.error is None and result.age is None and result.gender is None
    assert "age_gender" not in result.timings


def test_age_gender_off_for_one_call(engine):
    """A caller (an exam) may skip age and gender for its frames while the engine infers them for others."""
    skipped = engine.analyze(images.webcam_face(), age_gender=False)
    [batched] = engine.analyze_many([images.webcam_face()], age_gender=False)
    for result in (skipped, batched):
        assert result.error is None and result.age is None and result.gender is None
        assert "age_gender" not in result.timings
    assert engine.analyze(images.webcam_face()).age is not None


def test_unknown_options_are_rejected():
    with pytest.raises(ImproperlyConfigured, match="colour"):
        build_engine({"ENGINE": BUNDLED, "OPTIONS": {"colour": "blue"}})
    with pytest.raises(ImproperlyConfigured):
        build_engine({"ENGINE": BUNDLED, "OPTIONS": {"detector": "mtcnn"}})
    with pytest.raises(ImproperlyConfigured):
        build_engine({"ENGINE": "engagement.engines.nope.Engine"})


def test_grey_and_tiny_images_do_not_crash(engine):
    assert engine.analyze(np.zeros((1, 1, 3), np.uint8)).error == "no_face"
    assert engine.analyze(np.zeros((8, 8, 3), np.uint8), detector="skip").error is None


def test_every_detector_a_client_may_name_is_a_class_of_the_registry(engine):
    """Detectors are found by name like engines: the contract's names, each a FaceDetector, each used by name."""
    assert tuple(DETECTOR_CLASSES) == DETECTORS
    assert all(issubclass(cls, FaceDetector) for cls in DETECTOR_CLASSES.values())
    frame = images.astronaut()
    for name in DETECTORS:
        found = engine.analyze(frame, detector=name)
        assert found.face_count == 1 and found.error is None, name
        # Only the skip detector takes the whole frame; BlazeFace alone gives keypoints (a head pose).
        assert (found.face.w == frame.shape[1]) == DETECTOR_CLASSES[name].whole_image, name
        assert (found.head_pose is not None) == (name == "blazeface"), name
