"""Faults the scaled set-up survives: learners on both servers, one fault mid-run, what each learner saw.

Starts the scaled set-up (scripts/scaled.sh start: PostgreSQL, Redis, servers on 8001 and 8002, two Celery
workers), then runs each scenario on fresh sessions: --learners simulated exam pages (one socket each, servers in
turn) send a webcam frame every --interval seconds for --duration seconds, reconnecting as the page does (backoff
from 0.5 s doubling to 5 s, to the other server after a failure) and spacing frames out after three dropped or
failed in a row (as the page does while the service catches up); at --fault-at seconds the fault happens:
- postgres: PostgreSQL stopped for --outage seconds, then started;
- redis: Redis restarted;
- server-kill: server 1 SIGKILLed and started again, server 2 the same --stagger seconds later;
- none: no fault, the control: how long learners wait for an analysis under this load alone.
Per scenario it prints frames sent / analysed / dropped / errors, rows, acknowledged-but-lost and duplicate rows,
each learner's time from the fault's end to its first analysis (median, max), refused handshakes by status,
the longest a learner was refused (4429 or HTTP), disconnected alerts opened, and tracebacks and 5xx in the logs.
For the three learners who waited longest it prints what they were told from the fault on. SERVER_PORTS,
SCALED_DIR, PG_PORT and REDIS_PORT (scripts/scaled.sh's variables) choose other ports and another folder.
Stops the set-up at the end. Plain text; never asserts.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from _common import ROOT
from _learners import Learner, rows_verify, sessions_create, users_create
from _server import django_setup

SCALED = ROOT / "scripts" / "scaled.sh"
# As the exam page does (monitor/static/monitor/exam.js): after this many dropped or failed frames in a row, frames
# are spaced out, doubling from the frame interval up to CATCHING_UP_MAX seconds, until an analysis comes.
CATCHING_UP_AFTER, CATCHING_UP_MAX = 3, 10.0
TROUBLE = {"dropped", "service_unavailable", "engine_unavailable", "server_error"}
# The set-up's ports and folder come from scripts/scaled.sh's own variables (SERVER_PORTS, SCALED_DIR, PG_PORT,
# REDIS_PORT), so that a run can use ports of its own beside another set-up.
VAR = Path(os.environ.get("SCALED_DIR", ROOT / "var" / "scaled"))
PORTS = [int(port) for port in os.environ.get("SERVER_PORTS", "8001 8002").split()][:2]
SERVERS = tuple(f"http://127.0.0.1:{port}" for port in PORTS)
PY = str(ROOT / ".venv" / "bin" / "python")


def scaled(command: str) -> None:
    """One scripts/scaled.sh command."""
    subprocess.run([str(SCALED), command], cwd=ROOT, check=True, timeout=300, env={**os.environ, "DEMO": "0"},
                   stdout=subprocess.DEVNULL)


def server_restart(port: int) -> None:
    """SIGKILL one server (as a crash would) and start it again as scripts/scaled.sh does."""
    pidfile = VAR / "run" / f"server-{port}.pid"
    try:
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
    except (OSError, ValueError):
        pass
    time.sleep(0.5)
    env = {**os.environ, "DJANGO_SECRET_KEY": (VAR / "secret_key").read_text().strip()}
    with open(VAR / "logs" / f"server-{port}.log", "ab") as log:
        process = subprocess.Popen([PY, "-m", "proctoring.serve", "-b", "127.0.0.1", "-p", str(port)], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    pidfile.write_text(str(process.pid))


class Page:
    """One simulated exam page: its socket, its frames and what it was told."""

    def __init__(self, learner: Learner, server: int, path: str):
        self.learner, self.server, self.path = learner, server, path
        self.answers: Counter = Counter()
        self.refused: Counter = Counter()
        self.refused_since: float | None = None
        self.longest_refusal = 0.0
        self.analysed_at: list[float] = []
        self.timeline: list[tuple[float, str]] = []  # (seconds from the start, what the page was told or saw)
        self.troubles = 0  # frames dropped or failed in a row
        self.quiet_until = 0.0  # monotonic: no frame before this (the page catching up)

    def told(self, what: str, interval: float) -> None:
        """An answer to a frame: the page's catching-up backoff, as exam.js counts it."""
        if what == "analysis":
            self.troubles, self.quiet_until = 0, 0.0
        elif what in TROUBLE:
            self.troubles += 1
            if self.troubles >= CATCHING_UP_AFTER:
                self.quiet_until = time.monotonic() + min(
                    CATCHING_UP_MAX, interval * 2 ** (self.troubles - CATCHING_UP_AFTER))


async def page_run(page: Page, frame: str, args, t0: float, stop: float) -> None:
    """Send frames while connected; reconnect like the exam page (backoff, other server) until `stop`."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    backoff = 0.5
    while time.monotonic() < stop:
        url = SERVERS[page.server].replace("http", "ws") + page.path
        try:
            async with connect(url, origin=SERVERS[page.server], open_timeout=10, proxy=None, max_size=2**22,
                               additional_headers={"Authorization": f"Token {page.learner.token}"},
                               ping_interval=None) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
                if hello.get("type") != "connected":
                    raise ConnectionError(hello.get("type"))
                backoff = 0.5
                if page.refused_since is not None:
                    page.longest_refusal = max(page.longest_refusal, time.monotonic() - page.refused_since)
                    page.refused_since = None
                sender = asyncio.ensure_future(frames_send(ws, page, frame, args, stop))
                try:
                    async for raw in ws:
                        message = json.loads(raw)
                        kind = message.get("type")
                        if kind == "analysis":
                            page.analysed_at.append(time.monotonic() - t0)
                            page.learner.analysed += 1
                            page.learner.log_ids.append(message.get("log_id"))
                        if kind in ("analysis", "dropped", "error"):
                            page.answers[kind if kind != "error" else message.get("error")] += 1
                            what = kind if kind != "error" else message.get("error")
                            page.timeline.append((time.monotonic() - t0, what))
                            page.told(what, args.interval)
                finally:
                    sender.cancel()
        except InvalidStatus as exc:
            page.refused[exc.response.status_code] += 1
            page.timeline.append((time.monotonic() - t0, f"refused {exc.response.status_code}"))
        except Exception as exc:  # closed, refused 4429 (closed before hello), reset: the page retries
            code = getattr(getattr(exc, "rcvd", None), "code", None)
            page.refused[code or type(exc).__name__] += 1
            page.timeline.append((time.monotonic() - t0, f"closed {code or type(exc).__name__}"))
        if page.refused_since is None:
            page.refused_since = time.monotonic()
        await asyncio.sleep(backoff)
        backoff = min(5.0, backoff * 2)
        page.server = 1 - page.server  # a load balancer sends the retry to the other server


async def frames_send(ws, page: Page, frame: str, args, stop: float) -> None:
    """A frame every --interval seconds while the socket is open; at `stop`, --drain seconds for answers, then close."""
    while time.monotonic() < stop:
        if time.monotonic() < page.quiet_until:
            await asyncio.sleep(min(args.interval, page.quiet_until - time.monotonic()))
            continue
        stamp = datetime.now(timezone.utc).isoformat()
        await ws.send(json.dumps({"type": "frame", "image": frame, "timestamp": stamp}))
        page.learner.sent += 1
        await asyncio.sleep(args.interval)
    await asyncio.sleep(args.drain)
    await ws.close()


def fault(scenario: str, args) -> float:
    """Cause the fault; answers when it ended (monotonic)."""
    if scenario == "postgres":
        scaled("stop-db")
        time.sleep(args.outage)
        scaled("start-db")
    elif scenario == "redis":
        scaled("restart-redis")
    elif scenario == "none":
        pass
    else:
        server_restart(PORTS[0])
        time.sleep(args.stagger)
        server_restart(PORTS[1])
    return time.monotonic()


def workers_wait(timeout: float = 180.0) -> None:
    """Wait until every Celery worker has loaded its models and says it is ready (frames sent before would queue)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = list((VAR / "logs").glob("worker-*.log"))
        if logs and all(" ready." in path.read_text(errors="replace") for path in logs):
            return
        time.sleep(1)
    print("workers not ready after %.0f s; going on" % timeout)


def log_offsets() -> dict[Path, int]:
    """Where each server and worker log ends now."""
    return {path: path.stat().st_size for path in (VAR / "logs").glob("*.log")}


def log_problems(offsets: dict[Path, int]) -> tuple[int, int]:
    """Tracebacks and HTTP 5xx lines written to the logs since `offsets`."""
    tracebacks = fivexx = 0
    for path in (VAR / "logs").glob("*.log"):
        with open(path, "rb") as handle:
            handle.seek(offsets.get(path, 0))
            for line in handle.read().decode(errors="replace").splitlines():
                tracebacks += "Traceback" in line
                fivexx += bool(re.search(r'" 5\d\d ', line))  # daphne's access log: "GET /path" 500 ...
    return tracebacks, fivexx


async def scenario_run(scenario: str, args, lms_token: str, learners: list[Learner], frame: str) -> dict:
    sessions_create(list(SERVERS), lms_token, learners, args.interval)
    from urllib.parse import urlsplit

    pages = [Page(learner, i % 2, urlsplit(learner.ws_url).path) for i, learner in enumerate(learners)]
    t0 = time.monotonic()
    stop = t0 + args.duration
    offsets = log_offsets()
    tasks = [asyncio.ensure_future(page_run(page, frame, args, t0, stop)) for page in pages]
    await asyncio.sleep(args.fault_at)
    fault_start = time.monotonic() - t0
    fault_end = await asyncio.to_thread(fault, scenario, args) - t0
    await asyncio.gather(*tasks)
    return {"pages": pages, "fault": (fault_start, fault_end), "logs": log_problems(offsets)}


def report(scenario: str, result: dict, learners: list[Learner]) -> None:
    from monitor.models import Alert, AlertKind

    pages = result["pages"]
    start, end = result["fault"]
    rows = rows_verify(learners)
    back = [next((t - end for t in p.analysed_at if t > end), None) for p in pages]
    recovered = [b for b in back if b is not None]
    answers = sum((p.answers for p in pages), Counter())
    refused = sum((p.refused for p in pages), Counter())
    disconnected = Alert.objects.filter(session__in=[x.session_id for x in learners],
                                        kind=AlertKind.DISCONNECTED).count()
    print(f"\n== {scenario}: fault from t={start:.1f} s to t={end:.1f} s ==")
    print(f"frames sent {sum(x.sent for x in learners)}, analysed {answers['analysis']}, dropped "
          f"{answers['dropped']}, errors {dict((k, v) for k, v in answers.items() if k not in ('analysis', 'dropped'))}")
    print(f"rows {rows['rows_total']}; acknowledged but lost {rows['lost']}; duplicate frame ids {rows['duplicates']}; "
          f"rows of another session {rows['wrong_session']}")
    if recovered:
        print(f"first analysis after the fault's end: median {statistics.median(recovered):.1f} s, max "
              f"{max(recovered):.1f} s; learners never analysed again: {len(back) - len(recovered)} of {len(back)}")
    else:
        print(f"first analysis after the fault's end: none of {len(back)} learners")
    print(f"handshakes refused or broken: {dict(refused)}; longest a learner was without a socket "
          f"{max((p.longest_refusal for p in pages), default=0):.1f} s")
    print(f"disconnected alerts opened: {disconnected}; server/worker logs since the start: tracebacks "
          f"{result['logs'][0]}, 5xx lines {result['logs'][1]}")
    slowest = sorted(range(len(pages)), key=lambda i: -(back[i] if back[i] is not None else float("inf")))[:3]
    for i in slowest:  # where the longest waits went: what those pages were told from the fault on
        told = [f"{t - end:+.1f} {what}" for t, what in pages[i].timeline if t >= start][:12]
        waited = f"{back[i]:.1f} s" if back[i] is not None else "never"
        print(f"  learner {i} (analysed again after {waited}): " + ", ".join(told))


def main() -> None:
    """Start the scaled set-up, run the scenarios, stop it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="postgres,redis,server-kill")
    parser.add_argument("--learners", type=int, default=60)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between a page's frames (default 2)")
    parser.add_argument("--duration", type=float, default=90.0, help="seconds of sending per scenario (default 90)")
    parser.add_argument("--fault-at", type=float, default=30.0)
    parser.add_argument("--outage", type=float, default=5.0, help="postgres: seconds stopped (default 5)")
    parser.add_argument("--stagger", type=float, default=30.0, help="server-kill: seconds between the two kills")
    parser.add_argument("--drain", type=float, default=10.0, help="seconds to wait for answers after sending")
    args = parser.parse_args()
    print("command: " + " ".join([os.path.relpath(sys.executable), *sys.argv]))
    scaled("start")
    try:
        workers_wait()
        env = dict(line.split("=", 1) for line in subprocess.run(
            [str(SCALED), "env"], capture_output=True, text=True, check=True).stdout.split())
        os.environ.update(env)
        django_setup(env["DATABASE_URL"])
        from tests.images import encode, webcam_face

        frame = "data:image/jpeg;base64," + base64.b64encode(encode(webcam_face(), quality=80)).decode()
        for number, scenario in enumerate(args.scenarios.split(",")):
            learners, lms_token = users_create(f"faults-{os.getpid()}-{number}", args.learners)
            result = asyncio.run(scenario_run(scenario, args, lms_token, learners, frame))
            from django.db import connections

            connections.close_all()  # this process's own connections may have died with PostgreSQL
            report(scenario, result, learners)
    finally:
        scaled("stop")


if __name__ == "__main__":
    main()
