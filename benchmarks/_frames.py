"""Realistic 640x480 webcam frames for the benchmarks, by kind: small to large faces, two faces, empty rooms.

Composed from the photos scikit-image ships and, when present, from ../shared/data/photos (dev only, read in
place, never copied). Each frame is JPEG-encoded as a browser's canvas would send it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT.parent / "shared" / "data" / "photos"
FACE_SIZES = (60, 90, 130, 200)
KINDS = tuple(f"face {px} px" for px in FACE_SIZES) + ("two faces", "turned head", "empty room")


def _frame_around(rgb: np.ndarray, box, face_px: int, room: np.ndarray) -> np.ndarray:
    """Scale a photo so that the face `box` (x0, y0, x1, y1) is face_px wide, in a 640x480 frame around it.

    Where the scaled photo does not fill the frame (a small face), it stands in front of `room`.
    """
    x0, y0, x1, y1 = box
    scale = face_px / (x1 - x0)
    width, height = max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))
    big = np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS))
    # The face a little above the middle, as a webcam frames a seated learner.
    cx, cy = (x0 + x1) / 2 * scale, (y0 + y1) / 2 * scale
    frame = room.copy()
    left, top = int(round(320 - cx)), int(round(220 - cy))
    src_x, src_y = max(0, -left), max(0, -top)
    dst_x, dst_y = max(0, left), max(0, top)
    w, h = min(width - src_x, 640 - dst_x), min(height - src_y, 480 - dst_y)
    frame[dst_y:dst_y + h, dst_x:dst_x + w] = big[src_y:src_y + h, src_x:src_x + w]
    return frame


def _fill(rgb: np.ndarray) -> np.ndarray:
    """Cover a 640x480 frame with a photo (scaled, centre-cropped): an empty room."""
    scale = max(640 / rgb.shape[1], 480 / rgb.shape[0])
    width, height = max(640, round(rgb.shape[1] * scale)), max(480, round(rgb.shape[0] * scale))
    big = np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS))
    top, left = (height - 480) // 2, (width - 640) // 2
    return np.ascontiguousarray(big[top:top + 480, left:left + 640])


def _dev_photos(folder: str, with_counts: bool = False) -> list:
    import csv

    from engagement.images import decode_image

    directory = PHOTOS / folder
    if not directory.is_dir():
        return []
    with open(PHOTOS / "manifest.csv", newline="") as handle:
        counts = {row["file"]: int(row["expected_human_faces"]) for row in csv.DictReader(handle)}
    photos = [(decode_image(p.read_bytes(), max_pixels=10**9), counts.get(f"{folder}/{p.name}", 1))
              for p in sorted(directory.iterdir()) if p.suffix.lower() in {".jpg", ".jpeg", ".png"}]
    return photos if with_counts else [photo for photo, _ in photos]


def frame_mix(use_dev_photos: bool = True) -> dict[str, list[np.ndarray]]:
    """Frames by kind (KINDS); the face boxes used to scale the photos come from BlazeFace at its best."""
    return {kind: [frame for frame, _ in frames] for kind, frames in labelled_mix(use_dev_photos).items()}


def labelled_mix(use_dev_photos: bool = True) -> dict[str, list[tuple[np.ndarray, int]]]:
    """Frames by kind with the number of people in each (hand-counted for the photos, in their manifest)."""
    from skimage import data

    from engagement.engines.blazeface import BlazeFace
    from tests import images

    detector = BlazeFace(min_score=0.5)
    mix: dict[str, list[tuple[np.ndarray, int]]] = {kind: [] for kind in KINDS}
    portraits = [data.astronaut()] + (_dev_photos("faces") if use_dev_photos else [])
    for px in FACE_SIZES:
        for background in ("coffee", "rocket", "chelsea", "grey"):
            mix[f"face {px} px"].append((images.composed_face(px, background, center=(320, 220)), 1))
        for i, photo in enumerate(portraits[1:]):
            found = detector.detect(photo)
            if found:
                room = _fill((data.coffee(), data.rocket(), data.chelsea())[i % 3])
                mix[f"face {px} px"].append((_frame_around(photo, found[0].box, px, room), 1))
    mix["two faces"].append((images.two_faces(), 2))
    for photo, people in _dev_photos("multiface", with_counts=True) if use_dev_photos else []:
        mix["two faces"].append((_fill(photo), people))
    mix["turned head"].append((_fill(images.turned_head()), 1))
    empty = [data.coffee(), data.rocket(), data.chelsea(), np.stack([data.text()] * 3, axis=-1)]
    mix["empty room"] = [(_fill(p), 0) for p in empty + (_dev_photos("noface") if use_dev_photos else [])]
    return mix


def encode_mix(mix: dict[str, list[np.ndarray]], quality: int = 85) -> dict[str, list[bytes]]:
    """JPEG bytes of every frame, by kind."""
    from tests.images import encode

    return {kind: [encode(frame, quality=quality) for frame in frames] for kind, frames in mix.items()}
