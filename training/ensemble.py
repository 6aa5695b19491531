"""Puts trained runs into one ONNX graph that averages their probabilities, with class offsets chosen on val.

The mirror image is taken inside the graph: --views all runs every network on the face and on its mirror
image (one run: the shipped model); with --views cross two networks or more take turns (the first sees the
face, the second its mirror image), at the cost of one network. The file says so in its metadata
(mirror_averaged), and the engine then runs it once a face.
Classes whose val recall is under --min-recall (disgust aside: 17 val faces) get their logit raised until it is
met: a prior correction, chosen on val like the best epoch, never on the evaluation sets.
Usage: python -m training.ensemble --runs RUN [RUN ...] --out FILE [--views cross|all] [--min-recall 0.45]
"""
import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import CLASSES, DEFAULT_DIR, load_npz
from .evaluate import MIRROR_KEY
from .model import EmotionNet
from .train import export_onnx

STEP = 0.02  # logit offset step (about 2% on a class's odds)
MAX_OFFSET = 1.0


class Ensemble(nn.Module):
    """EmotionNets on the face or its mirror image in one graph: log of the mean softmax plus per-class offsets.

    The engine applies softmax to the output, which gives back the mean probabilities (times the offsets' odds).
    """

    def __init__(self, members, views: str = "cross"):
        super().__init__()
        self.members = nn.ModuleList(members)
        # (network, mirrored) pairs: in turns for "cross", every network on both images for "all".
        self.views = ([(i, i % 2 == 1) for i in range(len(members))] if views == "cross"
                      else [(i, flip) for i in range(len(members)) for flip in (False, True)])
        self.register_buffer("offsets", torch.zeros(len(CLASSES)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mirrored = torch.flip(x, dims=[3])
        p = torch.stack([F.softmax(self.members[i](mirrored if flip else x), 1) for i, flip in self.views]).mean(0)
        return torch.log(p.clamp_min(1e-12)) + self.offsets


def load_run(run: Path) -> EmotionNet:
    """The best epoch (on val) of a training run folder."""
    state = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
    cfg = state["config"]
    model = EmotionNet(cfg["widths"], cfg["hidden"], cfg["dropout"])
    model.load_state_dict(state["model"])
    print(f"{run}: epoch {state['best']['epoch']}, val accuracy {state['best']['val_acc']:.4f}", flush=True)
    return model.eval()


@torch.no_grad()
def log_probabilities(model: Ensemble, faces: np.ndarray, batch: int = 512) -> np.ndarray:
    """The ensemble's output for uint8 faces (its offsets as they are), as the engine gets it."""
    return torch.cat([model(torch.from_numpy(faces[start:start + batch]).float().unsqueeze(1))
                      for start in range(0, len(faces), batch)]).numpy()


def mark_mirror_averaged(path: Path) -> None:
    """Record in the ONNX file that its output already averages each face with its mirror image."""
    import onnx

    proto = onnx.load(str(path))
    proto.metadata_props.add(key=MIRROR_KEY, value="1")
    onnx.save(proto, str(path))


def recalls(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-class recall of argmax predictions."""
    predicted = scores.argmax(1)
    return np.array([(predicted[labels == c] == c).mean() for c in range(len(CLASSES))])


def choose_offsets(logp: np.ndarray, labels: np.ndarray, min_recall: float) -> np.ndarray:
    """Raise, in small steps, the offset of each class (disgust aside) that misses `min_recall` on val."""
    offsets = np.zeros(len(CLASSES))
    skip = CLASSES.index("disgust")
    for _ in range(int(len(CLASSES) * MAX_OFFSET / STEP)):
        r = recalls(logp + offsets, labels)
        short = [c for c in range(len(CLASSES)) if c != skip and r[c] < min_recall and offsets[c] < MAX_OFFSET]
        if not short:
            break
        offsets[min(short, key=lambda c: r[c])] += STEP
    return offsets


def main(argv=None) -> None:
    """Load the runs, choose offsets on val, export the ensemble as ONNX."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=Path, nargs="+", required=True, help="training run folders (their best.pt)")
    ap.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR, help="folder with val.npz")
    ap.add_argument("--views", choices=("cross", "all"), default="cross",
                    help="cross: the networks take turns on the face and its mirror image; all: each sees both")
    ap.add_argument("--min-recall", type=float, default=0.45, help="val recall every class but disgust should reach")
    args = ap.parse_args(argv)
    if args.views == "cross" and len(args.runs) < 2:
        ap.error("--views cross needs two runs or more (one network: --views all)")
    model = Ensemble([load_run(run) for run in args.runs], args.views).eval()
    val_x, val_y = load_npz(args.data / "val.npz")
    logp = log_probabilities(model, val_x)
    before = recalls(logp, val_y)
    offsets = choose_offsets(logp, val_y, args.min_recall)
    after = recalls(logp + offsets, val_y)
    model.offsets.copy_(torch.from_numpy(offsets).float())
    for name, scores in (("without offsets", logp), ("with offsets", logp + offsets)):
        print(f"val {name}: accuracy {(scores.argmax(1) == val_y).mean():.4f} ({args.views}, mirror inside)")
    print(json.dumps({c: {"offset": round(float(o), 2), "val_recall": [round(float(b), 3), round(float(a), 3)]}
                      for c, o, b, a in zip(CLASSES, offsets, before, after)}))
    export_onnx(model, args.out)
    mark_mirror_averaged(args.out)
    print(f"exported {args.out}: {len(args.runs)} networks ({args.views}), "
          f"odds x{[round(math.exp(o), 2) for o in offsets]}")


if __name__ == "__main__":
    main()
