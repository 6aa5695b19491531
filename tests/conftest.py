"""Shared fixtures: users, tokens, API clients, the real engine, and the scaled set-up's Celery workers."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tests.tokens import token_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def user(db):
    """A learner with a password."""
    return get_user_model().objects.create_user("alice", password="alice-password")


@pytest.fixture
def api(user):
    """An API client authenticated by an API token, as an LMS would be."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


@pytest.fixture
def anonymous_api():
    """An API client with no credentials."""
    return APIClient()


@pytest.fixture
def fresh_engine():
    """Reload the engine from the current settings, and again afterwards for the other tests."""
    from engagement.engines import reset_engine

    reset_engine()
    yield
    reset_engine()


# -- the two set-ups -----------------------------------------------------------------------------------------
# Embedded (default): SQLite, in-memory channel layer, analysis in this process. Scaled: CELERY_BROKER_URL,
# REDIS_URL and DATABASE_URL are set (scripts/scaled.sh services prints them), frames go to Celery workers.
SCALED = bool(os.environ.get("CELERY_BROKER_URL"))


def pytest_report_header(config):
    """Say which set-up the run tests."""
    if SCALED:
        return "set-up: scaled (PostgreSQL, Redis channel layer, Celery workers started by the tests)"
    return "set-up: embedded (SQLite, in-memory channel layer, analysis in the server process)"


def pytest_collection_modifyitems(config, items):
    """Deselect, visibly, the tests marked for the other set-up."""
    other = "embedded_only" if SCALED else "scaled_only"
    deselected = [item for item in items if item.get_closest_marker(other)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker(other)]


class WorkerPool:
    """Celery workers in subprocesses, on the test database, with the test settings."""

    def __init__(self, count: int, database_url: str):
        self.count = count
        # An evidence key of this run: frames are analysed (and evidence kept, for the sessions that ask) here, so
        # a test that turns evidence on sets this same key in its own process (no course keeps evidence by default).
        from cryptography.fernet import Fernet

        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "proctoring.settings_test", "DATABASE_URL": database_url,
                    "MONITOR_EVIDENCE_KEY": Fernet.generate_key().decode()}
        self.processes: dict[int, subprocess.Popen] = {}
        self.logs = Path(tempfile.mkdtemp(prefix="engagement-workers-"))

    def start(self, index: int) -> None:
        """Start worker `index` (solo pool: one frame at a time, models loaded once)."""
        log = open(self.logs / f"worker-{index}.log", "ab")
        self.processes[index] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "proctoring", "worker", "--pool", "solo", "-n", f"test{index}@%h",
             "--loglevel", "info", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, names: set[str], timeout: float = 90) -> None:
        """Block until the named workers answer a ping."""
        from proctoring.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answered = {name.split("@")[0] for reply in (app.control.ping(timeout=0.5) or []) for name in reply}
            if names <= answered:
                return
        raise RuntimeError(f"Celery workers {names} did not start; see {self.logs}")

    def start_all(self) -> None:
        for index in range(1, self.count + 1):
            self.start(index)
        self.wait_ready({f"test{i}" for i in range(1, self.count + 1)})

    def kill(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Send a signal to worker `index` (SIGKILL: it dies mid-task, nothing is acknowledged)."""
        self.processes[index].send_signal(sig)
        if sig == signal.SIGKILL:
            self.processes[index].wait(timeout=10)

    def stop(self, index: int) -> None:
        """Stop worker `index` cleanly (it finishes its frame and leaves the queue)."""
        self.processes[index].terminate()
        self.processes[index].wait(timeout=30)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="session", autouse=True)
def celery_workers(django_db_setup, django_db_blocker):
    """In the scaled set-up, two Celery workers on the test database for the whole run; None when embedded."""
    if not SCALED:
        yield None
        return
    import redis
    from django.conf import settings
    from django.db import connection

    for url in (settings.REDIS_URL, settings.CELERY_BROKER_URL):
        redis.Redis.from_url(url).flushdb()  # no channels, groups or frames left from an earlier run
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    pool = WorkerPool(2, url)
    pool.start_all()
    yield pool
    pool.stop_all()


class ServerProcess:
    """The product as it is deployed: `python -m proctoring.serve` (daphne) in a subprocess, on the test database."""

    def __init__(self, **env: str):
        from django.db import connections

        db = connections["default"].settings_dict
        if db["ENGINE"].endswith("sqlite3"):
            url = f"sqlite:///{db['NAME']}"
        else:
            url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "proctoring.serve", "-b", "127.0.0.1", "-p", str(self.port)], cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "proctoring.settings_test", "DATABASE_URL": url, **env},
            stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while True:
            assert self.process.poll() is None and time.monotonic() < deadline, self.output()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)

    def output(self) -> str:
        """What the server printed so far."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def server(transactional_db):
    """A real server process on the test database; its base URL (http://127.0.0.1:PORT)."""
    process = ServerProcess()
    yield process.url
    process.stop()
