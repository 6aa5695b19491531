"""Evaluates an exported emotion model (ONNX, as the engine runs it): accuracy, per-class recall, confusion, speed.

Usage: python -m training.evaluate [--model FILE] [--data SET ...]; a SET is an .npz split or an
<emotion>/*.jpg folder. Defaults: the shipped model on ../shared/data/fer2013-dev and fer2013/val.npz.
"""
import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from .data import CLASSES, DEFAULT_DIR, load_set

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "engagement" / "engines" / "models" / "emotion_fer2013.onnx"
DEFAULT_SETS = (DEFAULT_DIR.parent / "fer2013-dev", DEFAULT_DIR / "val.npz")
MIRROR_KEY = "mirror_averaged"  # set by training/ensemble.py; engagement.engines.emotion reads the same key
VIEWS_KEY = "views"  # training/ensemble.py's description of the views the graph averages


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def session_for(model: Path, threads: int = 1):
    """An ONNX Runtime session on `threads` CPU threads, as the engine builds it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def probabilities(session, faces: np.ndarray, flip: bool, batch: int = 256) -> np.ndarray:
    """Class probabilities for uint8 faces (N x 48 x 48), mirror-averaged when `flip`."""
    name = session.get_inputs()[0].name
    out = []
    for start in range(0, len(faces), batch):
        x = faces[start:start + batch].astype(np.float32)[:, None]
        p = softmax(session.run(None, {name: x})[0])
        if flip:
            p = (p + softmax(session.run(None, {name: x[..., ::-1].copy()})[0])) / 2
        out.append(p)
    return np.concatenate(out)


def report(name: str, labels: np.ndarray, predicted: np.ndarray) -> float:
    """Print accuracy, per-class recall and the confusion matrix; return the accuracy."""
    accuracy = float((predicted == labels).mean())
    print(f"{name}: accuracy {accuracy:.1%} on {len(labels)} faces")
    print(f"{'class':<10}{'n':>6}{'recall':>9}")
    for i, cls in enumerate(CLASSES):
        n = int((labels == i).sum())
        recall = float((predicted[labels == i] == i).mean()) if n else float("nan")
        print(f"{cls:<10}{n:>6}{recall:>9.1%}")
    matrix = np.zeros((len(CLASSES), len(CLASSES)), int)
    np.add.at(matrix, (labels, predicted), 1)
    print("confusion (rows: label, columns: prediction)")
    print(f"{'':<10}" + "".join(f"{c[:7]:>8}" for c in CLASSES))
    for i, cls in enumerate(CLASSES):
        print(f"{cls:<10}" + "".join(f"{v:>8}" for v in matrix[i]))
    return accuracy


def time_per_face(session, faces: np.ndarray, flip: bool, repeats: int = 200) -> float:
    """Median ms for one face on one thread (with its mirror image in the same batch when `flip`)."""
    name = session.get_inputs()[0].name
    x = faces[:1].astype(np.float32)[:, None]
    x = np.concatenate([x, x[..., ::-1]]) if flip else x
    for _ in range(20):
        session.run(None, {name: x})
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        session.run(None, {name: x})
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv=None) -> None:
    """Evaluate the model on each set, with and without flip averaging, and time it."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=SHIPPED)
    ap.add_argument("--data", type=Path, nargs="*", default=list(DEFAULT_SETS))
    args = ap.parse_args(argv)
    started = time.perf_counter()
    session = session_for(args.model)
    print(f"model: {args.model} ({args.model.stat().st_size / 1e6:.1f} MB), loaded in "
          f"{(time.perf_counter() - started) * 1000:.0f} ms")
    # An ensemble (training/ensemble.py) mirrors inside its graph; the engine runs it once, and so do we.
    inside = mirror_inside(session)
    if inside:
        views = session.get_modelmeta().custom_metadata_map.get(VIEWS_KEY, "the face and its mirror image")
        print(f"the model averages each face with its mirror image inside its graph (views: {views})")
    faces = None
    for path in args.data:
        if not path.exists():
            print(f"note: {path} does not exist: skipped")
            continue
        faces, labels = load_set(path)
        if not inside:
            plain = probabilities(session, faces, flip=False).argmax(1)
            print(f"{path.name} without flip averaging: accuracy {float((plain == labels).mean()):.1%}")
        how = "with its views (flip averaging inside)" if inside else "with flip averaging"
        report(f"{path.name} {how}", labels, probabilities(session, faces, flip=not inside).argmax(1))
        print()
    if faces is not None and inside:
        print(f"one face, one thread: {time_per_face(session, faces, False):.2f} ms with its views "
              "(flip averaging inside the model; median of 200)")
    elif faces is not None:
        print(f"one face, one thread: {time_per_face(session, faces, True):.2f} ms with flip averaging, "
              f"{time_per_face(session, faces, False):.2f} ms without (median of 200)")


def mirror_inside(session) -> bool:
    """Whether the model's output already averages each face with its mirror image (its metadata says so)."""
    return session.get_modelmeta().custom_metadata_map.get(MIRROR_KEY) == "1"


if __name__ == "__main__":
    main()
