"""The identity check over simulated sessions built from labelled photos: false alerts for one person, and how
soon another person in the seat opens identity_changed.

For each person with two photos or more in --data (default ../shared/data/identity, manifest.csv: file, person),
a session of --minutes at one frame every MONITOR_FRAME_INTERVAL seconds of server time shows that person only:
their photos in turn, each framed like a webcam and varied frame to frame (light from 0.55x to 1.6x, tilted up to
12 degrees, mirrored, nearer and further). A second session of each person hands the seat to the next person
halfway. Every frame goes through the exam path (session_frame_process) with the identity check on and checks
every --check-seconds (default: every frame, the hardest case). Prints, per person, the checks, the disagreeing
checks, the identity_changed alerts, the largest same-person distance, and the seconds from the swap to the
alert. Data is only read, never copied. Never asserts.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _common import cpu_model, setup_django_throwaway  # benchmarks/ is on sys.path when a script runs
from _identity_video import identity_photos

ROOT = Path(__file__).resolve().parent.parent


def webcam_frames(photo, count: int, seed: int):
    """`count` 640x480 frames of one photo's face, varied in light, tilt, mirror and distance."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    height, width = photo.shape[:2]
    frames = []
    for _ in range(count):
        scale = 480 / max(height, width) * rng.uniform(0.75, 1.0)
        small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        canvas = np.full((480, 640, 3), 110, np.uint8)
        h, w = min(small.shape[0], 480), min(small.shape[1], 640)
        top, left = (480 - h) // 2, (640 - w) // 2
        canvas[top:top + h, left:left + w] = small[:h, :w]
        turn = cv2.getRotationMatrix2D((320, 240), rng.uniform(-12, 12), 1.0)
        canvas = cv2.warpAffine(canvas, turn, (640, 480), borderMode=cv2.BORDER_REPLICATE)
        if rng.random() < 0.5:
            canvas = canvas[:, ::-1]
        light = rng.uniform(0.55, 1.6)
        frames.append(np.ascontiguousarray(np.clip(canvas.astype(np.float32) * light, 0, 255).astype(np.uint8)))
    return frames


def main() -> None:
    """Run one session per person alone, and one where the next person takes over halfway."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "identity")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--check-seconds", type=int, default=0, help="MONITOR_IDENTITY_CHECK_SECONDS (0: every frame)")
    args = parser.parse_args()
    print("command: " + shlex.join(["python", os.path.relpath(__file__, Path.cwd()), *sys.argv[1:]]))
    setup_django_throwaway("identity_session-")
    import base64

    import cv2
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from engagement.engines import warm_up
    from monitor import services
    from monitor.models import Alert, ExamSession

    settings.MONITOR = {**settings.MONITOR, "IDENTITY_CHECK_SECONDS": args.check_seconds,
                        "IDENTITY_RECHECK_SECONDS": 0}
    t = settings.MONITOR
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; frames every {t['FRAME_INTERVAL']:g} s for "
          f"{args.minutes:g} min; threshold {t['IDENTITY_THRESHOLD']}, {t['IDENTITY_MISSES']} misses in a row, "
          f"reference of {t['IDENTITY_REFERENCE_FRAMES']} frames, a check every {args.check_seconds} s")
    photos = identity_photos(args.data)
    people = [p for p in sorted(photos) if len(photos[p]) >= 2]
    count = int(args.minutes * 60 / t["FRAME_INTERVAL"])
    warm_up()
    learner = get_user_model().objects.create_user("bench-learner")
    start = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)

    def run(frames, label) -> dict:
        """One session through the exam path: its checks, disagreements, same-run distances and alerts."""
        session = services.session_create(learner=learner, course_id="c", exam_id=label, identity_check=True)
        distances = []
        for i, frame in enumerate(frames):
            _, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
            referenced = reference_done(session)
            outcome = services.session_frame_process(
                session_id=str(session.id), user_id=learner.pk, frame_id=str(uuid.uuid4()),
                image=base64.b64encode(jpeg.tobytes()).decode(), timestamp=None,
                server_time=(start + timedelta(seconds=i * t["FRAME_INTERVAL"])).isoformat())
            if referenced and "describe" in outcome["analysis"]["timings_ms"]:
                distances.append((i, ExamSession.objects.get(pk=session.pk).rule_state["identity"]["distance"]))
        return {"distances": distances, "misses": sum(d >= t["IDENTITY_THRESHOLD"] for _, d in distances),
                "alerts": list(Alert.objects.filter(session=session, kind="identity_changed"))}

    def reference_done(session) -> bool:
        state = ExamSession.objects.get(pk=session.pk).rule_state.get("identity", {})
        return state.get("frames", 0) >= t["IDENTITY_REFERENCE_FRAMES"]

    print(f"\n{'person':<22}{'checks':>7}{'disagreed':>10}{'alerts':>7}{'largest same':>14}"
          f"  {'swap to':<16}{'alert after':>12}")
    for index, person in enumerate(people):
        alone = [f for k, photo in enumerate(photos[person])
                 for f in webcam_frames(photo, count // len(photos[person]) + 1, seed=index * 10 + k)][:count]
        own = run(alone, f"{person}-alone")
        other = people[(index + 1) % len(people)]
        swapped = alone[:count // 2] + [f for k, photo in enumerate(photos[other])
                                        for f in webcam_frames(photo, count // 2, seed=99 + k)][:count - count // 2]
        swap = run(swapped, f"{person}-swap")
        after = ((swap["alerts"][0].opened_at - start).total_seconds() - count // 2 * t["FRAME_INTERVAL"]
                 if swap["alerts"] else float("nan"))
        print(f"{person:<22}{len(own['distances']):>7}{own['misses']:>10}{len(own['alerts']):>7}"
              f"{max((d for _, d in own['distances']), default=0):>14.3f}  {other:<16}{after:>10.0f} s")


if __name__ == "__main__":
    main()
