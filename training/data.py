"""Loads FER2013 npz splits (concatenated JPEG bytes + offsets) into uint8 arrays."""
import io
from pathlib import Path

import numpy as np
from PIL import Image

# FER2013's label order, the same as the engine's EMOTIONS.
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fer2013"


def load_npz(path, limit: int | None = None, unseen_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Decode a split to (faces N x 48 x 48 uint8, labels N int64).

    `unseen_only` leaves out the faces flagged `near_duplicate_of_train` (val.npz has the flag: FER2013 repeats
    pictures across splits, and a model scores far higher on those copies than on faces it has never seen).
    """
    data = np.load(path)
    jpeg, offsets, labels = data["jpeg"], data["offsets"], data["labels"].astype(np.int64)
    candidates = np.arange(len(labels))
    if unseen_only and "near_duplicate_of_train" in data.files:
        candidates = candidates[~data["near_duplicate_of_train"].astype(bool)]
    # The splits are sorted by class, so a limited smoke run takes a fixed random sample.
    keep = candidates if limit is None else np.sort(
        np.random.default_rng(0).permutation(candidates)[:limit])
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


def signature(faces: np.ndarray) -> np.ndarray:
    """Unit vectors of 16 x 16 mean-removed pixels: near-copies of one picture have a dot product near 1."""
    small = faces.reshape(len(faces), 16, 3, 16, 3).mean(axis=(2, 4)).reshape(len(faces), -1)
    small = small - small.mean(axis=1, keepdims=True)
    return small / np.maximum(np.linalg.norm(small, axis=1, keepdims=True), 1e-6)


# Dot product of two signatures above which two faces are taken as copies of one picture. At 0.99 it finds 281 of
# the 282 faces val.npz flags (and 32 more); 0.97 leaves out more of the near-copies of a held-out face.
NEAR_COPY = 0.97


def holdout_split(faces: np.ndarray, labels: np.ndarray, label: int, share: float = 0.1,
                  seed: int = 2027) -> tuple[np.ndarray, np.ndarray]:
    """Hold out `share` of one class's faces, never trained on: (train mask, held-out indices).

    Training faces that are near-copies of a held-out face leave training too, so the held-out faces are
    unseen in the sense val's `near_duplicate_of_train` flag uses.
    """
    members = np.flatnonzero(labels == label)
    if not len(members):
        return np.ones(len(labels), bool), members
    held = np.sort(np.random.default_rng(seed).permutation(members)[:max(1, round(len(members) * share))])
    keep = np.ones(len(labels), bool)
    keep[held] = False
    sig = signature(faces)
    copies = (sig @ sig[held].T).max(axis=1) > NEAR_COPY
    keep &= ~copies
    return keep, held


def unseen_set(directory, holdout: bool = True, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Faces a network from training/train.py never trained on: (faces, labels, how many are the disgust hold-out).

    val.npz without its near-copies of Training, then (with `holdout`, if train.npz is there) the tenth of
    Training's disgust faces that training/train.py holds out: the same `holdout_split` of the same file, so
    the same faces. `limit` must be the one the run was trained with (None for a real run).
    """
    directory = Path(directory)
    faces, labels = load_npz(directory / "val.npz", limit, unseen_only=True)
    if not holdout or not (directory / "train.npz").exists():
        return faces, labels, 0
    train_x, train_y = load_npz(directory / "train.npz", limit)
    _, held = holdout_split(train_x, train_y, CLASSES.index("disgust"))
    return np.concatenate([faces, train_x[held]]), np.concatenate([labels, train_y[held]]), len(held)
