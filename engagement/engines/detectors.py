"""The bundled engine's face detectors: one class per detector a client may name, found by name in DETECTOR_CLASSES.

How each constant was chosen, with its figures, is in the model card (models/README.md, "Face detection").
"""
from __future__ import annotations

import abc
from typing import Any, ClassVar

import cv2
import dlib
import numpy as np
from django.core.exceptions import ImproperlyConfigured

from .base import FaceBox
from .blazeface import BlazeFace, Detection

FALLBACK_SIZE = 640  # long side of the second, finer dlib/Haar pass
# The finer pass upsamples, which lets HOG fire on textures at a score near 0; real faces there score >= 0.25.
FALLBACK_HOG_THRESHOLD = 0.1
# BlazeFace sees the frame at 192 px, where a face narrower than this share of the frame's long side scores
# unreliably: such candidates, and any scoring between SECOND_LOOK_SCORE and face_score, get a second look on an
# enlarged crop around them, where real faces score high and look-alikes (logos, posters) do not.
SMALL_FACE_SHARE = 1 / 14
SECOND_LOOK_SCORE = 0.2
# With no face after that, the best candidate scoring at least this gets one look too (dark, low-contrast faces).
FAINT_LOOK_SCORE = 0.1
SECOND_LOOKS = 3  # at most this many crops per frame, so that a busy empty room stays cheap
SECOND_LOOK_CONTEXT = 3.0  # crop side, in candidate box widths
SECOND_LOOK_MATCH = 0.3  # least overlap (IoU) of a second look's face with the candidate it confirms


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


class FaceDetector(abc.ABC):
    """Finds faces in one frame. Not thread-safe: the engine gives each concurrent frame its own instances."""

    # Margin added on each side of the box before the emotion crop, as a share of the box, so that the crop frames a
    # face as FER2013's do (the engine's face_padding option overrides it).
    padding: ClassVar[float] = 0.0
    whole_image: ClassVar[bool] = False  # the frame is the face: no size check, no padding

    def __init__(self, *, face_score: float, detection_size: int) -> None:
        self.face_score = face_score
        self.detection_size = detection_size

    @abc.abstractmethod
    def detect(self, gray: np.ndarray, rgb: np.ndarray) -> list[FaceBox]:
        """Faces in the frame (any order, possibly reaching past its edges)."""


class WholeImage(FaceDetector):
    """"skip": the whole image is the face (clients that crop in the browser)."""

    whole_image = True

    def detect(self, gray: np.ndarray, rgb: np.ndarray) -> list[FaceBox]:
        """One face: the frame."""
        return [FaceBox(0, 0, gray.shape[1], gray.shape[0])]


class BlazeFaceDetector(FaceDetector):
    """MediaPipe's BlazeFace: one CNN pass, keypoints (head pose); doubtful or small candidates get a second look."""

    padding = 0.1  # its box is about 1/1.2 of a FER2013 crop's side

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.model = BlazeFace(FAINT_LOOK_SCORE)

    def _second_look(self, rgb: np.ndarray, d: Detection, faces: list[FaceBox]) -> None:
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
        for again in self.model.detect(crop):
            box = _face_box(again, left, top)
            # The second look confirms the candidate (same place, about the same size); a face it sees elsewhere
            # in the crop would be a new guess, not a confirmation.
            if (again.score >= self.face_score and _iou(box, candidate) >= SECOND_LOOK_MATCH
                    and all(_iou(box, f) <= 0.3 for f in faces)):
                faces.append(box)

    def detect(self, gray: np.ndarray, rgb: np.ndarray) -> list[FaceBox]:
        """One BlazeFace pass; doubtful or small candidates are confirmed or dropped by a second look."""
        threshold = self.face_score
        height, width = rgb.shape[:2]
        small = max(height, width) * SMALL_FACE_SHARE
        found = self.model.detect(rgb)
        faces = [_face_box(d) for d in found if d.score >= threshold and d.box[2] - d.box[0] >= small]
        doubtful = [d for d in found if d.score >= SECOND_LOOK_SCORE
                    and (d.score < threshold or d.box[2] - d.box[0] < small)][:SECOND_LOOKS]
        for d in doubtful:
            self._second_look(rgb, d, faces)
        if not faces:
            # Nobody yet: one last look at the best faint candidate. Dark or low-contrast faces score there.
            for d in [d for d in found if d.score < SECOND_LOOK_SCORE][:1]:
                self._second_look(rgb, d, faces)
        return faces


class _ScaledDetector(FaceDetector):
    """A detector run on a downscaled frame first, then on a finer one only when the fast pass saw nobody."""

    padding = 0.2

    @abc.abstractmethod
    def _rects(self, small: np.ndarray, upsample: int) -> list[tuple[int, int, int, int]]:
        """(x, y, w, h) boxes in the scaled image; `upsample` is 1 on the finer pass."""

    def detect_scaled(self, gray: np.ndarray, long_side: int, upsample: int) -> list[FaceBox]:
        """One pass on the frame scaled to `long_side` (never enlarged), boxes in the frame's pixels."""
        scale = min(1.0, long_side / max(gray.shape))
        small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return [FaceBox(round(x / scale), round(y / scale), round(w / scale), round(h / scale))
                for x, y, w, h in self._rects(small, upsample)]

    def detect(self, gray: np.ndarray, rgb: np.ndarray) -> list[FaceBox]:
        """The fast pass at detection_size, then the finer one when it found nobody."""
        # Small or distant faces: the finer pass is worth its cost only when the fast pass saw nobody.
        return self.detect_scaled(gray, self.detection_size, 0) or self.detect_scaled(gray, FALLBACK_SIZE, 1)


class HogDetector(_ScaledDetector):
    """"dlib": dlib's HOG frontal face detector."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # It keeps its image pyramid inside the object: one per thread.
        self.model = dlib.get_frontal_face_detector()

    def _rects(self, small: np.ndarray, upsample: int) -> list[tuple[int, int, int, int]]:
        found, _, _ = self.model.run(small, upsample, FALLBACK_HOG_THRESHOLD if upsample else 0.0)
        return [(r.left(), r.top(), r.width(), r.height()) for r in found]


class HaarDetector(_ScaledDetector):
    """"opencv": OpenCV's Haar cascade (frontal faces)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # Not documented as thread-safe: one per thread.
        self.model = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        if self.model.empty():
            raise ImproperlyConfigured("OpenCV's Haar cascade file is missing")

    def _rects(self, small: np.ndarray, upsample: int) -> list[tuple[int, int, int, int]]:
        min_side = 20 if upsample else 30
        found = self.model.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
        return [tuple(int(v) for v in r) for r in found]


# The name a client sends (detector_backend) -> the class, as engines are found by the ENGAGEMENT setting.
DETECTOR_CLASSES: dict[str, type[FaceDetector]] = {
    "blazeface": BlazeFaceDetector, "dlib": HogDetector, "opencv": HaarDetector, "skip": WholeImage,
}


def detectors_build(**options: Any) -> dict[str, FaceDetector]:
    """One instance of every detector (a thread's set), built now rather than on a first frame."""
    return {name: cls(**options) for name, cls in DETECTOR_CLASSES.items()}
