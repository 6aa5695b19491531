"""Load-test the running server: N learners send webcam frames over real WebSockets; round trips and stored rows.

By default the script starts its own server (daphne on 127.0.0.1, a free port, a throwaway SQLite file), so it
never touches the developer's database; with --url it targets a server that is already running on loopback.
It prints plain text and never asserts on timings. Its parts: _server.py (the server and its target),
_learners.py (accounts, sessions, frames, stored rows), _socket_load.py (the sockets) and _load_report.py.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from _common import ROOT, cpu_model  # benchmarks/ is on sys.path when a script runs
from _cpu import (cpu_delta, machine_busy, pids_from, process_name, process_times, rss_mb, thread_seconds, tree_seconds,
                  wait_idle)
from _learners import WARMUP_SOCKETS, frame_data_url, playlist, rows_verify, sessions_create, sessions_end, users_create
from _load_report import probe_report, profile_print, profilers_start, profilers_stop, report
from _server import (Server, code_version, django_setup, loopback_only, migrate, printable_env, server_env,
                     server_start)
from _socket_load import Load, warm_up


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="WebSocket load benchmark of ws/monitor/sessions/<id>/: N simulated learners each send a "
        "640x480 frame every --interval seconds for --duration seconds, taken in turn from a realistic mix "
        "(benchmarks/_frames.py: faces of 60-200 px, two faces, a turned head; every 4th frame an empty room; JPEG "
        "q80 data URLs), then report frames sent/analysed/dropped/errors, round-trip percentiles overall and per "
        "kind of frame, throughput and whether every analysed frame's EngagementLog row exists.")
    parser.add_argument("--learners", type=int, default=150, help="simulated learners, one socket each (default 150)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between one learner's frames (default 5)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sending (default 60)")
    parser.add_argument("--drain", type=float, default=30.0,
                        help="seconds to wait for outstanding answers after sending stops (default 30)")
    parser.add_argument("--url", help="target already-running servers, e.g. http://127.0.0.1:8000 or several, "
                        "comma-separated, that share one database and channel layer (loopback only); "
                        "default: start one")
    parser.add_argument("--database-url", help="with --url: the server's DATABASE_URL, used to create the benchmark "
                        "users and to verify the stored rows (required with --url)")
    parser.add_argument("--close-together", action="store_true",
                        help="learners close their sockets only when sending has ended for all (a class whose exam "
                             "ends at one time); by default each closes once its own last frame is answered, so "
                             "that the closes of the run's last seconds overlap the others' frames")
    parser.add_argument("--quality", type=int, default=80, help="JPEG quality of the frame (default 80)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the learners' random start offsets (default 1)")
    parser.add_argument("--compression", choices=("deflate", "none"), default="deflate",
                        help="WebSocket permessage-deflate, as browsers offer it (default deflate)")
    parser.add_argument("--profile", metavar="FILE",
                        help="attach `py-spy record` (requirements-bench.txt) to the server processes for the "
                        "load (after the warm-up), write their collapsed stacks to FILE (FILE-<pid> for several) "
                        "and print the top functions by CPU samples")
    parser.add_argument("--profile-gil", action="store_true",
                        help="with --profile: sample only the thread holding the GIL (py-spy --gil), which shows "
                        "how busy the GIL is")
    parser.add_argument("--instrument", action="store_true",
                        help="started server only: run it through benchmarks/ws_load_probe.py, which stamps each "
                        "frame's hand-offs (receive, analysis queue, analysis, database queue, database), and print "
                        "where the round trip goes")
    beside = Path(sys.executable).parent / "py-spy"  # installed into the project's environment
    parser.add_argument("--py-spy", default=str(beside) if beside.exists() else shutil.which("py-spy") or "py-spy",
                        help="py-spy executable for --profile")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                        help="before the load, wait up to SECONDS for the machine to be idle (other processes under "
                        "0.25 CPU for 3 s): other work on the machine skews every figure (default 0: don't wait)")
    parser.add_argument("--port", type=int, default=0, help="port of the server this script starts (default: a free one)")
    parser.add_argument("--cpu-pids", default=None, metavar="PIDS",
                        help="with --url: the processes whose CPU time is the server's (comma-separated pids or "
                        "pid-file globs; their children count too). Default: var/scaled/run/*.pid (the servers and "
                        "Celery workers of scripts/scaled.sh) when they exist")
    parser.add_argument("--threads", action="store_true",
                        help="also print the CPU of each thread of the server processes (and their children) per "
                        "analysed frame: which thread takes what (Python threads carry no OS name: main or thread id)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, server log)")
    args = parser.parse_args()
    if args.learners < 1 or args.interval <= 0 or args.duration <= 0 or args.drain < 0:
        parser.error("--learners must be >= 1, --interval and --duration > 0, --drain >= 0")
    if args.url and not args.database_url:
        parser.error("--url needs --database-url (the server's database) to create users and verify rows")
    if args.url and args.instrument:
        parser.error("--instrument works only with the server this script starts")
    return args


def main() -> None:
    args = parse_args()
    sys.path.insert(0, str(ROOT))
    print("command: " + shlex.join([os.path.relpath(sys.executable, Path.cwd()),
                                    os.path.relpath(__file__, Path.cwd()), *sys.argv[1:]]))
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"code: {code_version()}")
    import websockets

    print(f"load: {args.learners} learners, one frame every {args.interval:g} s each (random start offset in "
          f"[0, {args.interval:g}) s, seed {args.seed}), {args.duration:g} s of sending, drain {args.drain:g} s, "
          f"compression {args.compression}, websockets {websockets.__version__}")

    tmp = Path(tempfile.mkdtemp(prefix="ws_load-"))
    server: Server | None = None
    to_end: list = []  # the learners whose sessions were created (a failed run ends them too)
    try:
        if args.url:
            base_urls = []
            for url in args.url.split(","):
                parts = urlsplit(url.strip())
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    sys.exit("--url must look like http://127.0.0.1:8000 (several: comma-separated)")
                loopback_only(parts.hostname)
                base_urls.append(f"{parts.scheme}://{parts.netloc}")
            base_url, database_url = base_urls[0], args.database_url
            prefix = f"bench-{secrets.token_hex(3)}"  # the developer's database may hold earlier runs
            print(f"target: {', '.join(base_urls)} (already running; learners spread round-robin); "
                  f"database: {database_url}")
            print(f"server environment: not ours; this process's view: {printable_env(os.environ) or '(none)'}")
        else:
            database_url = f"sqlite:///{tmp / 'bench.sqlite3'}"
            env = server_env(database_url)
            migrate_s = migrate(env)
            server, command = server_start(env, tmp, args)
            base_url, prefix = server.url, "bench"
            base_urls = [base_url]
            print(f"server: {shlex.join(command)}  (cwd {ROOT}; migrate took {migrate_s:.1f} s)")
            print(f"server environment: {printable_env(env)}")
            print(f"server log: {server.log_path}")
        django_setup(database_url)
        from django.conf import settings

        db = settings.DATABASES["default"]
        print(f"settings: MONITOR={settings.MONITOR}")
        print(f"settings: ENGAGEMENT ENGINE={settings.ENGAGEMENT['ENGINE']} OPTIONS={settings.ENGAGEMENT['OPTIONS']}; "
              f"database {db['ENGINE']} {db['NAME']}; channel layer {settings.CHANNEL_LAYERS['default']['BACKEND']}"
              + ("  (as this process reads them; the server's own may differ)" if args.url else ""))

        image = frame_data_url(args.quality)
        frames = playlist(args.quality)
        print("frames: " + ", ".join(f"{kind} x{n}" for kind, n in Counter(k for k, _ in frames).items())
              + " (sent in turn; warm-up uses tests.images.webcam_face())")
        message_bytes = len('{"type":"frame","image":"' + image + '","timestamp":""}') + 32
        print(f"frame: tests.images.webcam_face(), 640x480 JPEG q{args.quality}, data URL {len(image)} chars, "
              f"message ~{message_bytes} bytes")

        started = time.perf_counter()
        learners, lms_token = users_create(prefix, args.learners)
        warm, learners = learners[:WARMUP_SOCKETS], learners[WARMUP_SOCKETS:]
        to_end = [*warm, *learners]
        median_create = sessions_create(base_urls, lms_token, to_end, args.interval)
        print(f"set-up: {len(learners)} learners + {len(warm)} warm-up, users/tokens via ORM, sessions via "
              f"POST /api/v1/sessions/ (median {median_create:.0f} ms) in {time.perf_counter() - started:.1f} s; "
              f"usernames {prefix}-learner-*")
        origin = base_url  # host in ALLOWED_HOSTS, as a browser on the exam page would send it
        print(f"warm-up: {len(warm)} sockets x 2 frames at once (loads the engine, builds per-thread detectors), "
              f"done in {asyncio.run(warm_up(warm, image, origin)):.1f} s")

        if args.wait_idle:
            print(f"machine before the load: {wait_idle(args.wait_idle):.2f} CPUs busy (3 s sample)")
        pid = server.popen.pid if server else None
        if pid:
            server_pids = [pid]
        else:
            server_pids = pids_from(args.cpu_pids or str(ROOT / "var" / "scaled" / "run" / "*.pid"))
            print(f"server processes (CPU counted with their children): {server_pids or 'none found'}")
        load = Load(args, learners, frames, origin,
                    cpu_probe=(lambda: cpu_delta({}, tree_seconds(server_pids))) if server_pids else None)
        others_before = process_times()
        tree_before = tree_seconds(server_pids)
        threads_before = thread_seconds(tree_before) if args.threads else {}
        cpu_before = (time.process_time(), machine_busy(), time.perf_counter())
        profilers = profilers_start(args, server_pids) if args.profile else []
        print(f"running {args.duration:g} s ...", flush=True)
        timing = asyncio.run(load.run())
        profiles = profilers_stop(profilers)
        wall = time.perf_counter() - cpu_before[2]
        busy = machine_busy()
        tree_after = tree_seconds(server_pids)
        threads_after = thread_seconds(tree_after) if args.threads else {}
        cpu = {"wall": wall, "client": (time.process_time() - cpu_before[0]) / wall,
               "machine": (busy[0] - cpu_before[1][0]) / max(1, busy[1] - cpu_before[1][1])}
        cpu["other"] = cpu["machine"] * (os.cpu_count() or 1) - cpu["client"]  # minus the server, below
        ours = {os.getpid(), server.popen.pid if server else None, *tree_before, *tree_after}
        others_after = process_times()
        # A process that started during the load counts from zero; one that ended during it is missed.
        cpu["others"] = sorted(((t - others_before.get(p, (0.0, ""))[0]) / wall, cmd)
                               for p, (t, cmd) in others_after.items() if p not in ours)[-3:][::-1]
        if tree_after:
            server_seconds = cpu_delta(tree_before, tree_after)
            cpu["server"] = server_seconds / wall
            cpu["server_processes"] = len(tree_after)
            cpu["server_seconds"] = server_seconds
            cpu["server_rss"] = max(rss_mb(p) for p in tree_after if Path(f"/proc/{p}").exists())
            cpu["other"] = max(0.0, cpu["other"] - cpu["server"])
            if args.threads:
                cpu["threads"] = sorted(((t - threads_before.get(key, 0.0),
                                          f"{process_name(key[0])} ({key[0]}): "
                                          + ("main thread" if key[0] == key[1] else f"thread {key[1]}"))
                                         for key, t in threads_after.items()), reverse=True)
            if len(server_pids) > 1:  # the scaled set-up: which process took what
                cpu["roots"] = [(process_name(pid), cpu_delta(tree_before, tree_seconds([pid]))) for pid in server_pids]
        rows = rows_verify(learners)
        report(args, learners, load, timing, rows, cpu)
        if args.profile:
            profile_print(profiles)
        if server is not None and args.instrument:
            server.stop()
            probe = server.log_path.parent / "probe.json"
            if probe.exists():
                probe_report(probe, learners)
            else:
                print("instrumented server wrote no probe.json (see its log)")
    finally:
        if args.url and to_end:  # a database that outlives this run: its sessions must not stay running
            print(f"ended {sessions_end(base_urls, lms_token, to_end)} of {len(to_end)} benchmark sessions "
                  "(POST /api/v1/sessions/<id>/end/)")
        if server is not None:
            code = server.stop()
            log = server.log_path.read_text(errors="replace")
            problems = [line for line in log.splitlines() if "Traceback" in line or "ERROR" in line.split()]
            print(f"server stopped (exit {code}); log lines with ERROR/Traceback: {len(problems)}")
            for line in problems[:10]:
                print("  " + line[:200])

        if args.keep or (server is not None and server.popen.returncode not in (0, -signal.SIGINT, None)):
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
