"""A webcam video of one person made from still photos: slow head turns and changing light, for the identity check.

The motion and light are smooth functions of time, so that a frame taken every few seconds sees a head that moves
and light that changes the way a seated learner's do over minutes: the head rolls up to +-ROLL degrees, moves
sideways and nearer and further, turns a little (a perspective squeeze of one side of the face), and the light
goes from dim to bright (gain and gamma ramps) with a shadow that comes over one side of the face and goes.
"""
from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 480
FACE_PX = 170  # face box width in the frame at scale 1 (a learner about 60 cm from a laptop camera)
ROLL = 15.0  # degrees of in-plane head tilt, at most
SHIFT = 70  # pixels of sideways movement, at most
SCALE = (0.85, 1.2)  # nearer and further
TURN = 0.2  # the far side of the face squeezed by up to this fraction (a mild yaw)
GAIN = (0.45, 1.4)  # overall light
GAMMA = (0.6, 1.8)
SHADOW = 0.3  # the shadowed side of the frame keeps this fraction of its light at the shadow's deepest


def identity_photos(data: Path) -> dict[str, list[np.ndarray]]:
    """The identity dev photos (manifest.csv: file, person) as RGB arrays, by person; read only."""
    photos = defaultdict(list)
    with open(data / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            photos[row["person"]].append(cv2.cvtColor(cv2.imread(str(data / row["file"])), cv2.COLOR_BGR2RGB))
    return dict(photos)


def face_box(photo: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the largest face dlib's frontal detector finds, upsampling small photos."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    found = detector(grey, 1 if max(photo.shape[:2]) > 500 else 2)
    if not found:
        raise ValueError("no face in a photo of the set")
    best = max(found, key=lambda r: r.width() * r.height())
    return best.left(), best.top(), best.width(), best.height()


def _wave(t: float, period: float, phase: float = 0.0) -> float:
    return math.sin(2 * math.pi * t / period + phase)


def _between(low_high: tuple[float, float], unit: float) -> float:
    low, high = low_high
    return low + (high - low) * (unit + 1) / 2


def frame_at(photo: np.ndarray, box: tuple[int, int, int, int], t: float, rng: np.random.Generator) -> np.ndarray:
    """The webcam picture of `photo`'s face at second `t` of the session (640x480 RGB uint8)."""
    x, y, w, h = box
    scale = FACE_PX / w * _between(SCALE, _wave(t, 53, 1.0))
    roll = ROLL * _wave(t, 37)
    cx = WIDTH / 2 + SHIFT * _wave(t, 23, 0.5)
    cy = HEIGHT * 0.45 + 15 * _wave(t, 31)
    # One affine map: the face's centre to (cx, cy), scaled and rolled about it.
    matrix = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), roll, scale)
    matrix[:, 2] += (cx - (x + w / 2), cy - (y + h / 2))
    frame = cv2.warpAffine(photo, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    # A mild head turn: the side turning away gets narrower (a perspective squeeze about the face's centre).
    turn = TURN * _wave(t, 29, 2.0)
    half_w, half_h = FACE_PX * 0.8, FACE_PX
    left, right = (1 - max(turn, 0)), (1 - max(-turn, 0))
    src = np.float32([[cx - half_w, cy - half_h], [cx + half_w, cy - half_h],
                      [cx + half_w, cy + half_h], [cx - half_w, cy + half_h]])
    dst = np.float32([[cx - half_w, cy - half_h * left], [cx + half_w, cy - half_h * right],
                      [cx + half_w, cy + half_h * right], [cx - half_w, cy + half_h * left]])
    dst[:, 0] += (right - left) * half_w * 0.5  # the face's centre drifts towards the side it turns to
    frame = cv2.warpPerspective(frame, cv2.getPerspectiveTransform(src, dst), (WIDTH, HEIGHT),
                                borderMode=cv2.BORDER_REPLICATE)
    # Light: a slow gain and gamma, and a shadow coming over one side (left for a while, later the right).
    light = frame.astype(np.float32) / 255
    light = light ** _between(GAMMA, _wave(t, 180, 0.3)) * _between(GAIN, _wave(t, 140, 2.2))
    side = _wave(t, 240, 0.8)
    if abs(side) > 0.3:
        depth = (abs(side) - 0.3) / 0.7 * (1 - SHADOW)
        ramp = np.clip((np.arange(WIDTH) - cx) / (FACE_PX * 0.6), -1, 1)  # -1 left of the face, +1 right of it
        ramp = ramp if side > 0 else -ramp
        light *= (1 - depth * (ramp + 1) / 2)[None, :, None]
    light += rng.normal(0, 2.5 / 255, light.shape).astype(np.float32)  # sensor noise
    return np.clip(light * 255, 0, 255).astype(np.uint8)


def session_frames(segments: list[tuple[np.ndarray, float]], fps: float, seed: int = 0) -> list[np.ndarray]:
    """Frames at `fps` of a session made of (photo, seconds) segments one after another, motion and light going on
    across them."""
    rng = np.random.default_rng(seed)
    frames = []
    t0 = 0.0
    for photo, seconds in segments:
        box = face_box(photo)
        for i in range(round(seconds * fps)):
            frames.append(frame_at(photo, box, t0 + i / fps, rng))
        t0 += seconds
    return frames
