"""Loads FER2013 npz splits (concatenated JPEG bytes + offsets) into uint8 arrays."""
import io
from pathlib import Path

import numpy as np
from PIL import Image

# FER2013's label order, the same as the engine's EMOTIONS.
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fer2013"


def load_npz(path, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode a split to (faces N x 48 x 48 uint8, labels N int64)."""
    data = np.load(path)
    jpeg, offsets, labels = data["jpeg"], data["offsets"], data["labels"].astype(np.int64)
    # The splits are sorted by class, so a limited smoke run takes a fixed random sample.
    keep = np.arange(len(labels)) if limit is None else np.sort(
        np.random.default_rng(0).permutation(len(labels))[:limit])
    n = len(keep)
    faces = np.empty((n, 48, 48), np.uint8)
    for j, i in enumerate(keep):
        img = Image.open(io.BytesIO(jpeg[offsets[i]:offsets[i + 1]].tobytes())).convert("L")
        faces[j] = np.asarray(img.resize((48, 48)) if img.size != (48, 48) else img)
    return faces, labels[keep]


def load_folder(path) -> tuple[np.ndarray, np.ndarray]:
    """Decode a folder of <emotion>/*.jpg (like fer2013-dev) to faces and labels."""
    faces, labels = [], []
    for label, name in enumerate(CLASSES):
        for file in sorted((Path(path) / name).glob("*")):
            if file.suffix.lower() in {".jpg", ".jpeg", ".png"}:
                faces.append(np.asarray(Image.open(file).convert("L").resize((48, 48))))
                labels.append(label)
    return np.stack(faces), np.array(labels, np.int64)


def load_set(path, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An npz split or a labelled folder, whichever `path` is."""
    path = Path(path)
    return load_folder(path) if path.is_dir() else load_npz(path, limit)
