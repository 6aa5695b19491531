"""The server a load benchmark starts (daphne on loopback, a throwaway database) and the checks on its target."""
from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from _common import ROOT

# Environment variables that change what the server does; printed so that a run can be reproduced.
ENV_PREFIXES = ("MONITOR_", "ENGAGEMENT_", "DJANGO_", "OMP_", "OPENBLAS_", "MKL_")
ENV_NAMES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DEMO", "DJANGO_SETTINGS_MODULE")
SERVER_READY_TIMEOUT = 90.0  # seconds for daphne to import Django and answer HTTP


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


def django_setup(database_url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "proctoring.settings"
    os.environ["DATABASE_URL"] = database_url
    # This process only needs the database; a key is required to import the settings, its value is irrelevant.
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-throwaway-" + secrets.token_hex(16))
    import django

    django.setup()


def printable_env(env: dict) -> str:
    items = []
    for key in sorted(env):
        if key.startswith(ENV_PREFIXES) or key in ENV_NAMES:
            value = "(throwaway)" if key == "DJANGO_SECRET_KEY" else env[key]
            items.append(f"{key}={value}")
    return " ".join(items)
