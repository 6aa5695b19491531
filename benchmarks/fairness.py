"""Per-group figures: detection, face_too_small, gender accuracy and age error by race group, gender and age band;
face verification's false matches per group.

Runs the engine over a labelled folder (default ../shared/data/utkface-dev: aligned 200x200 face chips and a
manifest.csv with file, age, gender (0 male, 1 female), race_name), as chips and framed in a 640x480 frame at
several face widths. Prints counts and 95% confidence intervals (Wilson for rates, normal for means), and the
worst-to-best gap of each figure. Verification: every pair of chips within a group (race group, and race group and
gender) shows two different people, so any pair verified as the same person is a false match. The data has no
second photo of anyone, so false rejections per group are measured only on the same photo captured again
(moved, tilted, turned, relit and shadowed as in _identity_video.py, on another background) and darkened step by
step: a lower bound, since a real second photo also differs in age, expression, hair, glasses and camera. Data is
only read, never copied. Never asserts.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import shlex
import sys
from collections import defaultdict
from pathlib import Path

from _common import cpu_model, setup_django  # benchmarks/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parent.parent
BANDS = ((16, 25), (26, 40), (41, 55), (56, 70))
# BlazeFace's box on a UTKFace chip (set on a grey border) is about the chip's width: median 0.99, 10th-90th
# percentile 0.94-1.06 on utkface-dev. A chip is scaled by face_px / (FACE_SHARE * its width).
FACE_SHARE = 1.0
# Verification's faces: as large as a learner's face in a webcam frame (BlazeFace misses most bare chips, which
# have no margin around the face).
VERIFICATION_FACE_PX = 200
VERIFICATION_THRESHOLDS = (0.5, 0.55)  # besides the engine's own: how the false matches fall with a stricter one


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "utkface-dev")
    parser.add_argument("--sizes", default="80,120,200", help="face widths (px) in the 640x480 frame")
    parser.add_argument("--detectors", default="blazeface,dlib,opencv")
    parser.add_argument("--engine", default="engagement.engines.bundled.BundledEngine")
    parser.add_argument("--limit", type=int, help="use the first N rows (quick runs)")
    parser.add_argument("--face-score", type=float, help="BlazeFace's face threshold (engine option face_score)")
    parser.add_argument("--verification", choices=("with", "only", "without"), default="with",
                        help="face verification's false matches per group (about 80 ms of CPU per chip)")
    return parser.parse_args()


def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson interval of a proportion."""
    if n == 0:
        return float("nan"), float("nan")
    z, p = 1.96, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    """Mean and its 95% normal interval."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    half = 1.96 * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def band(age: int) -> str:
    """The age band label of an age."""
    for low, high in BANDS:
        if low <= age <= high:
            return f"{low}-{high}"
    return "other"


def framed(chip, face_px: int, background):
    """The chip scaled so that its face is about face_px wide, in the middle of a 640x480 background."""
    import cv2

    scale = face_px / (FACE_SHARE * chip.shape[1])
    small = cv2.resize(chip, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    frame = background.copy()
    h, w = min(small.shape[0], 480), min(small.shape[1], 640)
    top, left = (480 - h) // 2, (640 - w) // 2
    frame[top:top + h, left:left + w] = small[:h, :w]
    return frame


def report(title: str, rows: list[dict]) -> None:
    """One table per grouping, then the worst-to-best gaps."""
    print()
    print(f"== {title}: {len(rows)} faces ==")
    gaps: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for grouping in ("race", "gender", "band"):
        groups: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            groups[row[grouping]].append(row)
        print(f"{grouping:<10}{'n':>5}{'detected':>22}{'too small':>20}{'gender acc':>22}{'age MAE':>20}"
              f"{'age bias':>22}")
        for name in sorted(groups):
            members = groups[name]
            n = len(members)
            found = sum(r["found"] for r in members)
            small = sum(r["error"] == "face_too_small" for r in members)
            analysed = [r for r in members if r["age"] is not None]
            right = sum(r["gender_ok"] for r in analysed)
            mae = mean_ci([abs(r["age"] - r["true_age"]) for r in analysed])
            bias = mean_ci([r["age"] - r["true_age"] for r in analysed])
            det_ci, small_ci, gen_ci = wilson(found, n), wilson(small, n), wilson(right, len(analysed))
            print(f"{name:<10}{n:>5}{found / n:>8.1%} [{det_ci[0]:.0%}-{det_ci[1]:.0%}]"
                  f"{small / n:>8.1%} [{small_ci[0]:.0%}-{small_ci[1]:.0%}]"
                  + (f"{right / len(analysed):>8.1%} [{gen_ci[0]:.0%}-{gen_ci[1]:.0%}]"
                     f"{mae[0]:>8.1f} [{mae[1]:.1f}-{mae[2]:.1f}]{bias[0]:>+9.1f} [{bias[1]:+.1f}-{bias[2]:+.1f}]"
                     if analysed else f"{'-':>22}{'-':>20}{'-':>22}"))
            gaps[f"{grouping} detected"].append((name, found / n))
            if analysed:
                gaps[f"{grouping} gender acc"].append((name, right / len(analysed)))
                gaps[f"{grouping} age MAE"].append((name, mae[0]))
    print("worst-to-best gaps: " + "; ".join(
        f"{figure} {max(v for _, v in values) - min(v for _, v in values):.3g} "
        f"({min(values, key=lambda x: x[1])[0]} {min(v for _, v in values):.3g} vs "
        f"{max(values, key=lambda x: x[1])[0]} {max(v for _, v in values):.3g})"
        for figure, values in gaps.items() if len(values) > 1))


def verification_report(engine, manifest: list[dict], chips: list, backgrounds: list, face_px: int) -> None:
    """False matches among pairs of different people within each race group, and each race group and gender."""
    import itertools

    import numpy as np

    described = [engine.describe_face(np.ascontiguousarray(framed(chip, face_px, backgrounds[i % len(backgrounds)])))
                 for i, chip in enumerate(chips)]
    print()
    print(f"== verification ({engine.verification_model}, threshold {engine.verification_threshold}), chips framed "
          f"at {face_px} px: {sum(d.descriptor is not None for d in described)} of {len(chips)} described ==")
    groups: dict[str, list[np.ndarray]] = defaultdict(list)
    for row, d in zip(manifest, described):
        if d.descriptor is not None:
            gender = "Woman" if row["gender"] == "1" else "Man"
            groups[row["race_name"]].append(d.descriptor)
            groups[f"{row['race_name']} {gender}"].append(d.descriptor)
    thresholds = sorted({engine.verification_threshold, *VERIFICATION_THRESHOLDS})
    print(f"{'group':<16}{'chips':>6}{'pairs':>7}" + "".join(f"{f'false matches at {t:.2f}':>30}" for t in thresholds)
          + f"{'closest':>9}{'p1':>7}{'median':>8}")
    rates = []
    for name in sorted(groups):
        distances = np.array([engine.faces_distance(a, b) for a, b in itertools.combinations(groups[name], 2)])
        line = f"{name:<16}{len(groups[name]):>6}{len(distances):>7}"
        for t in thresholds:
            matches = int((distances < t).sum())
            low, high = wilson(matches, len(distances))
            line += f"{matches:>6} {matches / len(distances):>6.2%} [{low:.2%}-{high:.2%}]"
            if " " not in name and t == engine.verification_threshold:
                rates.append((name, matches / len(distances)))
        print(line + f"{distances.min():>9.3f}{np.percentile(distances, 1):>7.3f}{np.median(distances):>8.3f}")
    worst, best = max(rates, key=lambda x: x[1]), min(rates, key=lambda x: x[1])
    print(f"worst-to-best gap of the false-match rate by race group at {engine.verification_threshold}: "
          f"{worst[1] - best[1]:.2%} ({worst[0]} {worst[1]:.2%} vs {best[0]} {best[1]:.2%})")
    recapture_report(engine, manifest, chips, described, thresholds)
    darkness_report(engine, manifest, [framed(chip, face_px, backgrounds[i % len(backgrounds)])
                                       for i, chip in enumerate(chips)], described, min(thresholds))


def recapture_report(engine, manifest: list[dict], chips: list, described: list, thresholds: list[float]) -> None:
    """Rejections of each chip against itself captured again (head and light changed): NOT same-person pairs."""
    import numpy as np

    from _identity_video import frame_at

    rng = np.random.default_rng(0)
    groups: dict[str, list[float]] = defaultdict(list)
    lost: dict[str, int] = defaultdict(int)
    refused: list[str] = []
    for row, chip, first in zip(manifest, chips, described):
        if first.descriptor is None:
            continue
        # A moment of the identity session's video: its head pose and light, drawn at random per chip.
        image = frame_at(chip, (0, 0, chip.shape[1], chip.shape[0]), rng.uniform(0, 600), rng)
        again = engine.describe_face(image)
        gender = "Woman" if row["gender"] == "1" else "Man"
        distance = None if again.descriptor is None else engine.faces_distance(first.descriptor, again.descriptor)
        if distance is not None and distance >= min(thresholds):
            refused.append(f"{row['file']} ({row['race_name']}): {distance:.3f}, the frame's mean brightness "
                            f"{image.mean():.0f} of 255")
        for name in (row["race_name"], f"{row['race_name']} {gender}"):
            if distance is None:
                lost[name] += 1
            else:
                groups[name].append(distance)
    print()
    print("== false rejections on the SAME PHOTO captured again (not same-person pairs: a lower bound; the data has "
          "no second photo of anyone) ==")
    print(f"{'group':<16}{'pairs':>6}{'no face':>8}" + "".join(f"{f'rejected at {t:.2f}':>26}" for t in thresholds)
          + f"{'median':>8}{'max':>7}")
    for name in sorted(groups):
        distances = np.array(groups[name])
        line = f"{name:<16}{len(distances):>6}{lost[name]:>8}"
        for t in thresholds:
            rejected = int((distances >= t).sum())
            low, high = wilson(rejected, len(distances))
            line += f"{rejected:>4} {rejected / len(distances):>6.1%} [{low:.1%}-{high:.1%}]"
        print(line + f"{np.median(distances):>8.3f}{distances.max():>7.3f}")
    print(f"rejected at {min(thresholds):.2f}: " + ("; ".join(refused) or "none"))


# Darker and darker light (gain, gamma), as a room's light dims past what a camera's exposure makes up for.
DARKNESS = ((1.0, 1.0), (0.6, 1.3), (0.45, 1.6), (0.35, 1.8), (0.25, 2.0), (0.18, 2.2))


def darkness_report(engine, manifest: list[dict], frames: list, described: list, threshold: float,
                    every: int = 5) -> None:
    """Each group's framed chips (every `every`th) against themselves darkened step by step: distances and
    rejections."""
    import numpy as np

    from engagement.services import face_brightness

    rows: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)
    for i, (row, image, first) in enumerate(zip(manifest, frames, described)):
        if i % every or first.descriptor is None:
            continue
        for level, (gain, gamma) in enumerate(DARKNESS[1:], start=1):
            dark = np.clip((image / 255.0) ** gamma * gain * 255, 0, 255).astype(np.uint8)
            again = engine.describe_face(dark)
            if again.descriptor is not None:
                # The brightness the exam's identity check compares with MONITOR_IDENTITY_MIN_BRIGHTNESS.
                rows[(row["race_name"], level)].append(
                    (engine.faces_distance(first.descriptor, again.descriptor), face_brightness(dark, again.face)))
    print()
    print(f"== the same framed chip darkened (every {every}th chip; gain, gamma per level: "
          + ", ".join(f"{level} = {g:g}, {y:g}" for level, (g, y) in enumerate(DARKNESS[1:], start=1))
          + "): NOT same-person pairs ==")
    print(f"{'group':<10}{'level':>6}{'n':>5}{'face brightness':>17}{'median':>8}{'max':>7}"
          f"{f'rejected at {threshold:.2f}':>18}")
    for (name, level), values in sorted(rows.items()):
        distances = np.array([d for d, _ in values])
        print(f"{name:<10}{level:>6}{len(values):>5}{np.median([b for _, b in values]):>17.0f}"
              f"{np.median(distances):>8.3f}{distances.max():>7.3f}{int((distances >= threshold).sum()):>18}")


def main() -> None:
    """Analyse every chip as a chip and framed at each size, with each detector."""
    args = parse_args()
    print("command: " + shlex.join(["python", os.path.relpath(__file__, Path.cwd()), *sys.argv[1:]]))
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs")
    setup_django()
    import cv2
    import numpy as np
    from skimage import data

    from engagement.engines import build_engine

    with open(args.data / "manifest.csv", newline="") as handle:
        manifest = list(csv.DictReader(handle))[:args.limit]
    chips = [cv2.cvtColor(cv2.imread(str(args.data / row["file"])), cv2.COLOR_BGR2RGB) for row in manifest]
    backgrounds = [cv2.resize(np.asarray(img), (640, 480)) for img in (data.coffee(), data.rocket(), data.chelsea())]
    engine = build_engine({"ENGINE": args.engine, "OPTIONS": {"threads": 1, **({"face_score": args.face_score} if args.face_score else {})}})
    print(f"engine {args.engine}, options {engine.options}; data {args.data} ({len(manifest)} chips)")
    if args.verification != "without":
        verification_report(engine, manifest, chips, backgrounds, VERIFICATION_FACE_PX)
    if args.verification == "only":
        return
    for detector in [d.strip() for d in args.detectors.split(",") if d.strip()]:
        cases = [("chip (200x200)", None)] + [(f"framed at {px} px", int(px)) for px in args.sizes.split(",")]
        for title, px in cases:
            rows = []
            for i, (row, chip) in enumerate(zip(manifest, chips)):
                image = chip if px is None else framed(chip, px, backgrounds[i % len(backgrounds)])
                result = engine.analyze(np.ascontiguousarray(image), detector=detector)
                true_gender = "Woman" if row["gender"] == "1" else "Man"
                rows.append({"race": row["race_name"], "gender": true_gender, "band": band(int(row["age"])),
                             "true_age": int(row["age"]), "found": result.face_count > 0, "error": result.error,
                             "age": result.age, "gender_ok": result.gender == true_gender})
            report(f"{detector}, {title}", rows)


if __name__ == "__main__":
    main()
