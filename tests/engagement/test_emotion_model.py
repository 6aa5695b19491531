"""The project's own emotion model (ONNX, int8): shipped, loaded by default, deterministic, right on real faces."""
import numpy as np
import onnxruntime as ort
import pytest
from django.core.exceptions import ImproperlyConfigured
from skimage import data

from engagement.engines import build_engine, get_engine
from engagement.engines import emotion as emotion_models
from engagement.engines.base import EMOTIONS
from tests import images

BUNDLED = "engagement.engines.bundled.BundledEngine"


def lfw_face(index):
    """One of the 25x25 grey LFW faces scikit-image ships, as RGB."""
    face = (data.lfw_subset()[index] * 255).astype(np.uint8)
    return np.stack([face] * 3, axis=-1)


@pytest.fixture(scope="module")
def engine():
    return get_engine()


def test_the_shipped_model_loads_with_the_expected_shape():
    path = emotion_models.OWN_MODEL
    assert path.is_file() and path.stat().st_size < 10 * 1024 * 1024
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [inp], [out] = session.get_inputs(), session.get_outputs()
    assert inp.shape[1:] == [1, 48, 48] and out.name == "logits"
    logits = session.run(None, {inp.name: np.zeros((3, 1, 48, 48), np.float32)})[0]
    assert logits.shape == (3, 7)


def test_the_engine_uses_it_by_default_and_fers_on_request(engine):
    assert engine._emotion.name == "own" and engine._emotion.input_size == 48
    fer = build_engine({"ENGINE": BUNDLED, "OPTIONS": {"emotion_model": "fer", "age_gender": False}})
    assert fer._emotion.name == "fer"
    result = fer.analyze(images.webcam_face())
    assert max(result.emotions, key=result.emotions.get) == "happy"
    with pytest.raises(ImproperlyConfigured):
        build_engine({"ENGINE": BUNDLED, "OPTIONS": {"emotion_model": "vgg", "age_gender": False}})


def test_same_input_same_output():
    model = emotion_models.OwnEmotionModel()
    chips = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    first, second = model.probabilities(chips), model.probabilities(chips)
    assert np.array_equal(first, second)
    assert first.shape == (5, 7) and np.allclose(first.sum(axis=1), 1, atol=1e-5)
    # A batch gives each face what it gets alone.
    alone = np.concatenate([model.probabilities(chips[i:i + 1]) for i in range(5)])
    assert np.allclose(first, alone, atol=1e-5)


def webcam_chip(engine):
    """The engine's 48x48 grey crop of the composed webcam frame's face."""
    import cv2

    frame = images.webcam_face()
    return engine._emotion_chip(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), engine.analyze(frame).face, "blazeface")


def test_flip_averaging_is_on_by_default_inside_the_shipped_model(engine):
    # The shipped graph runs its network on views of the face, its mirror image among them, averages them and
    # says so; the engine then runs it once.
    model = engine._emotion
    assert engine.options["flip_average"] is True and model.mirror_inside
    views = model._session.get_modelmeta().custom_metadata_map["views"]
    assert views == "net1 on face, net1 on mirror"
    chips = np.stack([webcam_chip(engine), webcam_chip(engine)[:, ::-1]])
    raw = model._session.run(None, {model._input: chips.astype(np.float32)[:, None]})[0]
    assert np.allclose(model.probabilities(chips), emotion_models._softmax(raw), atol=1e-6)  # one run, no second
    # So a face and its mirror image get nearly the same answer (within a percentage point).
    probs = emotion_models._softmax(raw)
    assert np.allclose(probs[0], probs[1], atol=1e-2)
    with pytest.raises(ImproperlyConfigured, match="mirror image inside"):
        build_engine({"ENGINE": BUNDLED, "OPTIONS": {"flip_average": False, "age_gender": False}})


def test_a_single_network_model_is_averaged_with_its_mirror_by_the_engine(engine):
    single = emotion_models.OwnEmotionModel()
    single.mirror_inside = False  # as a model from `make train` (one network, no mirror_averaged mark) reads
    chips = webcam_chip(engine)[None]

    def run(x):
        return emotion_models._softmax(single._session.run(None, {single._input: x.astype(np.float32)[:, None]})[0])

    # The shipped graph already sees a mirror view, so this checks that the engine's own mirroring runs and
    # averages the right axis (an upside-down face gets another answer), not that it changes this graph's answer.
    expected = (run(chips) + run(chips[..., ::-1].copy())) / 2
    assert np.allclose(single.probabilities(chips), expected, atol=1e-5)
    assert not np.allclose(run(chips[:, ::-1].copy()), run(chips), atol=1e-3)


def test_a_happy_and_a_neutral_face(engine):
    happy = engine.analyze(images.webcam_face())
    assert max(happy.emotions, key=happy.emotions.get) == "happy" and happy.emotions["happy"] > 80
    neutral = engine.analyze(lfw_face(7), detector="skip")  # a man with a plain, closed-mouth face
    assert max(neutral.emotions, key=neutral.emotions.get) == "neutral"


def test_the_api_gives_what_the_model_gives_on_the_crop(api, engine):
    import cv2

    frame = images.webcam_face()
    body = api.post("/analyze-mood", {"image": images.data_url(frame, fmt="PNG")}, format="json").json()
    region = body["region"]
    analysed = engine.analyze(frame)
    assert region == analysed.face.as_dict()
    chip = engine._emotion_chip(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), analysed.face, "blazeface")
    direct = engine._emotion.probabilities(chip[None])[0] * 100
    assert [body["emotions"][name] for name in EMOTIONS] == pytest.approx(direct, abs=0.01)


def test_a_corrupt_model_file_fails_at_load(tmp_path, monkeypatch):
    broken = tmp_path / "emotion_fer2013.onnx"
    broken.write_bytes(b"not onnx")
    monkeypatch.setattr(emotion_models, "OWN_MODEL", broken)
    with pytest.raises(ImproperlyConfigured, match="cannot be loaded"):
        build_engine({"ENGINE": BUNDLED, "OPTIONS": {"age_gender": False}})


def test_the_shipped_model_runs_as_int8_kernels(tmp_path):
    """Every convolution fused into one int8 kernel: a weight or bias scale out of step (as a badly requantized
    file has) makes ONNX Runtime run the layer in float, about three times slower."""
    import json
    from pathlib import Path

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp_path / "profile")
    session = ort.InferenceSession(str(emotion_models.OWN_MODEL), options, providers=["CPUExecutionProvider"])
    session.run(None, {session.get_inputs()[0].name: np.full((1, 1, 48, 48), 128, np.float32)})
    events = json.loads(Path(session.end_profiling()).read_text())
    kernels = {e["args"]["op_name"] for e in events if e.get("cat") == "Node" and "op_name" in e.get("args", {})}
    assert "QLinearConv" in kernels and "Conv" not in kernels
