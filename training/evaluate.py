"""Evaluates an exported emotion model (ONNX, as the engine runs it) on faces it has never seen, and its speed.

The main set is val.npz without its near-copies of Training faces, plus the tenth of Training's disgust faces
that training/train.py holds out (de-duplicated val keeps only 2 disgust faces): accuracy, balanced accuracy
(mean recall over the 7 classes), per-class recall with counts and 95 % Wilson intervals, confusion. Other sets
(fer2013-dev by default) are secondary figures. Then the median wall-clock and CPU time of one face on one
thread, every view the model takes included.
Usage: python -m training.evaluate [--model FILE] [--fer DIR] [--also SET ...]; a SET is an .npz split or an
<emotion>/*.jpg folder. Defaults: the shipped model, ../shared/data/fer2013 and ../shared/data/fer2013-dev.
"""
import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from .data import CLASSES, DEFAULT_DIR, load_set, unseen_set

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "engagement" / "engines" / "models" / "emotion_fer2013.onnx"
SECONDARY = (DEFAULT_DIR.parent / "fer2013-dev",)
MIRROR_KEY = "mirror_averaged"  # set by training/ensemble.py; engagement.engines.emotion reads the same key
VIEWS_KEY = "views"  # training/ensemble.py's description of the views the graph averages
# "unseen" in a file exported from a run that held the disgust faces out (training/train.py since it scores
# balanced accuracy); a file without it may have learnt from them, like the model shipped before.
HOLDOUT_KEY = "disgust_holdout"
DISGUST = CLASSES.index("disgust")


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


def recalls(predicted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Recall of each class (NaN for a class with no face)."""
    return np.array([(predicted[labels == c] == c).mean() if (labels == c).any() else np.nan
                     for c in range(len(CLASSES))])


def balanced_accuracy(predicted: np.ndarray, labels: np.ndarray, skip=()) -> float:
    """Mean recall over the classes present, the classes in `skip` left out."""
    r = recalls(predicted, labels)
    return float(np.mean([r[c] for c in range(len(CLASSES)) if not np.isnan(r[c]) and c not in skip]))


def wilson(right: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion right / n."""
    from scipy.stats import binomtest

    ci = binomtest(right, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def report(name: str, labels: np.ndarray, predicted: np.ndarray) -> dict:
    """Print accuracy, balanced accuracy, per-class recall with 95 % intervals and the confusion; return the first two."""
    scores = {"accuracy": float((predicted == labels).mean()), "balanced": balanced_accuracy(predicted, labels)}
    present = len(set(labels.tolist()))
    print(f"{name}: {len(labels)} faces\n  accuracy {scores['accuracy']:.1%}, balanced accuracy {scores['balanced']:.1%} "
          f"(mean recall over the {present} classes present), {balanced_accuracy(predicted, labels, skip=(DISGUST,)):.1%} "
          "without disgust")
    print(f"{'class':<10}{'faces':>6}{'right':>7}{'recall':>9}   95 % interval (Wilson)")
    for i, cls in enumerate(CLASSES):
        n = int((labels == i).sum())
        right = int((predicted[labels == i] == i).sum())
        if n:
            low, high = wilson(right, n)
            print(f"{cls:<10}{n:>6}{right:>7}{right / n:>9.1%}   {low:.1%} - {high:.1%}")
        else:
            print(f"{cls:<10}{n:>6}{'-':>7}{'-':>9}")
    matrix = np.zeros((len(CLASSES), len(CLASSES)), int)
    np.add.at(matrix, (labels, predicted), 1)
    print("confusion (rows: label, columns: prediction)")
    print(f"{'':<10}" + "".join(f"{c[:7]:>8}" for c in CLASSES))
    for i, cls in enumerate(CLASSES):
        print(f"{cls:<10}" + "".join(f"{v:>8}" for v in matrix[i]))
    return scores


def time_per_face(session, faces: np.ndarray, flip: bool, repeats: int = 300) -> tuple[float, float]:
    """Median (wall-clock ms, CPU ms) for one face on one thread (with its mirror image in the batch when `flip`)."""
    name = session.get_inputs()[0].name
    x = faces[:1].astype(np.float32)[:, None]
    x = np.concatenate([x, x[..., ::-1]]) if flip else x
    for _ in range(20):
        session.run(None, {name: x})
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        session.run(None, {name: x})
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def predict(session, faces: np.ndarray, inside: bool) -> np.ndarray:
    """The model's answers as the engine gets them: its own views when it has them, else flip-averaged here."""
    return probabilities(session, faces, flip=not inside).argmax(1)


def evaluate_unseen(session, directory: Path, inside: bool) -> dict | None:
    """The main figures: de-duplicated val plus the disgust hold-out (None when val.npz is not there)."""
    if not (directory / "val.npz").exists():
        print(f"note: {directory / 'val.npz'} does not exist: no figure on unseen faces")
        return None
    faces, labels, held = unseen_set(directory)
    with np.load(directory / "val.npz") as val:
        copies = int(val["near_duplicate_of_train"].sum()) if "near_duplicate_of_train" in val.files else 0
    val_n = len(labels) - held
    predicted = predict(session, faces, inside)
    if not inside:
        plain = probabilities(session, faces, flip=False).argmax(1)
        print(f"unseen faces without flip averaging: accuracy {float((plain == labels).mean()):.1%}, balanced "
              f"{balanced_accuracy(plain, labels):.1%}")
    scores = report(f"unseen faces (val.npz without its {copies} near-copies of Training: {val_n}; plus {held} "
                    "disgust faces held out of train.npz by training.data.holdout_split)", labels, predicted)
    val_disgust = int((labels[:val_n] == DISGUST).sum())
    print(f"disgust: {val_disgust} faces from val, {held} from the hold-out "
          f"({int((predicted[val_n:] == DISGUST).sum())} of {held} right there)")
    if held and session.get_modelmeta().custom_metadata_map.get(HOLDOUT_KEY) != "unseen":
        v_pred, v_lab = predicted[:val_n], labels[:val_n]
        print("note: this file does not say it was trained without the disgust hold-out (metadata "
              f"{HOLDOUT_KEY}=unseen): a model trained before training/train.py held it out learnt from those "
              "faces, so its disgust figure above is NOT on unseen faces. De-duplicated val alone: accuracy "
              f"{float((v_pred == v_lab).mean()):.1%}, balanced {balanced_accuracy(v_pred, v_lab):.1%} (disgust: "
              f"{int((v_pred[v_lab == DISGUST] == DISGUST).sum())} of {val_disgust}), "
              f"{balanced_accuracy(v_pred, v_lab, skip=(DISGUST,)):.1%} without disgust")
        scores["disgust_seen"] = True
    return scores


def main(argv=None) -> None:
    """Evaluate the model on unseen faces and the secondary sets, then time it."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=SHIPPED)
    ap.add_argument("--fer", type=Path, default=DEFAULT_DIR, help="folder with val.npz and train.npz")
    ap.add_argument("--also", type=Path, nargs="*", default=list(SECONDARY), help="secondary sets")
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
    else:
        print("the model is flip-averaged here, as the engine does it (face and mirror image in one batch)")
    print()
    evaluate_unseen(session, args.fer, inside)
    faces = None
    for path in args.also:
        if not path.exists():
            print(f"note: {path} does not exist: skipped")
            continue
        print()
        faces, labels = load_set(path)
        report(f"secondary: {path.name}", labels, predict(session, faces, inside))
    print()
    sample = np.full((1, 48, 48), 128, np.uint8) if faces is None else faces
    wall, cpu = time_per_face(session, sample, flip=not inside)
    print(f"one face, one thread, every view included: {wall:.2f} ms wall clock, {cpu:.2f} ms CPU "
          f"(medians of 300; {'views inside the model' if inside else 'face and mirror image in one batch'})")


def mirror_inside(session) -> bool:
    """Whether the model's output already averages each face with its mirror image (its metadata says so)."""
    return session.get_modelmeta().custom_metadata_map.get(MIRROR_KEY) == "1"


if __name__ == "__main__":
    main()
