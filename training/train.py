"""Trains the emotion model on FER2013's Training split, picks the best epoch on val, exports ONNX.

Resumes from the last checkpoint in --out, so an interrupted CPU run loses at most one epoch.
Usage: python -m training.train [--config training/config.json] [--data DIR] [--out DIR] [--export FILE]
"""
import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data import CLASSES, DEFAULT_DIR, holdout_split, load_npz
from .evaluate import HOLDOUT_KEY
from .model import EmotionNet
from .quantize import add_metadata

HERE = Path(__file__).resolve().parent


def seed_everything(seed: int) -> None:
    """Fix every random source we use."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def augment(x: torch.Tensor, cfg: dict, gen: torch.Generator) -> torch.Tensor:
    """Random affine, flip, brightness/contrast and erasing on a batch of N x 1 x 48 x 48 pixels."""
    n = x.shape[0]

    def uniform(lo, hi):
        return lo + (hi - lo) * torch.rand(n, generator=gen)

    angle = uniform(-cfg["rotate_deg"], cfg["rotate_deg"]) * math.pi / 180
    scale = uniform(1 - cfg["scale"], 1 + cfg["scale"])
    flip = torch.where(torch.rand(n, generator=gen) < cfg["flip"], -1.0, 1.0)
    tx, ty = uniform(-cfg["translate"], cfg["translate"]) * 2, uniform(-cfg["translate"], cfg["translate"]) * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = uniform(1 - cfg["contrast"], 1 + cfg["contrast"]).view(n, 1, 1, 1)
    bright = uniform(-cfg["brightness"], cfg["brightness"]).view(n, 1, 1, 1) * 127.5
    x = ((x - mean) * contrast + mean + bright).clamp(0, 255)
    # Random erasing: one grey rectangle of 2-20% of the face on a share of the batch.
    erase = torch.rand(n, generator=gen) < cfg["erase"]
    for i in torch.nonzero(erase).flatten().tolist():
        area = 48 * 48 * float(uniform(0.02, 0.2)[0])
        ratio = math.exp(float(uniform(math.log(0.3), math.log(3.3))[0]))
        h = min(47, max(2, int(round(math.sqrt(area * ratio)))))
        w = min(47, max(2, int(round(math.sqrt(area / ratio)))))
        top = int(torch.randint(0, 48 - h, (1,), generator=gen))
        left = int(torch.randint(0, 48 - w, (1,), generator=gen))
        x[i, :, top:top + h, left:left + w] = float(torch.rand(1, generator=gen)) * 255
    return x


DISGUST = CLASSES.index("disgust")


def class_weights(labels: np.ndarray, power: float) -> torch.Tensor:
    """Loss weights proportional to count ** -power, mean 1 over the classes (0: every class weighs the same)."""
    counts = np.bincount(labels, minlength=len(CLASSES)).astype(np.float64)
    w = np.maximum(counts, 1) ** -power
    return torch.tensor(w / w.mean(), dtype=torch.float32)


def epoch_order(labels: torch.Tensor, cfg: dict, gen: torch.Generator) -> torch.Tensor:
    """The epoch's faces in order: a permutation, or with `balanced_sampling_power` p > 0 (off by default) as many
    draws with replacement, each face weighted count(its class) ** -p (p = 1: every class drawn as often)."""
    power = cfg.get("balanced_sampling_power", 0.0)
    if not power:
        return torch.randperm(len(labels), generator=gen)
    counts = torch.bincount(labels, minlength=len(CLASSES)).clamp_min(1).double()
    return torch.multinomial(counts[labels] ** -power, len(labels), replacement=True, generator=gen)


def mix(x: torch.Tensor, cfg: dict, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mixup or CutMix (config `mixup_alpha`, `cutmix_alpha`; 0, the default, is off; both on: one or the other
    per batch): (mixed faces, the partner of each face, the share of each face's own label)."""
    kinds = [k for k in ("mixup", "cutmix") if cfg.get(f"{k}_alpha", 0.0) > 0]
    if not kinds:
        return x, torch.arange(len(x)), 1.0
    kind = kinds[int(torch.randint(len(kinds), (1,), generator=gen))]
    # torch's Beta sampler takes no generator: a NumPy one seeded from it keeps the batches reproducible.
    lam = float(np.random.default_rng(int(torch.randint(2 ** 31, (1,), generator=gen))).beta(
        cfg[f"{kind}_alpha"], cfg[f"{kind}_alpha"]))
    partner = torch.randperm(len(x), generator=gen)
    if kind == "mixup":
        return lam * x + (1 - lam) * x[partner], partner, lam
    size = x.shape[-1]
    h = w = int(round(size * math.sqrt(1 - lam)))
    top, left = (int(v) for v in torch.randint(0, size - h + 1, (2,), generator=gen))
    x = x.clone()
    x[..., top:top + h, left:left + w] = x[partner][..., top:top + h, left:left + w]
    return x, partner, 1 - h * w / size ** 2


def val_scores(predicted: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy and balanced accuracy (mean recall over the classes present) of predictions."""
    recalls = [float((predicted[labels == c] == c).mean()) for c in range(len(CLASSES)) if (labels == c).any()]
    return {"val_acc": float((predicted == labels).mean()), "val_balanced": float(np.mean(recalls))}


def should_validate(epoch: int, epochs: int) -> bool:
    """Whether to score val after this (1-based) epoch: every 5th, and every one of the last 30%.

    With a one-cycle schedule the best epoch is one of the last, low-learning-rate ones; scoring val after each
    early epoch too would cost about 8% of a CPU run.
    """
    return epoch % 5 == 0 or epoch > 0.7 * epochs or epoch == epochs


@torch.no_grad()
def predict(model, faces: np.ndarray, flip: bool = True, batch: int = 512) -> np.ndarray:
    """Softmax probabilities for uint8 faces, averaged with the mirrored face when `flip`."""
    model.eval()
    out = []
    for start in range(0, len(faces), batch):
        x = torch.from_numpy(faces[start:start + batch]).float().unsqueeze(1)
        p = F.softmax(model(x), 1)
        if flip:
            p = (p + F.softmax(model(torch.flip(x, dims=[3])), 1)) / 2
        out.append(p)
    return torch.cat(out).numpy()


def export_onnx(model, path: Path) -> None:
    """Write the model as ONNX with a dynamic batch axis (input N x 1 x 48 x 48 float pixels)."""
    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model, torch.zeros(1, 1, 48, 48), str(path), input_names=["faces"], output_names=["logits"],
        dynamic_axes={"faces": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False,
    )


def main(argv=None) -> None:
    """Parse options, train with resumable checkpoints, export the best epoch."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default=HERE / "config.json", type=Path)
    ap.add_argument("--data", default=DEFAULT_DIR, type=Path, help="folder with train.npz and val.npz")
    ap.add_argument("--out", default=HERE / "runs" / "default", type=Path, help="checkpoints and log")
    ap.add_argument("--export", type=Path, help="ONNX file to write from the best epoch")
    ap.add_argument("--epochs", type=int, help="override the config's epoch count")
    ap.add_argument("--seed", type=int, help="override the config's seed (another member of an ensemble)")
    ap.add_argument("--stop-after", type=int, help="stop after this many epochs in this run (resume later)")
    ap.add_argument("--limit", type=int, help="use only the first N training and validation faces (smoke runs)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    ap.add_argument("--export-now", action="store_true",
                    help="only export the best epoch scored so far to --export (a run still going, or stopped early)")
    args = ap.parse_args(argv)
    if args.export_now:
        if not args.export:
            ap.error("--export-now needs --export FILE")
        export_best(args.out, args.export)
        return

    cfg = json.loads(args.config.read_text())
    if args.epochs:
        cfg["epochs"] = args.epochs
    if args.seed is not None:
        cfg["seed"] = args.seed
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(cfg["seed"])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    args.out.mkdir(parents=True, exist_ok=True)

    train_x, train_y = load_npz(args.data / "train.npz", args.limit)
    # Choices are made on faces the network has never seen: val without its near-copies of Training faces, and,
    # since that leaves val almost no disgust face, a tenth of Training's disgust faces held out of training.
    val_x, val_y = load_npz(args.data / "val.npz", args.limit, unseen_only=True)
    keep, held = holdout_split(train_x, train_y, DISGUST)
    val_x, val_y = np.concatenate([val_x, train_x[held]]), np.concatenate([val_y, train_y[held]])
    train_x, train_y = train_x[keep], train_y[keep]
    print(f"train {len(train_y)} faces, val {len(val_y)} unseen faces ({len(held)} held-out disgust), "
          f"device {device}", flush=True)

    model = EmotionNet(cfg["widths"], cfg["hidden"], cfg["dropout"]).to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"],
                          weight_decay=cfg["weight_decay"], nesterov=True)
    steps_per_epoch = math.ceil(len(train_y) / cfg["batch_size"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], epochs=cfg["epochs"],
                                                steps_per_epoch=steps_per_epoch, pct_start=0.15)
    start_epoch, best = 0, {"val_acc": -1.0, "epoch": -1}
    last = args.out / "last.pt"
    if last.exists():
        state = torch.load(last, map_location=device, weights_only=False)
        check_same_config(args.out, cfg, state.get("config"))
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start_epoch, best = state["epoch"] + 1, state["best"]
        print(f"resumed after epoch {state['epoch'] + 1}", flush=True)
    elif cfg.get("init"):
        # A fine-tuning stage: a new run that starts from another run's network (config `init`: its best.pt or
        # last.pt), with its own schedule, sampling and checkpoints. Only the weights carry over.
        start = torch.load(cfg["init"], map_location=device, weights_only=False)
        # `init_epoch` pins the network meant (a run's last.pt changes while that run goes on).
        epoch_of = start["best"]["epoch"] if "opt" not in start else start["epoch"] + 1
        if cfg.get("init_epoch") is not None and cfg["init_epoch"] != epoch_of:
            raise SystemExit(f"{cfg['init']} holds the network after epoch {epoch_of}, not {cfg['init_epoch']} as "
                             "the config's init_epoch says: finish or fetch that run first")
        model.load_state_dict(start["model"])
        print(f"started from the network of {cfg['init']} (after epoch {epoch_of})", flush=True)

    tx = torch.from_numpy(train_x).float().unsqueeze(1)
    ty = torch.from_numpy(train_y)
    weights = class_weights(train_y, cfg.get("class_weight_power", 0.0)).to(device)
    stop = cfg["epochs"] if not args.stop_after else min(cfg["epochs"], start_epoch + args.stop_after)
    for epoch in range(start_epoch, stop):
        t0 = time.time()
        gen = torch.Generator().manual_seed(cfg["seed"] * 1000 + epoch)  # the same batches after a resume
        order = epoch_order(ty, cfg, gen)
        model.train()
        total, correct, loss_sum = 0, 0, 0.0
        for s in range(steps_per_epoch):
            idx = order[s * cfg["batch_size"]:(s + 1) * cfg["batch_size"]]
            x, partner, lam = mix(augment(tx[idx], cfg["augment"], gen), cfg, gen)
            x = x.to(device, memory_format=torch.channels_last)
            y, y_partner = ty[idx].to(device), ty[idx][partner].to(device)
            # bfloat16 autocast is the usual mixed precision on a GPU; on this project's CPUs (AVX512-BF16, no AMX)
            # float32 in channels-last layout was measured faster (0.46 s a batch against 0.59 s).
            with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y, weight=weights, label_smoothing=cfg["label_smoothing"])
                if lam < 1:
                    loss = lam * loss + (1 - lam) * F.cross_entropy(
                        logits.float(), y_partner, weight=weights, label_smoothing=cfg["label_smoothing"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
        scores = None
        if should_validate(epoch + 1, cfg["epochs"]):
            model.cpu()
            scores = val_scores(predict(model, val_x).argmax(1), val_y)
            model.to(device)
        line = {"epoch": epoch + 1, "loss": round(loss_sum / total, 4), "train_acc": round(correct / total, 4),
                **({} if scores is None else {k: round(v, 4) for k, v in scores.items()}),
                "seconds": round(time.time() - t0, 1)}
        print(json.dumps(line), flush=True)
        with open(args.out / "log.jsonl", "a") as fh:
            fh.write(json.dumps(line) + "\n")
        if scores is not None and scores["val_balanced"] > best.get("val_balanced", -1.0):
            best = {"val_acc": scores["val_acc"], "val_balanced": scores["val_balanced"], "epoch": epoch + 1}
            torch.save({"model": model.state_dict(), "config": cfg, "best": best}, args.out / "best.pt")
        # Written last and atomically: a kill mid-save leaves the previous checkpoint intact.
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "epoch": epoch, "best": best, "config": cfg}, args.out / "tmp.pt")
        (args.out / "tmp.pt").replace(last)

    if stop < cfg["epochs"]:
        print(f"stopped after epoch {stop} of {cfg['epochs']}; run again to resume", flush=True)
        return
    print(f"best epoch {best['epoch']}: balanced accuracy {best['val_balanced']:.4f}, accuracy {best['val_acc']:.4f} "
          "on unseen val faces (flip-averaged)", flush=True)
    if args.export:
        export_best(args.out, args.export)


def check_same_config(out: Path, cfg: dict, saved: dict | None) -> None:
    """Refuse to resume a run with another recipe than the one it was trained with (a changed
    training/config.json, or other --epochs or --seed): the resumed epochs would not be the same run's.

    `saved` is the recipe last.pt records (since fine-tuning stages exist); without it, best.pt's (runs started
    before); a run with neither (stopped before its first scored epoch, by older code) resumes.
    """
    if saved is None and (out / "best.pt").exists():
        saved = torch.load(out / "best.pt", map_location="cpu", weights_only=False)["config"]
    if saved is None:
        return
    changed = sorted(k for k in saved.keys() | cfg.keys() if saved.get(k) != cfg.get(k))
    if changed:
        what = ", ".join(f"{k}: {saved.get(k)!r} then, {cfg.get(k)!r} now" for k in changed)
        raise SystemExit(f"{out} was trained with another config ({what}): resume it with the one it started with")


def export_best(out: Path, path: Path) -> None:
    """Export the run's best.pt (the best epoch scored on val) as ONNX."""
    if not (out / "best.pt").exists():
        raise SystemExit(f"{out} has no epoch scored on val yet (best.pt): nothing to export")
    model, state = load_best(out)
    export_onnx(model, path)
    if "val_balanced" in state["best"]:  # scored on balanced accuracy: trained without the disgust hold-out
        add_metadata(path, {HOLDOUT_KEY: "unseen"})
    print(f"exported {path}: epoch {state['best']['epoch']}, val accuracy {state['best']['val_acc']:.4f}, "
          f"balanced {state['best'].get('val_balanced', float('nan')):.4f}", flush=True)


def load_best(out: Path) -> tuple[EmotionNet, dict]:
    """A run folder's best epoch (scored on val, best.pt) as a network in eval mode, with its checkpoint."""
    state = torch.load(out / "best.pt", map_location="cpu", weights_only=False)
    cfg = state["config"]
    model = EmotionNet(cfg["widths"], cfg["hidden"], cfg["dropout"])
    model.load_state_dict(state["model"])
    return model.eval(), state


if __name__ == "__main__":
    main()
