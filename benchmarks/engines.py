"""The bundled engine and DeepFace side by side: load time, time per frame by kind of frame, and memory.

Each engine runs in a fresh subprocess (so that its memory is its own) on the webcam-like frame mix of
benchmarks/_frames.py, each frame analysed --runs times after a warm-up. DeepFace runs when it is installed
(`make test-deepface` builds .venv-deepface: run this script with that environment's python). Its weights come
from $DEEPFACE_HOME, or, with --untrained-weights, from DeepFace's own networks saved with random values in a
temporary folder: the same computation, so the same time and memory, but meaningless answers. Never asserts.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import cpu_model, percentile, setup_django  # benchmarks/ is on sys.path when a script runs

ENGINES = {"bundled": "engagement.engines.bundled.BundledEngine",
           "deepface": "engagement.engines.deepface.DeepFaceEngine"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="analyses of each frame after one warm-up (default 3)")
    parser.add_argument("--deepface-detector", default="opencv", help="DeepFace's detector (default opencv)")
    parser.add_argument("--untrained-weights", action="store_true",
                        help="write DeepFace's networks with random values to a temporary DEEPFACE_HOME")
    parser.add_argument("--probe", choices=sorted(ENGINES), help=argparse.SUPPRESS)
    return parser.parse_args()


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the parent across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def probe(name: str, args: argparse.Namespace) -> dict:
    """In this (fresh) process: build and warm the engine, time every frame, report as JSON."""
    started = time.perf_counter()
    setup_django()
    from _frames import encode_mix, frame_mix

    from engagement.engines import build_engine
    from engagement.images import decode_image

    options = {"detector": args.deepface_detector} if name == "deepface" else {}
    engine = build_engine({"ENGINE": ENGINES[name], "OPTIONS": options})
    engine.warm_up()
    load_s = time.perf_counter() - started
    rss_loaded = peak_rss_mib()
    kinds = {}
    for kind, jpegs in encode_mix(frame_mix()).items():
        times, stages = [], {}
        for jpeg in jpegs:
            image = decode_image(jpeg, max_pixels=4096 * 4096)
            engine.analyze(image)  # warm-up of this frame
            for _ in range(args.runs):
                t0 = time.perf_counter()
                result = engine.analyze(image)
                times.append((time.perf_counter() - t0) * 1000)
                for stage, ms in result.timings.items():
                    stages.setdefault(stage, []).append(ms)
        kinds[kind] = {"p50": percentile(times, 50), "p95": percentile(times, 95),
                       "stages": {stage: percentile(v, 50) for stage, v in stages.items()}}
    return {"engine": name, "options": engine.options, "load_s": load_s, "rss_loaded_mib": rss_loaded,
            "rss_peak_mib": peak_rss_mib(), "kinds": kinds}


def main() -> None:
    """Run each available engine in its own subprocess and print one table."""
    args = parse_args()
    if args.probe:
        print(json.dumps(probe(args.probe, args), default=str))
        return
    print("command: " + shlex.join(["python", os.path.relpath(__file__, Path.cwd()), *sys.argv[1:]]))
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    names = ["bundled"] + (["deepface"] if importlib.util.find_spec("deepface") else [])
    if len(names) == 1:
        print("deepface is not installed: only the bundled engine runs (make test-deepface builds .venv-deepface)")
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as scratch:
        if "deepface" in names and args.untrained_weights:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
            from tests.deepface_weights import write_random_weights

            write_random_weights(os.path.join(scratch, ".deepface", "weights"))
            env["DEEPFACE_HOME"] = scratch
            print("DeepFace weights: its own networks with random values (timing and memory only)")
        reports = []
        for name in names:
            command = [sys.executable, __file__, "--probe", name, "--runs", str(args.runs),
                       "--deepface-detector", args.deepface_detector]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            reports.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for report in reports:
        print(f"\n[{report['engine']}] options {report['options']}")
        print(f"build and warm-up {report['load_s']:.1f} s; RSS after warm-up {report['rss_loaded_mib']:.0f} MiB, "
              f"peak {report['rss_peak_mib']:.0f} MiB")
        print(f"{'kind':<14}{'p50 ms':>9}{'p95 ms':>9}  stages p50 ms")
        for kind, row in report["kinds"].items():
            stages = ", ".join(f"{stage} {ms:.1f}" for stage, ms in row["stages"].items())
            print(f"{kind:<14}{row['p50']:>9.1f}{row['p95']:>9.1f}  {stages}")


if __name__ == "__main__":
    main()
