"""Face descriptors for verification: dlib's 5-point landmarks and ResNet descriptor (face-recognition-models).

The two model files ship in the `face-recognition-models` wheel (installed with --no-deps from
requirements-models.txt; its 68-point model, trained on data that restricts commercial use, is never loaded).
The descriptor is dlib's: 128 numbers per face, and two faces whose Euclidean distance is under 0.6 are taken
for the same person (the threshold its author chose on LFW, where the network scores 99.38 %).
"""
from __future__ import annotations

import queue
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import dlib
import numpy as np

from .base import FaceBox, packaged_file

DISTRIBUTION = "face-recognition-models"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
MODEL_NAME = "dlib_resnet_v1"
DEFAULT_THRESHOLD = 0.6
# dlib's alignment: the face chip the network was trained on (150 px, 25 % margin around the landmarks' face).
CHIP_SIZE = 150
CHIP_PADDING = 0.25
# The 5-point model was trained on dlib HOG boxes, which sit lower and tighter than BlazeFace's: the same move
# as for the age and gender models (median over 33 faces of the shared photos and skimage-composed frames).
HOG_BOX_SHIFT = 0.05
HOG_BOX_SCALE = 0.93


def hog_like_box(face: FaceBox) -> FaceBox:
    """A BlazeFace box (it has keypoints) moved to where dlib's HOG detector would have put it; others unchanged."""
    if face.keypoints is None:
        return face
    cx, cy = face.x + face.w / 2, face.y + face.h / 2 + HOG_BOX_SHIFT * face.h
    w, h = face.w * HOG_BOX_SCALE, face.h * HOG_BOX_SCALE
    return FaceBox(round(cx - w / 2), round(cy - h / 2), round(w), round(h))


def faces_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Euclidean distance of two descriptors (0 for the same picture; under the threshold: same person)."""
    return float(np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32)))


class _Models:
    """One thread's landmark model and descriptor network (dlib's network keeps its buffers in the object)."""

    def __init__(self) -> None:
        self.landmarks = dlib.shape_predictor(str(packaged_file(DISTRIBUTION, LANDMARKS_FILE)))
        self.network = dlib.face_recognition_model_v1(str(packaged_file(DISTRIBUTION, DESCRIPTOR_FILE)))


class _Pool:
    """Model copies built on first use (an engine that never verifies never loads them), lent one per thread."""

    def __init__(self, make: Callable[[], Any], size: int) -> None:
        self._make, self._size, self._built = make, size, 0
        self._items: queue.Queue = queue.Queue()
        self._lock = threading.Lock()

    @contextmanager
    def borrow(self) -> Iterator[Any]:
        """Lend one copy for the duration of the block, building it if none is free and fewer than size exist."""
        try:
            item = self._items.get_nowait()
        except queue.Empty:
            with self._lock:
                build = self._built < self._size
                self._built += build
            item = self._make() if build else self._items.get()
        try:
            yield item
        finally:
            self._items.put(item)


class FaceDescriber:
    """Computes the descriptor of a face found by any detector; thread-safe (a copy of the models per thread)."""

    model = MODEL_NAME

    def __init__(self, copies: int = 2) -> None:
        self._models = _Pool(_Models, max(1, copies))

    def load(self) -> None:
        """Load one copy of the models now (warm-up), so that the first verification does not wait for them."""
        with self._models.borrow():
            pass

    def describe(self, rgb: np.ndarray, face: FaceBox) -> np.ndarray:
        """The 128-number descriptor (float32) of the face in `face` of an RGB image."""
        box = hog_like_box(face)
        rect = dlib.rectangle(box.x, box.y, box.x + box.w - 1, box.y + box.h - 1)
        image = np.ascontiguousarray(rgb)
        with self._models.borrow() as models:
            shape = models.landmarks(image, rect)
            chip = dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
            return np.asarray(models.network.compute_face_descriptor(chip), dtype=np.float32)
