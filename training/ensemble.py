"""Puts trained runs into one ONNX graph that averages their probabilities, with class offsets chosen on val.

The views are taken inside the graph: `face` and `mirror` (its mirror image), each optionally at a zoom
(`mirror@1.1`: the mirror image magnified 10 % about the centre, as training's random affine does). By default
every network sees every view; with --cross (two runs or more) the networks take turns on them: network j mod N
on view j mod V, for j up to the larger of N and V, so the shorter list repeats. The file lists its views in its
metadata (views); one with a mirror view says so (mirror_averaged), and the engine then runs it once a face.
Classes whose val recall is under --min-recall (disgust aside: 17 val faces) get their logit raised until it is
met: a prior correction, chosen on val like the best epoch, never on the evaluation sets.
Usage: python -m training.ensemble --runs RUN [RUN ...] --out FILE [--views face mirror@1.1 ...] [--cross]
       [--min-recall 0.45]
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
from .evaluate import MIRROR_KEY, VIEWS_KEY
from .model import EmotionNet
from .train import export_onnx, load_best

STEP = 0.02  # logit offset step (about 2% on a class's odds)
MAX_OFFSET = 1.0


def parse_view(token: str) -> tuple[bool, float]:
    """`face`, `mirror`, `face@1.1` or `mirror@0.9` as (mirrored, zoom)."""
    kind, at, zoom = token.partition("@")
    try:
        value = float(zoom) if at else 1.0
    except ValueError:
        value = None
    if kind not in ("face", "mirror") or value is None or not 0.5 <= value <= 2.0:
        raise ValueError("a view is face or mirror, optionally @zoom between 0.5 and 2 (such as mirror@1.1): "
                         f"{token!r}")
    return kind == "mirror", value


def view_arg(token: str) -> str:
    """An argparse type for a view token: the token itself, or a clear error for a bad one."""
    try:
        parse_view(token)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return token


def zoom_grid(zoom: float, mirrored: bool, size: int = 48) -> torch.Tensor:
    """The 1 x size x size x 2 sampling grid that magnifies a face by `zoom` about its centre (and mirrors it)."""
    theta = torch.tensor([[(-1.0 if mirrored else 1.0) / zoom, 0.0, 0.0], [0.0, 1.0 / zoom, 0.0]])
    return F.affine_grid(theta[None], [1, 1, size, size], align_corners=False)


class Ensemble(nn.Module):
    """EmotionNets on views of the face in one graph: log of the mean softmax plus per-class offsets.

    The engine applies softmax to the output, which gives back the mean probabilities (times the offsets' odds).
    """

    def __init__(self, members, views=("face", "mirror"), cross: bool = False):
        super().__init__()
        self.members = nn.ModuleList(members)
        parsed = [parse_view(v) for v in views]
        # (network, mirrored, zoom): in turns with `cross`, otherwise every network on every view.
        n = len(members)
        self.views = ([(j % n, *parsed[j % len(parsed)]) for j in range(max(n, len(parsed)))] if cross
                      else [(i, *view) for i in range(n) for view in parsed])
        self.mirrored = any(mirrored for _, mirrored, _ in self.views)
        for j, (_, mirrored, zoom) in enumerate(self.views):
            if zoom != 1.0:
                self.register_buffer(f"grid{j}", zoom_grid(zoom, mirrored))
        self.register_buffer("offsets", torch.zeros(len(CLASSES)))

    def view(self, x: torch.Tensor, j: int) -> torch.Tensor:
        """View j of faces x (N x 1 x 48 x 48): a flip, or bilinear resampling with the edge pixels repeated."""
        _, mirrored, zoom = self.views[j]
        if zoom == 1.0:
            return torch.flip(x, dims=[3]) if mirrored else x
        grid = getattr(self, f"grid{j}").expand(x.shape[0], -1, -1, -1)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Faces N x 1 x 48 x 48 -> N x 7: log of the mean softmax over the (network, view) pairs, plus offsets."""
        p = []
        for i, member in enumerate(self.members):
            mine = [j for j, (k, _, _) in enumerate(self.views) if k == i]
            # A network's views go through it as one batch: one larger batch runs faster than several small ones.
            out = F.softmax(member(torch.cat([self.view(x, j) for j in mine])), 1)
            p.append(out.reshape(len(mine), -1, len(CLASSES)))
        return torch.log(torch.cat(p).mean(0).clamp_min(1e-12)) + self.offsets


def load_run(run: Path) -> EmotionNet:
    """The best epoch (on val) of a training run folder."""
    model, state = load_best(run)
    print(f"{run}: epoch {state['best']['epoch']}, val accuracy {state['best']['val_acc']:.4f}", flush=True)
    return model


@torch.no_grad()
def log_probabilities(model: Ensemble, faces: np.ndarray, batch: int = 512) -> np.ndarray:
    """The ensemble's output for uint8 faces (its offsets as they are), as the engine gets it."""
    return torch.cat([model(torch.from_numpy(faces[start:start + batch]).float().unsqueeze(1))
                      for start in range(0, len(faces), batch)]).numpy()


def mark_views(path: Path, model: "Ensemble") -> None:
    """Record in the ONNX file which views its output averages, and whether the mirror image is one of them."""
    import onnx

    proto = onnx.load(str(path))
    if model.mirrored:
        proto.metadata_props.add(key=MIRROR_KEY, value="1")
    proto.metadata_props.add(key=VIEWS_KEY, value=describe(model))
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
    ap.add_argument("--views", nargs="+", type=view_arg, default=["face", "mirror"],
                    help="face, mirror, optionally @zoom (mirror@1.1); default: face mirror")
    ap.add_argument("--cross", action="store_true",
                    help="the networks take turns on the views instead of each seeing all")
    ap.add_argument("--min-recall", type=float, default=0.45, help="val recall every class but disgust should reach")
    args = ap.parse_args(argv)
    if args.cross and len(args.runs) < 2:
        ap.error("--cross needs two runs or more (one network sees every view)")
    model = Ensemble([load_run(run) for run in args.runs], args.views, args.cross).eval()
    val_x, val_y = load_npz(args.data / "val.npz")
    logp = log_probabilities(model, val_x)
    before = recalls(logp, val_y)
    offsets = choose_offsets(logp, val_y, args.min_recall)
    after = recalls(logp + offsets, val_y)
    model.offsets.copy_(torch.from_numpy(offsets).float())
    for name, scores in (("without offsets", logp), ("with offsets", logp + offsets)):
        print(f"val {name}: accuracy {(scores.argmax(1) == val_y).mean():.4f} ({describe(model)})")
    print(json.dumps({c: {"offset": round(float(o), 2), "val_recall": [round(float(b), 3), round(float(a), 3)]}
                      for c, o, b, a in zip(CLASSES, offsets, before, after)}))
    export_onnx(model, args.out)
    mark_views(args.out, model)
    print(f"exported {args.out}: {describe(model)}, "
          f"odds x{[round(math.exp(o), 2) for o in offsets]}")


def describe(model: Ensemble) -> str:
    """The graph's network runs, such as `net1 on face, net1 on mirror@1.1`."""
    return ", ".join(f"net{i + 1} on {'mirror' if mirrored else 'face'}{'' if zoom == 1.0 else f'@{zoom:g}'}"
                     for i, mirrored, zoom in model.views)


if __name__ == "__main__":
    main()
