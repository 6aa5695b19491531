"""CPU time per stage of one exam frame, in one thread: base64 + decode, engine, row and rules, reply building;
how often the detector looks a second time, and at what cost.

Runs the exam path's own functions (the ones a server thread or a Celery worker runs) on the realistic mix
(benchmarks/_frames.py) against a throwaway SQLite database, and prints thread CPU time (time.thread_time) per
stage beside wall time: on a shared machine the CPU figures are the stable ones. Never asserts on timings.
"""
from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import time
import uuid

from _common import setup_django_throwaway  # benchmarks/ is on sys.path when a script runs


class _Looks:
    """Second looks of the BlazeFace detector counted per kind of frame, with their thread CPU time."""

    def __init__(self):
        self.kind, self.calls, self.cpu_ms = "", {}, 0.0

    def clear(self):
        from collections import Counter

        self.calls, self.cpu_ms = Counter(), 0.0


def second_looks_counted() -> _Looks:
    """Count the detector's second looks (they run only where its first pass is not sure) from now on."""
    from collections import Counter

    from engagement.engines import detectors

    looks = _Looks()
    looks.calls = Counter()
    real = detectors.BlazeFaceDetector._second_look

    def counted(self, rgb, d, faces):
        started = time.thread_time()
        try:
            return real(self, rgb, d, faces)
        finally:
            looks.calls[looks.kind] += 1
            looks.cpu_ms += (time.thread_time() - started) * 1000

    detectors.BlazeFaceDetector._second_look = counted
    return looks


def main() -> None:
    """Set up a throwaway database, send --frames frames through the exam path, print per-stage CPU."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=200, help="frames timed (default 200), after 20 warm-up")
    parser.add_argument("--quality", type=int, default=80, help="JPEG quality (default 80)")
    args = parser.parse_args()
    tmp = setup_django_throwaway("frame_cpu-")
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from _frames import encode_mix, frame_mix
    from engagement import services as engagement
    from engagement.engines import warm_up
    from monitor import selectors, services

    mix = encode_mix(frame_mix(use_dev_photos=True), quality=args.quality)
    urls = [(kind, "data:image/jpeg;base64," + base64.b64encode(j).decode()) for kind, js in mix.items() for j in js]
    learner = get_user_model().objects.create_user("bench-learner")
    session = services.session_create(learner=learner, course_id="c", exam_id="e")
    warm_up()
    stages = ("decode", "engine", "record", "reply")
    cpu = {s: [] for s in stages}
    wall = {s: [] for s in stages}
    totals = []

    def timed(stage, fn):
        c, w = time.thread_time(), time.perf_counter()
        value = fn()
        cpu[stage].append((time.thread_time() - c) * 1000)
        wall[stage].append((time.perf_counter() - w) * 1000)
        return value

    looks = second_looks_counted()
    engine_by_kind: dict[str, list[float]] = {}
    age_gender = selectors.exam_age_gender_inferred()
    for i in range(args.frames + 20):
        if i == 20:
            cpu, wall, totals = {s: [] for s in stages}, {s: [] for s in stages}, []
            looks.clear()
        kind, url = urls[i % len(urls)]
        looks.kind = kind
        started = time.thread_time()
        image, frame_time, _ = timed("decode", lambda: engagement._prepare(engagement.Frame(image=url)))
        analysis, name = timed("engine", lambda: engagement._engine_run([image], None, age_gender))
        result = engagement.result_build(analysis=analysis[0], frame_time=frame_time, engine_name=name, timings={})
        record = timed("record", lambda: services.session_frame_record(
            session_id=session.id, user=learner.pk, result=result, frame_id=str(uuid.uuid4()),
            received_at=frame_time))
        timed("reply", lambda: selectors.session_live_row(session=record.session, open_alerts=record.open_alerts))
        totals.append((time.thread_time() - started) * 1000)
        if i >= 20:
            engine_by_kind.setdefault(kind, []).append(cpu["engine"][-1])
    # Read before the whole-path run below, whose second looks would otherwise be counted into the last kind.
    looks_cpu_ms, looks_calls = looks.cpu_ms, dict(looks.calls)
    # The whole path as a server thread or a worker runs it (connection handling included), frame after frame.
    whole = []
    for i in range(args.frames):
        started = time.thread_time()
        services.session_frame_process(session_id=str(session.id), user_id=learner.pk, frame_id=str(uuid.uuid4()),
                                       image=urls[i % len(urls)][1], timestamp=None)
        whole.append((time.thread_time() - started) * 1000)
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    print(f"{args.frames} frames of the mix ({', '.join(mix)}), one thread, SQLite in {tmp}; "
          f"age/gender {'on' if age_gender else 'off'}; engine options {settings.ENGAGEMENT['OPTIONS']}")
    print(f"{'stage':10} {'CPU ms p50':>10} {'CPU mean':>9} {'wall p50':>9}")
    for stage in stages:
        print(f"{stage:10} {statistics.median(cpu[stage]):10.2f} {statistics.fmean(cpu[stage]):9.2f} "
              f"{statistics.median(wall[stage]):9.2f}")
    print(f"{'all':10} {statistics.median(totals):10.2f} {statistics.fmean(totals):9.2f}")
    frames_of = {kind: sum(1 for i in range(20, args.frames + 20) if urls[i % len(urls)][0] == kind) for kind in mix}
    print(f"detector's second looks (a doubtful or small candidate, or nobody found): {sum(looks_calls.values())} in "
          f"{args.frames} frames, {looks_cpu_ms:.0f} ms CPU ({looks_cpu_ms / args.frames:.2f} ms a frame); per kind: "
          + ", ".join(f"{kind} {looks_calls.get(kind, 0)}/{frames_of[kind]}" for kind in mix))
    medians = {kind: statistics.median(values) for kind, values in engine_by_kind.items()}
    print("engine CPU p50 per kind: " + ", ".join(f"{kind} {ms:.2f}" for kind, ms in medians.items())
          + f" ms; slowest / fastest {max(medians.values()) / min(medians.values()):.2f}x")
    print(f"session_frame_process (the whole path, connections included): CPU p50 {statistics.median(whole):.2f} "
          f"ms, mean {statistics.fmean(whole):.2f} ms")


if __name__ == "__main__":
    main()
