"""Load-test the running server: N learners send webcam frames over real WebSockets; round trips and stored rows.

By default the script starts its own server (daphne on 127.0.0.1, a free port, a throwaway SQLite file), so it
never touches the developer's database; with --url it targets a server that is already running on loopback.
It prints plain text and never asserts on timings.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import ipaddress
import json
import os
import platform
import random
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from _common import cpu_model, percentile  # benchmarks/ is on sys.path when a script runs
from _cpu import (cpu_delta, machine_busy, pids_from, process_times, profile_top, rss_mb, tree_seconds,
                  wait_idle)

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("decode", "detect", "emotion", "age_gender", "score")
# Environment variables that change what the server does; printed so that a run can be reproduced.
ENV_PREFIXES = ("MONITOR_", "ENGAGEMENT_", "DJANGO_", "OMP_", "OPENBLAS_", "MKL_")
ENV_NAMES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DEMO", "DJANGO_SETTINGS_MODULE")
SERVER_READY_TIMEOUT = 90.0  # seconds for daphne to import Django and answer HTTP
WARMUP_TIMEOUT = 120.0  # seconds for the first frame, which loads the engine's models
# Warm-up sockets sending at once, twice: every analysis thread builds its own dlib detector (~250 ms) on its
# first frame, so one warm-up frame would leave that cost in the timed load.
WARMUP_SOCKETS = 4


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
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, server log)")
    args = parser.parse_args()
    if args.learners < 1 or args.interval <= 0 or args.duration <= 0 or args.drain < 0:
        parser.error("--learners must be >= 1, --interval and --duration > 0, --drain >= 0")
    if args.url and not args.database_url:
        parser.error("--url needs --database-url (the server's database) to create users and verify rows")
    if args.url and args.instrument:
        parser.error("--instrument works only with the server this script starts")
    return args


# -- small helpers ------------------------------------------------------------------------------------------




def stats_line(values: list[float], unit: str = "ms") -> str:
    if not values:
        return "n=0"
    return (f"p50 {percentile(values, 50):8.1f}  p95 {percentile(values, 95):8.1f}  p99 {percentile(values, 99):8.1f}"
            f"  max {max(values):8.1f} {unit}  (n={len(values)})")


def loopback_only(host: str) -> None:
    """Refuse any target that is not this machine."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        sys.exit(f"cannot resolve {host!r}: {exc}")
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        sys.exit(f"refusing {host!r}: only loopback targets are allowed (resolves to {sorted(addresses)})")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]














def code_version() -> str:
    """The commit of the code under test, and whether the working tree differs from it."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %cd %s", "--date=iso"],
                              capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return f"{ROOT} (not a git checkout)"
    return f"{ROOT} at {head}" + (f"; {len(dirty)} tracked files modified" if dirty else "; clean")


def http_opener() -> urllib.request.OpenerDirector:
    # No proxies: a *_PROXY variable in the environment must not route loopback traffic elsewhere.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def frame_data_url(quality: int) -> str:
    """tests.images.webcam_face() as a JPEG data URL, as a browser's canvas.toDataURL('image/jpeg', q) makes it."""
    from tests.images import encode, webcam_face

    return "data:image/jpeg;base64," + base64.b64encode(encode(webcam_face(), quality=quality)).decode()


def playlist(quality: int, dev_photos: bool = True) -> list[tuple[str, str]]:
    """(kind, data URL) frames in the order learners send them: three frames with people, then an empty room."""
    from _frames import encode_mix, frame_mix

    mix = encode_mix(frame_mix(use_dev_photos=dev_photos), quality=quality)
    urls = {kind: ["data:image/jpeg;base64," + base64.b64encode(j).decode() for j in jpegs]
            for kind, jpegs in mix.items()}
    people = [(kind, url) for kind, frames in urls.items() if kind != "empty room" for url in frames]
    empty = [("empty room", url) for url in urls["empty room"]]
    order = []
    for i in range(len(people)):
        order.append(people[i])
        if i % 3 == 2:
            order.append(empty[(i // 3) % len(empty)])
    return order


def page_origin(learner: Learner) -> str:
    """The Origin a browser sends: the exam page's own server (the origin check compares host and port)."""
    parts = urlsplit(learner.ws_url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"


def iso_key(value) -> datetime | None:
    """A timestamp as sent or as echoed back (the server re-serialises it), comparable as a datetime."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


# -- the server ---------------------------------------------------------------------------------------------


@dataclass
class Server:
    """A daphne process this script started and its throwaway files."""

    popen: subprocess.Popen
    port: int
    log_path: Path
    log_file: object

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> int | None:
        """SIGINT (daphne shuts down cleanly), then SIGTERM/SIGKILL if it hangs."""
        if self.log_file.closed:
            return self.popen.returncode
        if self.popen.poll() is None:
            # The server runs in its own process group (started by us): signal only that group.
            for sig, wait in ((signal.SIGINT, 30), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.popen.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.popen.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.log_file.close()
        return self.popen.returncode


def server_env(database_url: str) -> dict:
    env = dict(os.environ)
    env.pop("DEMO", None)
    env.update(
        DJANGO_SETTINGS_MODULE="proctoring.settings",
        DATABASE_URL=database_url,
        DJANGO_SECRET_KEY="bench-throwaway-" + secrets.token_hex(16),
        DJANGO_DEBUG="0",  # DEBUG keeps every SQL query in memory: not what production runs
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    return env


def migrate(env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True,
                   timeout=300)
    return time.perf_counter() - started


def server_start(env: dict, tmp: Path, args: argparse.Namespace) -> tuple[Server, list[str]]:
    port = args.port or free_port()
    command = [sys.executable, "-m", "proctoring.serve", "-b", "127.0.0.1", "-p", str(port)]
    if args.instrument:
        env = dict(env, WS_LOAD_PROBE_OUT=str(tmp / "probe.json"))
        command[1:3] = [str(Path(__file__).resolve().parent / "ws_load_probe.py")]
    log_path = tmp / "server.log"
    log_file = open(log_path, "wb")
    # SIGINT stops daphne cleanly, but a shell's background job inherits it
    # ignored: give the server the default disposition back. (No threads run yet, so preexec_fn is safe here.)
    popen = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                             start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    server = Server(popen=popen, port=port, log_path=log_path, log_file=log_file)
    opener = http_opener()
    deadline = time.monotonic() + SERVER_READY_TIMEOUT
    while True:
        if popen.poll() is not None:
            log_file.close()
            sys.exit(f"the server exited with {popen.returncode}; its log:\n{log_path.read_text()[-4000:]}")
        try:
            opener.open(server.url + "/", timeout=2).close()
            break
        except urllib.error.HTTPError:
            break  # any HTTP answer means it is serving
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                sys.exit(f"the server did not answer within {SERVER_READY_TIMEOUT:.0f} s; log: {log_path}")
            time.sleep(0.2)
    return server, command


# -- database set-up and checks (Django ORM, same DATABASE_URL as the server) -------------------------------


def django_setup(database_url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "proctoring.settings"
    os.environ["DATABASE_URL"] = database_url
    # This process only needs the database; a key is required to import the settings, its value is irrelevant.
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-throwaway-" + secrets.token_hex(16))
    import django

    django.setup()


@dataclass
class Learner:
    """One simulated learner: credentials, the session's socket URL and what happened on it."""

    index: int
    username: str
    token: str
    session_id: str = ""
    ws_url: str = ""
    connect_ms: float | None = None
    connect_error: str | None = None
    close_code: int | None = None
    close_reason: str = ""
    sent: int = 0
    pending: dict = field(default_factory=dict)  # timestamp -> perf_counter at send
    sent_at: dict = field(default_factory=dict)  # timestamp -> perf_counter at send, kept
    answered_at: dict = field(default_factory=dict)  # timestamp -> perf_counter when its analysis arrived
    analysed: int = 0
    frame_ids: list[int] = field(default_factory=list)
    rtts: list[float] = field(default_factory=list)
    kind_of: dict = field(default_factory=dict)  # timestamp -> kind of frame sent
    kind_rtts: dict = field(default_factory=dict)  # kind of frame -> round trips (ms)
    processing: list[float] = field(default_factory=list)
    queueing: list[float] = field(default_factory=list)  # round trip minus the server's processing_ms
    stages: dict = field(default_factory=lambda: {name: [] for name in STAGES})
    not_success: Counter = field(default_factory=Counter)
    dropped: int = 0
    errors: Counter = field(default_factory=Counter)
    other: Counter = field(default_factory=Counter)
    unmatched: int = 0
    answer_times: list[float] = field(default_factory=list)


def users_create(prefix: str, count: int) -> tuple[list[Learner], str]:
    """Learners with tokens, and an LMS account (monitor.add_examsession) whose token creates the sessions."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from monitor.services import api_token_issue

    User = get_user_model()
    # Unusable passwords: hashing 150 real ones would take a minute of PBKDF2 for nothing.
    users = [User(username=f"{prefix}-learner-{i:04d}") for i in range(count + WARMUP_SOCKETS)]
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_create(users)
    users = list(User.objects.filter(username__startswith=f"{prefix}-learner-").order_by("username"))
    tokens = [api_token_issue(user=u) for u in users]
    lms = User(username=f"{prefix}-lms")
    lms.set_unusable_password()
    lms.save()
    lms.user_permissions.add(Permission.objects.get(content_type__app_label="monitor", codename="add_examsession"))
    lms_token = api_token_issue(user=lms)
    learners = [Learner(index=i, username=u.username, token=t) for i, (u, t) in enumerate(zip(users, tokens))]
    return learners, lms_token


def sessions_create(base_urls: list[str], lms_token: str, learners: list[Learner], interval: float) -> float:
    """POST /api/v1/sessions/ for each learner (the LMS's path), servers in turn: a learner's socket goes to the
    server that created its session. Returns the median request time in ms."""
    opener = http_opener()
    times = []
    for index, learner in enumerate(learners):
        base_url = base_urls[index % len(base_urls)]
        body = {"learner": learner.username, "course_id": "bench-course", "exam_id": "bench-exam"}
        if 0.5 <= interval <= 120:
            body["frame_interval"] = interval
        request = urllib.request.Request(
            base_url + "/api/v1/sessions/", data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": f"Token {lms_token}", "Content-Type": "application/json"})
        started = time.perf_counter()
        with opener.open(request, timeout=30) as response:
            answer = json.loads(response.read())
        times.append((time.perf_counter() - started) * 1000)
        learner.session_id, learner.ws_url = answer["id"], answer["ws_url"]
        loopback_only(urlsplit(learner.ws_url).hostname or "")
    return statistics.median(times)


def rows_verify(learners: list[Learner]) -> dict:
    """Every analysed frame_id must be an EngagementLog row of its session; plus rows nobody was told about."""
    from engagement.models import EngagementLog
    from monitor.models import ExamSession

    expected = {}
    duplicates = 0
    for learner in learners:
        for frame_id in learner.frame_ids:
            if frame_id in expected:
                duplicates += 1
            expected[frame_id] = learner.session_id
    ids = [i for i in expected if i is not None]
    found: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        found.update(EngagementLog.objects.filter(pk__in=ids[start:start + 500]).values_list("pk", "session_key"))
    sessions = [learner.session_id for learner in learners]
    rows_total = EngagementLog.objects.filter(session_key__in=sessions).count()
    frame_counts = sum(ExamSession.objects.filter(pk__in=sessions).values_list("frame_count", flat=True))
    return {
        "ids": len(ids),
        "missing_id": sum(1 for i in expected if i is None),
        "lost": len(ids) - sum(1 for i in ids if i in found),
        "wrong_session": sum(1 for i in ids if i in found and found[i] != expected[i]),
        "duplicates": duplicates,
        "rows_total": rows_total,
        "frame_counts": frame_counts,
    }


# -- the load -----------------------------------------------------------------------------------------------


class Load:
    """All learners' sockets on one event loop; every wait is bounded by the run's deadlines."""

    def __init__(self, args: argparse.Namespace, learners: list[Learner], frames: list[tuple[str, str]], origin: str):
        self.args = args
        self.learners = learners
        # Each learner starts at its own place in the playlist, so that every kind is in flight at once.
        self.frames = [(kind, '{"type":"frame","image":"' + url + '","timestamp":"') for kind, url in frames]
        self.origin = origin
        self.rng = random.Random(args.seed)
        self.send_lag: list[float] = []  # ms a send started after its schedule (client-side delay)
        self.loop_lag: list[float] = []  # ms the client's event loop overslept a 100 ms tick
        self.t0 = 0.0
        self.first_send = None
        self.extensions = None  # what the server negotiated (Sec-WebSocket-Extensions)
        self.last_answer = None

    def _connect(self, learner: Learner):
        from websockets.asyncio.client import connect

        return connect(learner.ws_url, origin=page_origin(learner),
                       additional_headers={"Authorization": f"Token {learner.token}"},
                       compression=None if self.args.compression == "none" else "deflate",
                       proxy=None,  # loopback only, whatever *_PROXY says
                       ping_interval=None,  # browsers do not ping; a busy server must not make us close
                       open_timeout=60, close_timeout=10, max_size=2**22)

    async def _receive(self, learner: Learner, ws) -> None:
        async for raw in ws:
            now = time.perf_counter()
            message = json.loads(raw)
            kind = message.get("type")
            key = iso_key(message.get("timestamp"))
            sent_at = learner.pending.pop(key, None) if kind in ("analysis", "dropped", "error") else None
            if kind in ("analysis", "dropped", "error") and sent_at is None and key is not None:
                learner.unmatched += 1
            if kind == "analysis":
                learner.analysed += 1
                learner.answer_times.append(now)
                learner.answered_at[key] = now
                self.last_answer = now
                learner.frame_ids.append(message.get("frame_id"))
                if not message.get("success"):
                    learner.not_success[message.get("error")] += 1
                if sent_at is not None:
                    rtt = (now - sent_at) * 1000
                    learner.rtts.append(rtt)
                    learner.kind_rtts.setdefault(learner.kind_of.get(key, "?"), []).append(rtt)
                    processing = message.get("processing_ms")
                    if isinstance(processing, (int, float)):
                        learner.processing.append(processing)
                        learner.queueing.append(rtt - processing)
                for name, value in (message.get("timings_ms") or {}).items():
                    learner.stages.setdefault(name, []).append(value)
            elif kind == "dropped":
                learner.dropped += 1
            elif kind == "error":
                learner.errors[message.get("error")] += 1
            else:
                learner.other[kind] += 1

    async def _learner(self, learner: Learner, connected: asyncio.Event, go: asyncio.Event) -> None:
        started = time.perf_counter()
        try:
            async with self._connect(learner) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
                if hello.get("type") != "connected":
                    learner.connect_error = f"first message {hello.get('type')!r}"
                    return
                learner.connect_ms = (time.perf_counter() - started) * 1000
                if self.extensions is None:
                    self.extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
                connected.set()
                receiver = asyncio.ensure_future(self._receive(learner, ws))
                await go.wait()
                interval = self.args.interval
                end = self.t0 + self.args.duration
                next_at = self.t0 + self.rng.uniform(0, interval)
                while next_at < end and not receiver.done():
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                    self.send_lag.append((time.perf_counter() - next_at) * 1000)
                    stamp = datetime.now(timezone.utc).isoformat()
                    learner.pending[iso_key(stamp)] = learner.sent_at[iso_key(stamp)] = time.perf_counter()
                    if self.first_send is None:
                        self.first_send = time.perf_counter()
                    kind, prefix = self.frames[(learner.index * 7 + learner.sent) % len(self.frames)]
                    learner.kind_of[iso_key(stamp)] = kind
                    await ws.send(prefix + stamp + '"}')
                    learner.sent += 1
                    next_at += interval
                # Wait for the answers still owed, up to the common drain deadline.
                deadline = end + self.args.drain
                while learner.pending and not receiver.done() and time.perf_counter() < deadline:
                    await asyncio.sleep(0.05)
                if not receiver.done():
                    await ws.close()
                try:
                    await asyncio.wait_for(receiver, timeout=15)
                except Exception:  # noqa: BLE001  (the socket is closing; what matters was counted)
                    pass
                learner.close_code, learner.close_reason = ws.close_code, ws.close_reason or ""
        except Exception as exc:  # noqa: BLE001  (report, never crash the other learners)
            if learner.connect_ms is None:
                learner.connect_error = f"{type(exc).__name__}: {exc}"[:160]
            else:
                learner.other[f"exception {type(exc).__name__}"] += 1
        finally:
            connected.set()

    async def _ticker(self, until: float) -> None:
        while time.perf_counter() < until:
            before = time.perf_counter()
            await asyncio.sleep(0.1)
            self.loop_lag.append((time.perf_counter() - before - 0.1) * 1000)

    async def _progress(self, until: float) -> None:
        while time.perf_counter() < until:
            await asyncio.sleep(min(10.0, max(0.0, until - time.perf_counter())))
            ls = self.learners
            print(f"  t={time.perf_counter() - self.t0:5.1f}s sent {sum(x.sent for x in ls)} "
                  f"analysed {sum(x.analysed for x in ls)} dropped {sum(x.dropped for x in ls)} "
                  f"errors {sum(sum(x.errors.values()) for x in ls)} "
                  f"awaiting {sum(len(x.pending) for x in ls)}", flush=True)

    async def run(self) -> dict:
        go = asyncio.Event()
        events = [asyncio.Event() for _ in self.learners]
        connect_started = time.perf_counter()
        tasks = [asyncio.ensure_future(self._learner(lr, ev, go)) for lr, ev in zip(self.learners, events)]
        await asyncio.wait_for(asyncio.gather(*(ev.wait() for ev in events)), timeout=150)  # open 60 s + hello 60 s
        connect_wall = time.perf_counter() - connect_started
        self.t0 = time.perf_counter()
        go.set()
        until = self.t0 + self.args.duration
        helpers = [asyncio.ensure_future(self._ticker(until)), asyncio.ensure_future(self._progress(until))]
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=self.args.duration + self.args.drain + 60)
        for helper in helpers:
            helper.cancel()
        return {"connect_wall": connect_wall, "end": time.perf_counter()}


async def warm_up(learners: list[Learner], image: str, origin: str) -> float:
    """Frames on sessions of their own, so that models and per-thread detectors are built before any timing."""
    from websockets.asyncio.client import connect

    async def one(learner: Learner) -> dict:
        async with connect(learner.ws_url, origin=page_origin(learner),
                           additional_headers={"Authorization": f"Token {learner.token}"}, proxy=None,
                           ping_interval=None, open_timeout=60, max_size=2**22) as ws:
            await asyncio.wait_for(ws.recv(), timeout=60)
            for _ in range(2):
                stamp = datetime.now(timezone.utc).isoformat()
                await ws.send(json.dumps({"type": "frame", "image": image, "timestamp": stamp}))
                while True:
                    answer = json.loads(await asyncio.wait_for(ws.recv(), timeout=WARMUP_TIMEOUT))
                    if answer.get("type") in ("analysis", "error", "dropped"):
                        break
                if answer.get("type") != "analysis" or not answer.get("success"):
                    sys.exit(f"warm-up frame was not analysed: {answer}")
        return answer

    started = time.perf_counter()
    await asyncio.gather(*(one(learner) for learner in learners))
    return time.perf_counter() - started


# -- report -------------------------------------------------------------------------------------------------


def report(args, learners: list[Learner], load: Load, timing: dict, rows: dict, cpu: dict) -> None:
    sent = sum(x.sent for x in learners)
    analysed = sum(x.analysed for x in learners)
    dropped = sum(x.dropped for x in learners)
    errors = sum((x.errors for x in learners), Counter())
    unanswered = sum(len(x.pending) for x in learners)
    rtts = [v for x in learners for v in x.rtts]
    connected = [x for x in learners if x.connect_ms is not None]
    failures = Counter(x.connect_error for x in learners if x.connect_error)
    closes = Counter((x.close_code, x.close_reason) for x in connected)
    window = (load.last_answer - load.first_send) if load.first_send and load.last_answer else float("nan")

    print()
    print("== Results ==")
    print(f"connected: {len(connected)}/{len(learners)} in {timing['connect_wall']:.1f} s; "
          f"connect+hello {stats_line([x.connect_ms for x in connected])}")
    for reason, n in failures.most_common():
        print(f"  connect failed x{n}: {reason}")
    print(f"frames sent:      {sent}   (offered load {len(learners) / args.interval:.1f} frames/s)")
    print(f"analysed:         {analysed}"
          + (f"   (of which not success: {dict(sum((x.not_success for x in learners), Counter()))})"
             if any(x.not_success for x in learners) else ""))
    print(f"dropped:          {dropped}")
    print(f"errors:           {sum(errors.values())}" + (f"   by code: {dict(errors)}" if errors else ""))
    print(f"unanswered:       {unanswered}   (no answer {args.drain:.0f} s after sending stopped)")
    unmatched = sum(x.unmatched for x in learners)
    if unmatched:
        print(f"unmatched answers: {unmatched}   (timestamp of no frame we were waiting for)")
    other = sum((x.other for x in learners), Counter())
    if other:
        print(f"other messages:   {dict(other)}")
    print(f"round trip (send -> analysis): {stats_line(rtts)}")
    kinds = sorted({k for x in learners for k in x.kind_rtts})
    for kind in kinds:
        print(f"  {kind + ':':<27}  {stats_line([v for x in learners for v in x.kind_rtts.get(kind, [])])}")
    print(f"  server processing_ms:        {stats_line([v for x in learners for v in x.processing])}")
    print(f"  round trip - processing_ms:  {stats_line([v for x in learners for v in x.queueing])}"
          "   (waiting for a thread, DB write, event loop, network)")
    for name in sorted({n for x in learners for n in x.stages}, key=lambda n: (n not in STAGES, STAGES.index(n)
                                                                                if n in STAGES else 0, n)):
        values = [v for x in learners for v in x.stages[name]]
        print(f"  timings_ms[{name}]:{' ' * (17 - len(name))}{stats_line(values)}")
    print(f"analysed frames/s: {analysed / window:.2f}   (analysed / first send to last answer, {window:.1f} s)"
          if window == window else "analysed frames/s: n/a")
    print(f"client: send started late {stats_line(load.send_lag)}")
    print(f"client: event-loop lag    {stats_line(load.loop_lag)}")
    if cpu:
        print(f"CPU during load ({cpu['wall']:.1f} s): machine {cpu['machine']:.0%} of {os.cpu_count()} CPUs; "
              + (f"server {cpu['server']:.2f} cores, peak RSS {cpu['server_rss']:.0f} MiB; " if "server" in cpu else "")
              + f"this client {cpu['client']:.2f} cores; other processes"
              + ("" if "server" in cpu else " (the server among them)") + f" {cpu['other']:.2f} cores")
        if "server" in cpu:
            analysed = sum(x.analysed for x in learners)
            per_frame = cpu["server_seconds"] * 1000 / analysed if analysed else float("nan")
            print(f"server CPU per analysed frame: {per_frame:.1f} ms   ({cpu['server_seconds']:.1f} s of utime+stime "
                  f"of {cpu['server_processes']} server/worker processes from /proc, over {analysed} analysed "
                  "frames; the stable figure on a shared machine)")
        for cores, cmd in cpu["others"]:
            if cores >= 0.05:
                print(f"  other process: {cores:.2f} cores  {cmd[:110]}")
    print(f"socket close codes: {dict(closes)}; negotiated extensions: {load.extensions or '(none)'}")
    print()
    print("== Stored rows ==")
    print(f"frame_ids answered: {rows['ids']}, answers without frame_id: {rows['missing_id']}, "
          f"duplicate frame_ids: {rows['duplicates']}, rows of another session: {rows['wrong_session']}")
    print(f"rows of the benchmark sessions: {rows['rows_total']}; "
          f"sum of ExamSession.frame_count: {rows['frame_counts']}"
          f"; rows with no analysis answer: {rows['rows_total'] - rows['ids']}")
    print(f"lost rows: {rows['lost']}")
    print()
    p95 = percentile(rtts, 95)
    print(f"target (p95 round trip < 250 ms, nothing dropped, 0 lost rows): learners={len(learners)}, "
          f"p95={p95:.0f} ms, lost={rows['lost']}, dropped={dropped}, errors={sum(errors.values())}, "
          f"unanswered={unanswered} -> "
          + ("met" if p95 < 250 and rows["lost"] == 0 and not unanswered and not dropped else "NOT met"))


def probe_report(path: Path, learners: list[Learner]) -> None:
    """Where the round trip went, from the server's stamps (ws_load_probe.py) joined to ours by timestamp."""
    sent, answered = {}, {}
    for learner in learners:
        sent.update(learner.sent_at)
        answered.update(learner.answered_at)
    spans = {name: [] for name in ("client send -> server receive", "JSON parse",
                                   "wait for the socket's previous frame", "analysis pool queue",
                                   "analysis (decode..score)", "analysis end -> DB write start",
                                   "DB write (session_frame_record)", "DB done -> answer at client")}
    records = json.loads(path.read_text())
    for r in records:
        key = iso_key(r.get("ts"))
        if key not in answered or "db_end" not in r or r.get("received") is None:
            continue
        values = (r["received"] - sent[key], r["parsed"] - r["received"], r["process"] - r["parsed"],
                  r["analyse_start"] - r["process"], r["analyse_end"] - r["analyse_start"],
                  r["db_start"] - r["analyse_end"], r["db_end"] - r["db_start"], answered[key] - r["db_end"])
        for name, value in zip(spans, values):
            spans[name].append(value * 1000)
    print()
    print(f"== Where the round trip goes (instrumented server, {len(spans['JSON parse'])} of {len(records)} frames "
          f"joined; perf_counter is CLOCK_MONOTONIC, shared by both processes) ==")
    for name, values in spans.items():
        mean = statistics.fmean(values) if values else float("nan")
        print(f"{name:<38} mean {mean:7.1f}  {stats_line(values)}")


def profilers_start(args: argparse.Namespace, pids: list[int]) -> list[tuple[subprocess.Popen, Path]]:
    """py-spy attached to each server process for the load only (not its start-up or warm-up)."""
    profilers = []
    for pid in pids:
        path = Path(args.profile).resolve()
        path = path if len(pids) == 1 else path.with_name(f"{path.stem}-{pid}{path.suffix}")
        command = [args.py_spy, "record", "--pid", str(pid), "--rate", "100", "--threads", "--nonblocking",
                   *(["--gil"] if args.profile_gil else []), "--format", "raw", "-o", str(path)]
        profilers.append((subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                           start_new_session=True), path))
    print(f"profiling: {len(profilers)} process(es) with {args.py_spy} record --rate 100 --threads --nonblocking")
    return profilers


def profilers_stop(profilers: list[tuple[subprocess.Popen, Path]]) -> list[Path]:
    """Stop each py-spy (SIGINT makes it write its stacks); the files written."""
    for popen, _ in profilers:
        if popen.poll() is None:
            popen.send_signal(signal.SIGINT)
    written = []
    for popen, path in profilers:
        try:
            popen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
        if path.exists():
            written.append(path)
        else:
            print(f"profile: py-spy wrote no {path}: {popen.stderr.read().decode(errors='replace')[-500:]}")
    return written


def profile_print(paths: list[Path], count: int = 15) -> None:
    """The servers' top functions by CPU samples over the load (py-spy)."""
    if not paths:
        return
    total, own, inclusive = profile_top(paths, count)
    print(f"\n== Profile of the load: {total} samples at 100/s of busy server threads, blocking waits left out "
          f"(py-spy; collapsed stacks in {', '.join(map(str, paths))}) ==")
    for title, rows in (("by own samples (the function itself, native calls included)", own),
                        ("by inclusive samples (the function and what it calls)", inclusive)):
        print(f"top {count} functions {title}:")
        for samples, frame in rows:
            print(f"  {samples / max(1, total):6.1%} {samples:7d}  {frame[:150]}")


def printable_env(env: dict) -> str:
    items = []
    for key in sorted(env):
        if key.startswith(ENV_PREFIXES) or key in ENV_NAMES:
            value = "(throwaway)" if key == "DJANGO_SECRET_KEY" else env[key]
            items.append(f"{key}={value}")
    return " ".join(items)


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
        median_create = sessions_create(base_urls, lms_token, [*warm, *learners], args.interval)
        print(f"set-up: {len(learners)} learners + {len(warm)} warm-up, users/tokens via ORM, sessions via "
              f"POST /api/v1/sessions/ (median {median_create:.0f} ms) in {time.perf_counter() - started:.1f} s; "
              f"usernames {prefix}-learner-*")
        origin = base_url  # host in ALLOWED_HOSTS, as a browser on the exam page would send it
        print(f"warm-up: {len(warm)} sockets x 2 frames at once (loads the engine, builds per-thread detectors), "
              f"done in {asyncio.run(warm_up(warm, image, origin)):.1f} s")

        if args.wait_idle:
            print(f"machine before the load: {wait_idle(args.wait_idle):.2f} CPUs busy (3 s sample)")
        load = Load(args, learners, frames, origin)
        pid = server.popen.pid if server else None
        if pid:
            server_pids = [pid]
        else:
            server_pids = pids_from(args.cpu_pids or str(ROOT / "var" / "scaled" / "run" / "*.pid"))
            print(f"server processes (CPU counted with their children): {server_pids or 'none found'}")
        others_before = process_times()
        tree_before = tree_seconds(server_pids)
        cpu_before = (time.process_time(), machine_busy(), time.perf_counter())
        profilers = profilers_start(args, server_pids) if args.profile else []
        print(f"running {args.duration:g} s ...", flush=True)
        timing = asyncio.run(load.run())
        profiles = profilers_stop(profilers)
        wall = time.perf_counter() - cpu_before[2]
        busy = machine_busy()
        tree_after = tree_seconds(server_pids)
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
