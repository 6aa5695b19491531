"""Face verification: accuracy on labelled pairs at the shipped threshold, distance distributions, time per descriptor.

Reads a folder with manifest.csv (file, person) and pairs.csv (file_a, file_b, label same/different), default
../shared/data/identity (16 photos of 6 people). Each photo's largest face is described once by the configured
engine (describe_face, as /verify-faces does); every pair is then a distance. Prints accuracy, false matches
(different people verified) and false non-matches at the engine's threshold and a few others, the quantiles of
the same and different distances, and the wall-clock and CPU time of one descriptor on a 640x480 webcam frame
(medians over --repeat runs; the engine uses one thread). Data is only read, never copied. Never asserts.
"""
from __future__ import annotations

import argparse
import csv
import os
import shlex
import sys
import time
from pathlib import Path

from _common import cpu_model, percentile, setup_django  # benchmarks/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "identity")
    parser.add_argument("--engine", default="engagement.engines.bundled.BundledEngine")
    parser.add_argument("--detector", default=None, help="detector_backend (default: the engine's)")
    parser.add_argument("--repeat", type=int, default=20, help="descriptor timings (medians)")
    parser.add_argument("--thresholds", default="0.5,0.55,0.6,0.65", help="also report these thresholds")
    return parser.parse_args()


def quantiles(values: list[float]) -> str:
    """min, 5th, 50th, 95th percentile and max of distances."""
    marks = [min(values), percentile(values, 5), percentile(values, 50), percentile(values, 95), max(values)]
    return " / ".join(f"{v:.3f}" for v in marks)


def main() -> None:
    """Describe each photo once, score every pair, then time descriptors on a webcam frame."""
    args = parse_args()
    print("command: " + shlex.join(["python", os.path.relpath(__file__, Path.cwd()), *sys.argv[1:]]))
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; load average at start {os.getloadavg()[0]:.2f}")
    setup_django()
    import numpy as np
    from PIL import Image, ImageOps

    from engagement.engines import build_engine
    from tests import images

    engine = build_engine({"ENGINE": args.engine, "OPTIONS": {"threads": 1}})
    threshold = engine.verification_threshold
    print(f"engine {args.engine}, model {engine.verification_model}, threshold {threshold}; data {args.data}")
    descriptors, missing = {}, []
    with open(args.data / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            with Image.open(args.data / row["file"]) as photo:
                rgb = np.asarray(ImageOps.exif_transpose(photo).convert("RGB"))
            described = engine.describe_face(rgb, detector=args.detector)
            if described.descriptor is None:
                missing.append(f"{row['file']} ({described.error})")
            else:
                descriptors[row["file"]] = described.descriptor
    if missing:
        print("no descriptor (pairs left out): " + ", ".join(missing))
    with open(args.data / "pairs.csv", newline="") as handle:
        pairs = [(row["file_a"], row["file_b"], row["label"] == "same") for row in csv.DictReader(handle)
                 if row["file_a"] in descriptors and row["file_b"] in descriptors]
    distances = [(engine.faces_distance(descriptors[a], descriptors[b]), same) for a, b, same in pairs]
    same = [d for d, s in distances if s]
    different = [d for d, s in distances if not s]
    print(f"\n{len(pairs)} pairs: {len(same)} same person, {len(different)} different")
    print(f"{'threshold':>10}{'accuracy':>10}{'false match':>16}{'false non-match':>18}")
    for t in sorted({threshold, *(float(v) for v in args.thresholds.split(","))}):
        right = sum((d < t) == s for d, s in distances)
        false_match = sum(d < t for d in different)
        false_non_match = sum(d >= t for d in same)
        mark = "  <- shipped" if t == threshold else ""
        print(f"{t:>10.2f}{right / len(distances):>10.1%}{false_match:>7} ({false_match / len(different):.1%})"
              f"{false_non_match:>9} ({false_non_match / len(same):.1%}){mark}")
    print(f"distances, min / p5 / median / p95 / max: same {quantiles(same)}; different {quantiles(different)}")

    frame = images.webcam_face()
    face = engine.describe_face(frame).face
    wall, cpu, located_wall, located_cpu = [], [], [], []
    for _ in range(args.repeat):
        for walls, cpus, given in ((wall, cpu, None), (located_wall, located_cpu, face)):
            started, started_cpu = time.perf_counter(), time.process_time()
            engine.describe_face(frame, detector=args.detector, face=given)
            walls.append((time.perf_counter() - started) * 1000)
            cpus.append((time.process_time() - started_cpu) * 1000)
    print(f"\none 640x480 webcam frame, {args.repeat} runs, medians: detect + landmarks + descriptor "
          f"{percentile(wall, 50):.1f} ms wall, {percentile(cpu, 50):.1f} ms CPU; landmarks + descriptor of a face "
          f"already found {percentile(located_wall, 50):.1f} ms wall, {percentile(located_cpu, 50):.1f} ms CPU")


if __name__ == "__main__":
    main()
