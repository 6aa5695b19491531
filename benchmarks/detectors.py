"""Compare the engine's face detectors (BlazeFace, dlib HOG, OpenCV Haar) on photos and webcam-like frames; FER2013."""
from __future__ import annotations

import argparse
import csv
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

from _common import cpu_model, percentile, setup_django  # benchmarks/ is on sys.path when a script runs
from _frames import KINDS, labelled_mix

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
ENGINE_PATH = "engagement.engines.bundled.BundledEngine"
README_FER_ACCURACY = 63  # % measured when the data set was prepared (its README)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare the engine's detectors on labelled photos (exact face count, false positives on "
        "photos with no face, misses, detection ms on each photo resized to a webcam-like long side) and on the "
        "realistic 640x480 frame mix of benchmarks/_frames.py (per kind: exact counts, false faces, detect ms), "
        "and measure the emotion model's accuracy on 48x48 FER2013 faces with detector 'skip'. Data is only read "
        "from the given directories, never copied. Prints plain text; never asserts on timings.",
    )
    parser.add_argument("--photos", type=Path, default=SHARED_DATA / "photos",
                        help="directory with manifest.csv (file,expected_human_faces,...) and the photos it lists "
                        "(default: ../shared/data/photos relative to the repository)")
    parser.add_argument("--fer", type=Path, default=SHARED_DATA / "fer2013-dev",
                        help="directory with <emotion>/*.jpg FER2013 faces (default: ../shared/data/fer2013-dev "
                        "relative to the repository); pass an empty string to skip")
    parser.add_argument("--detectors", default="blazeface,dlib,opencv",
                        help="comma-separated detectors (default blazeface,dlib,opencv)")
    parser.add_argument("--long-side", type=int, default=640,
                        help="each photo is resized so its long side is this many pixels (default 640)")
    parser.add_argument("--repeats", type=int, default=7,
                        help="timed detections per photo and detector, after one warm-up (default 7)")
    parser.add_argument("--per-photo", action=argparse.BooleanOptionalAction, default=True,
                        help="print one line per photo (default on)")
    parser.add_argument("--face-score", type=float, help="BlazeFace's face threshold (engine option face_score)")
    return parser.parse_args()






def load_rgb(path: Path):
    """Decode with the app's own decoder (EXIF rotation, RGBA/grey to RGB), as an upload would be."""
    from engagement.images import decode_image

    return decode_image(path.read_bytes(), max_pixels=10**9)


def resize_long_side(rgb, long_side: int):
    """Scale an RGB array so its long side is `long_side` pixels, as a webcam frame would be."""
    import numpy as np
    from PIL import Image

    height, width = rgb.shape[:2]
    scale = long_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


def read_manifest(photos: Path) -> tuple[list[dict], list[str]]:
    """Manifest rows whose file exists, and a note for each that does not."""
    rows, notes = [], []
    with open(photos / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            path = photos / row["file"]
            if not path.is_file():
                notes.append(f"skipped {row['file']}: listed in manifest.csv but missing")
                continue
            rows.append({"file": row["file"], "path": path, "expected": int(row["expected_human_faces"]),
                         "group": row["file"].split("/", 1)[0]})
    return rows, notes


def compare_detectors(engine, args: argparse.Namespace, detectors: list[str]) -> None:
    """Face counts and detection times of each detector on the manifest's photos, per photo and summarised."""
    rows, notes = read_manifest(args.photos)
    print(f"photos: {args.photos} ({len(rows)} usable rows of manifest.csv)")
    for note in notes:
        print(f"note: {note}")
    for row in rows:
        original = load_rgb(row["path"])
        row["original_size"] = f"{original.shape[1]}x{original.shape[0]}"
        row["rgb"] = resize_long_side(original, args.long_side)

    found: dict[str, dict[str, int]] = {d: {} for d in detectors}
    times: dict[str, dict[str, list[float]]] = {d: {} for d in detectors}
    for detector in detectors:
        for row in rows:
            # analyze() reports the detect stage itself (grey conversion + detection, incl. the fallback pass).
            counts, ms = set(), []
            engine.analyze(row["rgb"], detector=detector)
            for _ in range(args.repeats):
                result = engine.analyze(row["rgb"], detector=detector)
                counts.add(result.face_count)
                ms.append(result.timings["detect"])
            if len(counts) > 1:
                print(f"note: {detector} gave varying face counts {sorted(counts)} on {row['file']}")
            found[detector][row["file"]] = result.face_count
            times[detector][row["file"]] = ms

    if args.per_photo:
        print()
        print(f"Per photo (resized to {args.long_side} px long side; faces found, median detect ms)")
        header = f"{'file':<42}{'size':>11}{'expected':>9}"
        header += "".join(f"{d + ' faces':>13}{'ms':>7}" for d in detectors)
        print(header)
        for row in rows:
            line = f"{row['file']:<42}{row['original_size']:>11}{row['expected']:>9}"
            for d in detectors:
                line += f"{found[d][row['file']]:>13}{statistics.median(times[d][row['file']]):>7.1f}"
            print(line)

    print()
    groups = sorted({row["group"] for row in rows})
    print("Detector summary")
    header = (f"{'detector':<10}{'exact count':>13}{'FP on noface':>14}{'noface w/ FP':>14}{'misses':>8}"
              f"{'extra on faces':>16}{'detect p50 ms':>15}{'p95 ms':>8}")
    header += "".join(f"{g + ' p50':>16}" for g in groups)
    print(header)
    with_faces = [r for r in rows if r["expected"] > 0]
    noface = [r for r in rows if r["expected"] == 0]
    expected_faces = sum(r["expected"] for r in with_faces)
    for d in detectors:
        exact = sum(found[d][r["file"]] == r["expected"] for r in rows)
        false_pos = sum(found[d][r["file"]] for r in noface)
        noface_hit = sum(found[d][r["file"]] > 0 for r in noface)
        misses = sum(max(0, r["expected"] - found[d][r["file"]]) for r in with_faces)
        extra = sum(max(0, found[d][r["file"]] - r["expected"]) for r in with_faces)
        all_ms = [v for r in rows for v in times[d][r["file"]]]
        line = (f"{d:<10}{f'{exact}/{len(rows)}':>13}{false_pos:>14}{f'{noface_hit}/{len(noface)}':>14}"
                f"{f'{misses}/{expected_faces}':>8}{extra:>16}"
                f"{percentile(all_ms, 50):>15.1f}{percentile(all_ms, 95):>8.1f}")
        for g in groups:
            group_ms = [v for r in rows if r["group"] == g for v in times[d][r["file"]]]
            line += f"{percentile(group_ms, 50):>16.1f}"
        print(line)
    print("(exact count: photos whose face count equals the manifest's; FP: faces found on no-face photos; "
          "misses: expected faces not found; extra: faces beyond the expected count on photos with faces; "
          f"detect ms over {args.repeats} runs per photo, all photos)")


def compare_on_frames(engine, args: argparse.Namespace, detectors: list[str]) -> None:
    """Per kind of realistic webcam frame: exact face counts, false faces, misses and detect ms per detector."""
    mix = labelled_mix(use_dev_photos=(args.photos / "manifest.csv").is_file())
    print()
    print("Webcam-like 640x480 frames (benchmarks/_frames.py): exact counts, faces found beyond / short of the "
          f"people in view, median detect ms over {args.repeats} runs")
    print(f"{'kind':<14}{'frames':>7}" + "".join(f"{d + ' exact':>17}{'extra':>6}{'missed':>7}{'ms':>7}"
                                                for d in detectors))
    totals = {d: [0, 0, 0, []] for d in detectors}
    for kind in KINDS:
        frames = mix[kind]
        line = f"{kind:<14}{len(frames):>7}"
        for d in detectors:
            exact = extra = missed = 0
            ms = []
            for frame, people in frames:
                engine.analyze(frame, detector=d)
                for _ in range(args.repeats):
                    result = engine.analyze(frame, detector=d)
                    ms.append(result.timings["detect"])
                exact += result.face_count == people
                extra += max(0, result.face_count - people)
                missed += max(0, people - result.face_count)
            line += f"{f'{exact}/{len(frames)}':>17}{extra:>6}{missed:>7}{percentile(ms, 50):>7.1f}"
            for i, value in enumerate((exact, extra, missed)):
                totals[d][i] += value
            totals[d][3].extend(ms)
        print(line)
    count = sum(len(f) for f in mix.values())
    print(f"{'all':<14}{count:>7}" + "".join(f"{f'{t[0]}/{count}':>17}{t[1]:>6}{t[2]:>7}{percentile(t[3], 50):>7.1f}"
                                             for t in totals.values()))


def fer_accuracy(engine, fer_dir: Path) -> None:
    """Accuracy of the emotion model on <emotion>/*.jpg faces, overall, per class, and a confusion matrix."""
    import numpy as np

    from engagement.engines.base import EMOTIONS

    print()
    print(f"Emotion model on {fer_dir} (detector 'skip': the whole image is the face)")
    classes = [name for name in EMOTIONS if (fer_dir / name).is_dir()]
    others = sorted(p.name for p in fer_dir.iterdir() if p.is_dir() and p.name not in EMOTIONS)
    if others:
        print(f"note: ignored directories that are not emotion classes: {others}")
    files = [(name, path) for name in classes for path in sorted((fer_dir / name).glob("*.jpg"))]
    if not files:
        print("note: no images found")
        return
    images = [load_rgb(path) for _, path in files]
    started = time.perf_counter()
    results = engine.analyze_many(images, detector="skip")
    elapsed = time.perf_counter() - started
    predicted = [max(r.emotions, key=r.emotions.__getitem__) if r.emotions else None for r in results]
    truth = [name for name, _ in files]
    correct = sum(p == t for p, t in zip(predicted, truth))
    print(f"overall accuracy: {correct}/{len(files)} = {100 * correct / len(files):.1f}% "
          f"(README reference: {README_FER_ACCURACY}%); {len(files)} faces analysed in {elapsed * 1000:.0f} ms")
    print(f"{'class':<10}{'n':>5}{'correct':>9}{'accuracy':>10}{'predicted as this':>19}")
    for name in classes:
        n = sum(t == name for t in truth)
        ok = sum(p == t == name for p, t in zip(predicted, truth))
        times_predicted = sum(p == name for p in predicted)
        print(f"{name:<10}{n:>5}{ok:>9}{f'{100 * ok / n:.1f}%':>10}{times_predicted:>19}")
    matrix = np.zeros((len(EMOTIONS), len(EMOTIONS)), int)
    for p, t in zip(predicted, truth):
        if p is not None:
            matrix[EMOTIONS.index(t), EMOTIONS.index(p)] += 1
    print("confusion (rows: label, columns: prediction)")
    print(f"{'':<10}" + "".join(f"{name[:7]:>8}" for name in EMOTIONS))
    for i, name in enumerate(EMOTIONS):
        if name in classes:
            print(f"{name:<10}" + "".join(f"{v:>8}" for v in matrix[i]))




def main() -> None:
    """Run the detector comparison and the emotion accuracy, and print the tables."""
    args = parse_args()
    detectors = [d.strip() for d in args.detectors.split(",") if d.strip()]
    if not detectors or set(detectors) - {"blazeface", "dlib", "opencv"}:
        sys.exit(f"--detectors takes blazeface, dlib and/or opencv, not {args.detectors!r}")
    print("command: " + shlex.join(["python", os.path.relpath(__file__, Path.cwd()), *sys.argv[1:]]))
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
          f"Python {platform.python_version()}")
    setup_django()
    from engagement.engines import build_engine

    # One engine serves every detector (analyze takes it per call); age/gender is not what is measured here.
    engine = build_engine({"ENGINE": ENGINE_PATH, "OPTIONS": {"age_gender": False, "threads": 1,
                                                               **({"face_score": args.face_score} if args.face_score else {})}})
    options = {k: v for k, v in engine.options.items() if k != "detector"}
    print(f"engine options: {options}")
    if not (args.photos / "manifest.csv").is_file():
        print(f"note: no manifest.csv in {args.photos}: detector comparison skipped")
    else:
        compare_detectors(engine, args, detectors)
    compare_on_frames(engine, args, detectors)
    if str(args.fer) in ("", "."):
        pass
    elif not args.fer.is_dir():
        print(f"note: {args.fer} does not exist: emotion accuracy skipped")
    else:
        fer_accuracy(engine, args.fer)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
