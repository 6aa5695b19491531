"""Face descriptors for verification: dlib's 5-point landmarks and ResNet descriptor (face-recognition-models).

The two model files ship in the `face-recognition-models` wheel (installed with --no-deps from
requirements-models.txt; its 68-point model, trained on data that restricts commercial use, is never loaded).
The descriptor is dlib's: 128 numbers per face, and two faces whose Euclidean distance is under 0.6 are taken
for the same person (the threshold its author chose on LFW, where the network scores 99.38 %).

dlib aligns the face (landmarks, 150x150 chip); the network itself runs here in NumPy (ResNetDescriptor), on
the weights read from dlib's own file: the same numbers as dlib's (within 1e-6), for about a third of dlib's
CPU time, since its convolutions become one BLAS matrix product each.
"""
from __future__ import annotations

import queue
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import dlib
import numpy as np
from django.core.exceptions import ImproperlyConfigured
from numpy.lib.stride_tricks import sliding_window_view
from threadpoolctl import threadpool_limits

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


# dlib's serialisation: a layer's name is a length-prefixed string; the network's layers come input first.
_LAYER_NAMES = ("input_rgb_image_sized", "con_4", "affine_", "relu_", "max_pool_2", "avg_pool_2", "add_prev_",
                "fc_2")
_LAYER = re.compile(rb"\x01([\x04-\x15])(" + b"|".join(n.encode() for n in _LAYER_NAMES) + rb")")
# input_rgb_image: each channel minus its mean, over 256 (dlib's defaults, checked against the file below).
_INPUT_MEANS = np.array([122.782, 117.001, 104.298], np.float32)


class _Reader:
    """Reads dlib's serialised integers, floats and tensors from a byte string."""

    def __init__(self, data: bytes, at: int) -> None:
        self.data, self.at = data, at

    def integer(self) -> int:
        """dlib's compact integer: a header byte (low nibble: bytes that follow, bit 7: negative), little endian."""
        header = self.data[self.at]
        size = header & 0x0F
        value = int.from_bytes(self.data[self.at + 1:self.at + 1 + size], "little")
        self.at += 1 + size
        return -value if header & 0x80 else value

    def real(self) -> float:
        """dlib's portable float: an integer mantissa and a power-of-two exponent."""
        mantissa = self.integer()
        return mantissa * 2.0 ** self.integer()

    def tensor(self) -> tuple[np.ndarray, list[int]]:
        """A resizable_tensor (version 2): four dimensions, then little-endian float32 values."""
        if self.integer() != 2:
            raise ValueError("unknown tensor version")
        dims = [self.integer() for _ in range(4)]
        count = int(np.prod(dims))
        values = np.frombuffer(self.data, "<f4", count, self.at).astype(np.float32)
        self.at += 4 * count
        return values, dims


class ResNetDescriptor:
    """dlib's face recognition ResNet (29 convolutions, 128 outputs) in NumPy, weights read from dlib's file.

    Structure, as dlib's dnn_face_recognition example defines it: a 7x7/2 convolution and a 3x3/2 max pool, then
    residual blocks (convolution, affine, ReLU, convolution, affine, plus the block's input; the first block of a
    level halves the size and adds the input average-pooled, zero-padded to the larger shape as dlib's add_prev
    does), a global average and a 128-output fully connected layer without bias.
    """

    def __init__(self, path: Path) -> None:
        data = path.read_bytes()
        self.layers: list[tuple] = []
        for match in _LAYER.finditer(data):
            name = match.group(2).decode()
            if match.group(1)[0] != len(name):
                continue
            reader = _Reader(data, match.end())
            if name == "input_rgb_image_sized":
                means = np.array([reader.real() for _ in range(3)], np.float32)
                if not np.allclose(means, _INPUT_MEANS, atol=1e-3):
                    raise ImproperlyConfigured(f"{path.name}: unexpected input means {means}")
            elif name == "con_4":
                params, _ = reader.tensor()
                self.layers.append(("con", params, [reader.integer() for _ in range(7)]))
            elif name == "affine_":
                params, _ = reader.tensor()
                half = params.size // 2  # gamma, then beta
                self.layers.append(("affine", params[:half, None, None], params[half:, None, None]))
            elif name in ("max_pool_2", "avg_pool_2"):
                self.layers.append((name[:3], [reader.integer() for _ in range(6)]))
            elif name == "fc_2":
                outputs, inputs = reader.integer(), reader.integer()
                params, _ = reader.tensor()
                self.layers.append(("fc", params[:inputs * outputs].reshape(inputs, outputs)))
            else:
                self.layers.append((name.rstrip("_"),))
        kinds = [layer[0] for layer in self.layers]
        if kinds.count("con") != 29 or kinds.count("affine") != 29 or kinds[-1] != "fc":
            raise ImproperlyConfigured(f"{path.name} is not dlib's face recognition ResNet v1")

    @staticmethod
    def _windows(x: np.ndarray, rows: int, cols: int, stride: int) -> np.ndarray:
        return sliding_window_view(x, (rows, cols), axis=(1, 2))[:, ::stride, ::stride]

    def _conv(self, x: np.ndarray, params: np.ndarray, shape: list[int]) -> np.ndarray:
        filters, rows, cols, stride, _, pad, _ = shape
        channels = x.shape[0]
        weights = params[:filters * channels * rows * cols].reshape(filters, -1)
        if pad:
            x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
        windows = self._windows(x, rows, cols, stride)
        height, width = windows.shape[1:3]
        columns = np.ascontiguousarray(windows.transpose(0, 3, 4, 1, 2)).reshape(channels * rows * cols, -1)
        return (weights @ columns + params[filters * channels * rows * cols:, None]).reshape(filters, height, width)

    def _pool(self, x: np.ndarray, shape: list[int], kind: str) -> np.ndarray:
        rows, cols, stride = shape[0], shape[1], shape[2]
        if rows == 0:  # avg_pool_everything
            return x.mean(axis=(1, 2), keepdims=True)
        windows = self._windows(x, rows, cols, stride)
        return windows.max(axis=(3, 4)) if kind == "max" else windows.mean(axis=(3, 4))

    @staticmethod
    def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.zeros([max(p, q) for p, q in zip(a.shape, b.shape)], np.float32)
        out[:a.shape[0], :a.shape[1], :a.shape[2]] += a
        out[:b.shape[0], :b.shape[1], :b.shape[2]] += b
        return out

    def describe(self, chip: np.ndarray) -> np.ndarray:
        """The 128-number descriptor of a 150x150 RGB chip (dlib.get_face_chip's)."""
        x = (chip.astype(np.float32).transpose(2, 0, 1) - _INPUT_MEANS[:, None, None]) / 256
        block_input, shortcut, starts_block = x, None, True
        for layer in self.layers:
            kind = layer[0]
            if kind == "con":
                if starts_block:
                    block_input, starts_block = x, False
                x = self._conv(x, layer[1], layer[2])
            elif kind == "affine":
                x = x * layer[1] + layer[2]
            elif kind == "relu":
                x = np.maximum(x, 0)
            elif kind == "max":
                x, starts_block = self._pool(x, layer[1], "max"), True
            elif kind == "avg" and layer[1][0] == 0:
                x = self._pool(x, layer[1], "avg")
            elif kind == "avg":  # the shortcut of a block that halves the size
                shortcut = self._pool(block_input, layer[1], "avg")
            elif kind == "add_prev":
                x = self._add(x, block_input if shortcut is None else shortcut)
                shortcut, starts_block = None, True
            elif kind == "fc":
                x = x.reshape(-1) @ layer[1]
        return x.astype(np.float32)


_network: ResNetDescriptor | None = None
_network_lock = threading.Lock()


def resnet_descriptor() -> ResNetDescriptor:
    """The network, read once per process (it holds no state between calls: threads share it).

    NumPy's BLAS is held to one thread in this process from then on: frames already run in parallel threads, and
    BLAS threads spinning beside them cost several times the CPU of the work (19 ms a descriptor on one thread,
    110-380 ms with OpenBLAS's own threads on this busy 2-core machine), as OpenCV's do (cv2.setNumThreads(1)).
    """
    global _network
    with _network_lock:
        if _network is None:
            threadpool_limits(limits=1, user_api="blas")
            _network = ResNetDescriptor(packaged_file(DISTRIBUTION, DESCRIPTOR_FILE))
        return _network


class _Models:
    """One thread's landmark model; the descriptor network is shared (NumPy, stateless)."""

    def __init__(self) -> None:
        self.landmarks = dlib.shape_predictor(str(packaged_file(DISTRIBUTION, LANDMARKS_FILE)))
        self.network = resnet_descriptor()


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
        return models.network.describe(chip)
