"""The identity check's CPU cost per exam frame, amortised over a session at the default cadence.

Sends the frames of a simulated session (one learner, one frame every MONITOR_FRAME_INTERVAL seconds of server
time, the face out of view for a few frames every --gap-every seconds) through the exam path's own function
(session_frame_process, as a server thread or a Celery worker runs it) twice against a throwaway SQLite
database: once with the identity check off, once on. Prints thread CPU time per frame (time.thread_time) for
both, their difference (the check's amortised cost), and how many descriptors were computed. Never asserts.
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _common import cpu_model, setup_django_throwaway  # benchmarks/ is on sys.path when a script runs


def main() -> None:
    """Run the same simulated session with the check off, then on; print CPU per frame for each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30, help="simulated session length (default 30)")
    parser.add_argument("--gap-every", type=float, default=300,
                        help="seconds between short absences, which make the next face checked (default 300)")
    args = parser.parse_args()
    print("command: " + shlex.join(["python", os.path.relpath(__file__, Path.cwd()), *sys.argv[1:]]))
    setup_django_throwaway("identity_cost-")
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from engagement.engines import warm_up
    from monitor import services
    from tests import images

    t = settings.MONITOR
    interval = t["FRAME_INTERVAL"]
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; load average at start {os.getloadavg()[0]:.2f}")
    print(f"frames every {interval:g} s for {args.minutes:g} min; identity check every "
          f"{t['IDENTITY_CHECK_SECONDS']} s, after gaps at most every {t['IDENTITY_RECHECK_SECONDS']} s, "
          f"reference of {t['IDENTITY_REFERENCE_FRAMES']} frames; an absence of 3 frames every {args.gap_every:g} s")
    face = images.data_url(images.webcam_face())
    moved = images.data_url(images.composed_face(150, "grey", (300, 230)))
    empty = images.data_url(images.no_face_images()["coffee"])
    learner = get_user_model().objects.create_user("bench-learner")
    warm_up()
    start = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)
    count = int(args.minutes * 60 / interval)
    per_gap = max(1, int(args.gap_every / interval))
    plan = [empty if i % per_gap in (per_gap - 3, per_gap - 2, per_gap - 1) and i > per_gap // 2
            else (face if i % 2 else moved) for i in range(count)]
    results = {}
    for checked in (False, True):
        session = services.session_create(learner=learner, course_id="c", exam_id=f"e-{checked}",
                                          identity_check=checked)
        cpu, wall, described = [], [], 0
        for i, image in enumerate(plan):
            c, w = time.thread_time(), time.perf_counter()
            outcome = services.session_frame_process(
                session_id=str(session.id), user_id=learner.pk, frame_id=str(uuid.uuid4()), image=image,
                timestamp=None, server_time=(start + timedelta(seconds=i * interval)).isoformat())
            cpu.append((time.thread_time() - c) * 1000)
            wall.append((time.perf_counter() - w) * 1000)
            described += "describe" in outcome["analysis"]["timings_ms"]
        results[checked] = (cpu, wall, described)
        print(f"identity check {'on ' if checked else 'off'}: {len(plan)} frames, {described} descriptors; CPU per "
              f"frame mean {statistics.mean(cpu):.2f} ms, median {statistics.median(cpu):.2f} ms; wall median "
              f"{statistics.median(wall):.2f} ms")
    off, on = results[False][0], results[True][0]
    print(f"amortised cost of the check: {statistics.mean(on) - statistics.mean(off):+.2f} ms CPU per frame "
          f"(mean on - mean off); {results[True][2]} descriptors over {len(plan)} frames")


if __name__ == "__main__":
    main()
