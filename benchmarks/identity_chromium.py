"""The identity check end to end: a Chromium whose fake camera shows one person for --minutes, in a real exam.

Composes a webcam video (y4m, --fps) from one person's identity dev photos (--data, read only, never copied into the
project): their photos in turn, each shown with slow head turns (roll, sideways moves, nearer and further, a mild
perspective turn) and changing light (gain and gamma ramps, a shadow over one side), see _identity_video.py. With
--swap-to, another person takes the seat halfway. Starts its own server (python -m proctoring.serve, a throwaway
SQLite file, the identity check at MONITOR_IDENTITY_CHECK_SECONDS: the shipped cadence unless --check-seconds),
opens the exam page through a one-time link in Chromium, clicks start, and lets the page send its frames over the
WebSocket at the session's frame interval. Meanwhile it reads the session's identity state every second: each
check's distance from the reference. Prints the frames, the checks, their distances (median, max), the checks that
disagreed, the identity_changed alerts (and after a swap, how long after it the alert opened), the other alerts, the
server's CPU time per frame beside the wall clock, and what else used the machine. Never asserts.
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import ROOT, cpu_model
from _cpu import cpu_seconds, process_times
from _identity_video import identity_photos, session_frames
from _server import django_setup, migrate, server_env, server_start

sys.path.insert(0, str(ROOT))
from tests.browser import chromium_context, y4m_write  # noqa: E402


def video_write(args: argparse.Namespace, folder: Path) -> tuple[Path, float | None]:
    """The webcam video of the session, and the second at which the other person takes over (None: no swap)."""
    photos = identity_photos(args.data)
    seconds = args.minutes * 60 + 120  # the page starts after the video: spare seconds so that it does not loop
    swap = args.minutes * 60 / 2 if args.swap_to else None
    own = photos[args.person]
    if swap is None:
        segments = [(photo, seconds / len(own)) for photo in own]
    else:
        other = photos[args.swap_to]
        segments = ([(photo, swap / len(own)) for photo in own]
                    + [(photo, (seconds - swap) / len(other)) for photo in other])
    path = y4m_write(path=folder / "webcam.y4m", frames=session_frames(segments, fps=args.fps, seed=args.seed),
                     fps=args.fps)
    return path, swap


def main() -> None:
    """Run one exam session in Chromium and print what the identity check did."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "identity")
    parser.add_argument("--person", default="obama", help="whose photos the camera shows (manifest.csv's person)")
    parser.add_argument("--swap-to", default="", help="another person who takes the seat halfway")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--check-seconds", type=int, default=None,
                        help="MONITOR_IDENTITY_CHECK_SECONDS for the server (default: the shipped one; 0: every frame)")
    parser.add_argument("--fps", type=int, default=1, help="frames per second of the fake camera's video")
    parser.add_argument("--seed", type=int, default=0, help="seed of the camera noise")
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    args = parser.parse_args()
    print("command: " + shlex.join(["python", os.path.relpath(__file__, Path.cwd()), *sys.argv[1:]]))
    with tempfile.TemporaryDirectory(prefix="identity_chromium-") as tmp:
        tmp = Path(tmp)
        composed = time.perf_counter()
        video, swap = video_write(args, tmp)
        composed = time.perf_counter() - composed
        database_url = f"sqlite:///{tmp / 'db.sqlite3'}"
        env = server_env(database_url)
        if args.check_seconds is not None:
            env["MONITOR_IDENTITY_CHECK_SECONDS"] = str(args.check_seconds)
        migrate(env)
        os.environ["DJANGO_SECRET_KEY"] = env["DJANGO_SECRET_KEY"]  # exam links are signed with the server's key
        if args.check_seconds is not None:
            os.environ["MONITOR_IDENTITY_CHECK_SECONDS"] = str(args.check_seconds)  # the same settings here
        django_setup(database_url)
        from django.conf import settings
        from django.contrib.auth import get_user_model

        from engagement.models import EngagementLog
        from monitor import services
        from monitor.models import Alert, ExamSession, IdentityReference

        t = settings.MONITOR
        server, command = server_start(env, tmp, argparse.Namespace(instrument=False, profile=None, port=args.port))
        print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; server: {' '.join(command[1:])}")
        print(f"camera: {args.person}'s {len(identity_photos(args.data)[args.person])} photos"
              + (f", {args.swap_to}'s from {swap:.0f} s" if swap else "")
              + f", {args.fps} fps y4m ({video.stat().st_size / 1e6:.0f} MB, composed in {composed:.0f} s); "
              f"frames every {t['FRAME_INTERVAL']:g} s for {args.minutes:g} min; identity check every "
              f"{t['IDENTITY_CHECK_SECONDS']} s (after a gap {t['IDENTITY_RECHECK_SECONDS']} s), threshold "
              f"{t['IDENTITY_THRESHOLD']}, {t['IDENTITY_MISSES']} misses in a row, reference of "
              f"{t['IDENTITY_REFERENCE_FRAMES']} frames")
        try:
            session = services.session_create(learner=get_user_model().objects.create_user("bench-learner"),
                                               course_id="bench", exam_id="identity", identity_check=True)
            link = services.session_join_token(session=session)
            checks, last = [], None
            others_before = process_times()
            cpu_before = cpu_seconds(server.popen.pid)
            with chromium_context(video=video) as context:
                page = context.new_page()
                page.goto(f"{server.url}/monitor/join/{link}/")
                if not page.locator("#identity-notice").count():
                    sys.exit(f"no identity notice on the exam page at {page.url}: {page.inner_text('body')[:300]}")
                page.click("#start")
                started = time.monotonic()
                while (elapsed := time.monotonic() - started) < args.minutes * 60:
                    page.wait_for_timeout(1000)
                    state = ExamSession.objects.get(pk=session.pk).rule_state.get("identity", {})
                    if "distance" in state and state.get("checked_at") != last:
                        last = state["checked_at"]
                        checks.append((elapsed, state["distance"]))
                wall = time.monotonic() - started
                connection = page.locator("#connection").inner_text()
            server_cpu = cpu_seconds(server.popen.pid) - cpu_before
            others_after = process_times()
            alerts = list(Alert.objects.filter(session=session).order_by("opened_at"))
            logs = EngagementLog.objects.filter(session_key=str(session.id))
            frames, with_face = logs.count(), logs.filter(face_count__gt=0).count()
            away = logs.filter(looking_away=True).count()
            session_start = ExamSession.objects.get(pk=session.pk).started_at
            services.session_end(session=ExamSession.objects.get(pk=session.pk))
            reference_left = IdentityReference.objects.filter(session=session).exists()
        finally:
            server.stop()
        distances = [d for _, d in checks]
        misses = [(round(s), d) for s, d in checks if d >= t["IDENTITY_THRESHOLD"]]
        identity = [a for a in alerts if a.kind == "identity_changed"]
        print(f"\nran {wall:.0f} s; page's connection at the end: {connection}; frames analysed {frames} "
              f"({with_face} with a face, {away} looking away)")
        print(f"identity checks: {len(checks)}; distance median {statistics.median(distances):.2f}, "
              f"max {max(distances):.2f}" if distances else "identity checks: 0")
        print(f"checks at or past the threshold: {len(misses)} {misses}")
        print(f"identity_changed alerts: {len(identity)}"
              + "".join(f"; opened {(a.opened_at - session_start).total_seconds():.0f} s into the session"
                        + (f" ({(a.opened_at - session_start).total_seconds() - swap:.0f} s after the swap, "
                           "+-the camera's start)" if swap else "")
                        + (f", closed at {(a.closed_at - session_start).total_seconds():.0f} s" if a.closed_at
                           else "") for a in identity))
        print(f"other alerts: {dict(Counter(a.kind for a in alerts if a.kind != 'identity_changed'))}")
        print(f"reference descriptors left after the session ended: {'yes' if reference_left else 'none'}")
        if frames:
            print(f"server CPU {server_cpu:.1f} s over {wall:.0f} s of wall clock: {server_cpu / frames * 1000:.0f} ms "
                  "per frame (analysis, check, socket, database, all included)")
        used = sorted(((others_after[p][0] - others_before.get(p, (0.0, ""))[0], others_after[p][1])
                       for p in others_after if p not in (os.getpid(), server.popen.pid)), reverse=True)
        print("what else used the CPUs meanwhile (CPU s): "
              + "; ".join(f"{s:.0f} {c[:60]}" for s, c in used[:5] if s >= 5))


if __name__ == "__main__":
    main()
