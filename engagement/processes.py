"""Analysis processes: a server's live frames decoded and analysed beside its event loop, not under its one GIL.

Each process has a pipe of its own, and a calling thread borrows an idle process for one call: a frame costs one
write and one read on that pipe. (concurrent.futures' process pool cost about 0.2 ms of CPU a hand-off more, in its
manager and feeder threads and their wake-ups: benchmarks/analysis_ipc.py, README "Benchmarks".)
"""
from __future__ import annotations

import atexit
import gc
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any, Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .conf import engagement_settings
from .exceptions import EngineUnavailable

logger = logging.getLogger(__name__)
# Seconds processes_stop waits for the frames in analysis to finish before it stops their processes regardless.
STOP_WAIT_SECONDS = 30.0
_pool: _Pool | None = None
_lock = threading.Lock()
_applied: dict | None = None  # in a child: the ENGAGEMENT block its engine was built from


class _ProcessDied(Exception):
    """The process died (killed, out of memory, os._exit) before it answered."""


def _child_start(settings_module: str, config: dict | None) -> None:
    """A new analysis process (at server start, or replacing one that died): Django set up with the server's
    settings and the models loaded before its first frame."""
    # Ctrl-C reaches the whole process group: the server stops its processes itself, after its last frame.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A server killed outright (SIGKILL, out of memory) cannot stop its children: each one leaves with it.
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=lambda: (parent.join(), os._exit(0)), name="parent-watch", daemon=True).start()
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django

    django.setup()
    _config_apply(config)
    if engagement_settings["WARM_UP"]:
        from .engines import warm_up

        warm_up()
    gc.freeze()  # the models live as long as the process: the collector's full passes need not walk them


def _child_main(conn: Connection, settings_module: str, config: dict | None) -> None:
    """An analysis process: answer each call read from the pipe, until the server closes its end."""
    _child_start(settings_module, config)
    while True:
        try:
            request = conn.recv_bytes()
        except EOFError:  # the server stopped this process (or left)
            return
        try:
            config, fn, args = pickle.loads(request)
            answer = (True, _child_run(config, fn, args), None)
        except BaseException as exc:  # the caller raises it, as if the call had run in its own thread
            answer = (False, exc, "".join(traceback.format_exception(exc)))
        try:
            payload = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an answer that cannot cross: the caller gets an error, not a wait for ever
            payload = pickle.dumps((False, RuntimeError(f"the analysis process's answer cannot be sent: {exc!r}"),
                                    answer[2] or "".join(traceback.format_exception(exc))))
        conn.send_bytes(payload)


class RemoteTraceback(Exception):
    """The traceback of an exception raised in an analysis process (set as its __cause__ in the server)."""

    def __str__(self) -> str:
        return "\n" + str(self.args[0]) if self.args else ""


def _child_run(config: dict | None, fn: Callable, args: tuple) -> Any:
    """In a child: apply the server's ENGAGEMENT block as it is now (tests and the admin may change it), then run."""
    _config_apply(config)
    return fn(*args)


def _config_apply(config: dict | None) -> None:
    global _applied
    if config != _applied:
        from .engines import reset_engine

        settings.ENGAGEMENT = config
        reset_engine()
        _applied = config


class _Child:
    """One analysis process and the server's end of its pipe; used by one thread at a time (the pool lends it)."""

    def __init__(self, context: Any, settings_module: str, config: dict | None) -> None:
        self.conn, child_end = context.Pipe(duplex=True)
        self.process = context.Process(target=_child_main, args=(child_end, settings_module, config),
                                       name="engagement-analysis", daemon=True)
        try:
            self.process.start()
        except BaseException:  # no process: neither end of the pipe is anyone's
            self.conn.close()
            raise
        finally:
            child_end.close()  # the child holds its end: the server's copy would keep the pipe open after it died

    def call(self, config: dict | None, fn: Callable, args: tuple) -> Any:
        """Run fn(*args) in the process; its exception is raised here. _ProcessDied if it died first."""
        try:
            self.conn.send_bytes(pickle.dumps((config, fn, args), protocol=pickle.HIGHEST_PROTOCOL))
            answer = self.conn.recv_bytes()
        except (EOFError, OSError) as exc:  # its end of the pipe closed: the process is gone
            raise _ProcessDied(str(exc)) from exc
        try:
            ok, value, remote_traceback = pickle.loads(answer)
        except Exception as exc:  # e.g. an exception class whose arguments do not rebuild it
            raise RuntimeError(f"the analysis process's answer cannot be read: {exc!r}") from exc
        if not ok:
            raise value from RemoteTraceback(remote_traceback)  # the logs show where in the process it failed
        return value

    def stop(self, timeout: float = 5.0) -> None:
        """Close the pipe (the process leaves after its current call), then make sure it is gone."""
        self.conn.close()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)


class _Pool:
    """The server's analysis processes; a thread borrows an idle one for each call, waiting while all are busy."""

    def __init__(self, size: int, settings_module: str, config: dict | None) -> None:
        # "spawn": a forked copy of a threaded server could inherit a lock held by another thread.
        self._context = multiprocessing.get_context("spawn")
        self._module, self._config = settings_module, config
        self._idle: queue.SimpleQueue[_Child | None] = queue.SimpleQueue()
        self._children_lock = threading.Lock()  # two threads may replace two processes at once
        self.children = [_Child(self._context, settings_module, config) for _ in range(size)]
        for child in self.children:
            self._idle.put(child)
        self.stopped = False

    def call(self, config: dict | None, fn: Callable, args: tuple) -> Any:
        """fn(*args) in an idle process; a process that dies under the call is replaced, and _ProcessDied raised."""
        child = self._idle.get()
        if child is None or self.stopped:  # stopping: no new call starts; the process goes back for stop()
            self._idle.put(child)
            raise _ProcessDied("the analysis processes were stopped")
        try:
            return child.call(config, fn, args)
        except _ProcessDied:
            child.stop(timeout=1.0)
            if not self.stopped:
                child = self._replace(child)
            raise
        finally:
            self._idle.put(child)

    def _replace(self, dead: _Child) -> _Child:
        """A new process in the dead one's place; if it cannot start, the dead one stays there and the next call
        that borrows it tries again (its closed pipe answers _ProcessDied at once)."""
        logger.warning("analysis process %s died: starting another", dead.process.pid)
        try:
            replacement = _Child(self._context, self._module, self._config)
        except Exception:  # out of memory, too many processes: this frame fails; the next one tries again
            logger.exception("could not start an analysis process")
            return dead
        with self._children_lock:
            if not self.stopped:
                self.children = [replacement if c is dead else c for c in self.children]
                return replacement
        replacement.stop()  # stop() began meanwhile and no longer sees the pool's list: this one is ours to stop
        return dead

    def stop(self) -> None:
        """Stop every process, each once its call in progress (if any) has finished or STOP_WAIT_SECONDS passed."""
        with self._children_lock:  # after this, _replace adds no process (it checks under the same lock)
            self.stopped = True
        for _ in self.children:
            try:
                child = self._idle.get(timeout=STOP_WAIT_SECONDS)
            except queue.Empty:
                break
            child.stop()
        self._idle.put(None)  # calls still waiting for a process give up
        with self._children_lock:
            children = list(self.children)
        for child in children:
            # One still busy after the wait: killed, so that its call reads the end of the pipe and gives up (the
            # pipe itself is closed by that call, never under its read).
            if child.process.is_alive() and not child.conn.closed:
                child.process.kill()


def processes_enabled() -> bool:
    """Whether this process analyses live frames in child processes (ENGAGEMENT["ANALYSIS_PROCESSES"] > 0)."""
    return engagement_settings["ANALYSIS_PROCESSES"] > 0


def _pool_get() -> _Pool:
    """The analysis processes of this server, started on first use."""
    global _pool
    with _lock:
        if _pool is None:
            # A child sets Django up anew from the same settings module (settings.configure() leaves none to name).
            module = getattr(settings, "SETTINGS_MODULE", None) or os.environ.get("DJANGO_SETTINGS_MODULE")
            if not module:
                raise ImproperlyConfigured("ENGAGEMENT['ANALYSIS_PROCESSES'] needs a settings module "
                                           "(DJANGO_SETTINGS_MODULE); set it to 0 with settings.configure().")
            _pool = _Pool(engagement_settings["ANALYSIS_PROCESSES"], module, getattr(settings, "ENGAGEMENT", None))
        return _pool


def process_pids() -> set[int]:
    """The pids of this server's running analysis processes (none before the first frame or processes_start)."""
    pool = _pool
    return {c.process.pid for c in pool.children if c.process.is_alive()} if pool is not None else set()


def processes_start() -> list[int]:
    """Start every analysis process now and load its models (server start), so that no frame waits for them;
    answers their pids."""
    pool = _pool_get()
    config = getattr(settings, "ENGAGEMENT", None)
    # The processes load their models at once, from their start; each call waits for one of them (idle processes
    # are lent in turn, so each call reaches another).
    try:
        return sorted({pool.call(config, os.getpid, ()) for _ in pool.children})
    except _ProcessDied as exc:
        raise EngineUnavailable("An analysis process could not start.") from exc


def processes_stop() -> None:
    """Stop the analysis processes (a server that shuts down, tests); the next frame starts new ones."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.stop()


atexit.register(processes_stop)  # before multiprocessing's own exit handler, which would kill them mid-frame


def in_process(fn: Callable, *args: Any) -> Any:
    """`fn(*args)` in an analysis process (a module-level function, picklable arguments); its errors are raised here.

    A process that dies (killed, out of memory) takes its frame with it: the process is replaced and the frame
    tried once more; a second death answers EngineUnavailable (503: the page sends its next frame), as does a
    frame caught by the processes' stop (server shutdown).
    """
    config = getattr(settings, "ENGAGEMENT", None)
    for _ in range(2):
        pool = _pool_get()
        try:
            return pool.call(config, fn, args)
        except _ProcessDied:
            if pool.stopped:
                break
    raise EngineUnavailable("The analysis engine failed; try again later.")
