"""Ranks sets of test-time views (face, mirror image, zooms) by balanced accuracy on unseen faces, over runs.

The faces are those training/ensemble.py chooses offsets on (val.npz without its near-copies of Training, plus
the disgust hold-out when every run held it out; a class with too few faces is left out of the mean).
training/ensemble.py then builds the graph. Every set holds the face itself plus one or two other views; their
probabilities are averaged.
Usage: python -m training.rank_views --runs RUN [RUN ...] [--max-views 3] [--top 15]
"""
import argparse
import itertools
from pathlib import Path

import numpy as np
import torch

from .ensemble import Ensemble, add_choice_options, choice_set, load_run, log_probabilities, view_arg
from .evaluate import balanced_accuracy

ZOOMS = (0.9, 0.95, 1.0, 1.05, 1.1, 1.15)
CANDIDATES = [f"{kind}@{zoom:g}" if zoom != 1.0 else kind for zoom in ZOOMS for kind in ("face", "mirror")]


def view_probabilities(run: Path, views, faces: np.ndarray) -> dict:
    """Each view's softmax probabilities on `faces` for the run's best epoch, as the ensemble graph computes them."""
    net = load_run(run)
    return {view: np.exp(log_probabilities(Ensemble([net], [view]).eval(), faces)) for view in views}


def rank(probs: list, labels: np.ndarray, max_views: int, skip=()) -> list:
    """(mean balanced accuracy over runs, per-run ones, views) for each set of up to max_views views, the face
    included; the classes in `skip` are left out of the balanced accuracy."""
    others = [v for v in probs[0] if v != "face"]
    rows = []
    for size in range(1, max_views):
        for combo in itertools.combinations(others, size):
            views = ("face", *combo)
            scores = [balanced_accuracy(sum(p[v] for v in views).argmax(1), labels, skip=skip) for p in probs]
            rows.append((float(np.mean(scores)), scores, views))
    return sorted(rows, key=lambda row: -row[0])


def main(argv=None) -> None:
    """Score every candidate view of every run on unseen faces, then print the best sets."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=Path, nargs="+", required=True, help="training run folders (their best.pt)")
    ap.add_argument("--views", nargs="+", type=view_arg, default=CANDIDATES, help="candidate views (face is always one)")
    ap.add_argument("--max-views", type=int, default=3, help="views in a set, the face included (its cost)")
    ap.add_argument("--top", type=int, default=15, help="how many of the best sets to print")
    add_choice_options(ap)
    args = ap.parse_args(argv)
    if args.max_views < 2:
        ap.error("--max-views counts the face: at least 2")
    views = ["face", *[v for v in args.views if v != "face"]]
    val_x, val_y, skip = choice_set(args.runs, args.data, args.limit, args.min_faces)
    with torch.no_grad():
        probs = [view_probabilities(run, views, val_x) for run in args.runs]
    rows = rank(probs, val_y, args.max_views, skip)
    print(f"balanced accuracy on unseen faces, mean of {len(args.runs)} run(s)")
    for row in rows:
        if row[2] == ("face", "mirror"):
            print(f"face and mirror (plain flip averaging): {row[0]:.2%}")
    for mean, accs, combo in rows[:args.top]:
        print(f"{mean:.2%}  ({', '.join(f'{a:.2%}' for a in accs)})  {' '.join(combo)}")


if __name__ == "__main__":
    main()
