"""Analysis processes: a server's live frames decoded and analysed beside its event loop, not under its one GIL."""
from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .conf import engagement_settings
from .exceptions import EngineUnavailable

logger = logging.getLogger(__name__)
_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()
_applied: dict | None = None  # in a child: the ENGAGEMENT block its engine was built from


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


def processes_enabled() -> bool:
    """Whether this process analyses live frames in child processes (ENGAGEMENT["ANALYSIS_PROCESSES"] > 0)."""
    return engagement_settings["ANALYSIS_PROCESSES"] > 0


def process_pool() -> ProcessPoolExecutor:
    """The analysis processes of this server, started on first use ("spawn": a forked copy of a threaded server
    could inherit a lock held by another thread)."""
    global _pool
    with _lock:
        if _pool is None:
            # A child sets Django up anew from the same settings module (settings.configure() leaves none to name).
            module = getattr(settings, "SETTINGS_MODULE", None) or os.environ.get("DJANGO_SETTINGS_MODULE")
            if not module:
                raise ImproperlyConfigured("ENGAGEMENT['ANALYSIS_PROCESSES'] needs a settings module "
                                           "(DJANGO_SETTINGS_MODULE); set it to 0 with settings.configure().")
            _pool = ProcessPoolExecutor(max_workers=engagement_settings["ANALYSIS_PROCESSES"],
                                        mp_context=multiprocessing.get_context("spawn"), initializer=_child_start,
                                        initargs=(module, getattr(settings, "ENGAGEMENT", None)))
        return _pool


def processes_start() -> list[int]:
    """Start every analysis process now and load its models (server start), so that no frame waits for them;
    answers their pids."""
    pool = process_pool()
    config = getattr(settings, "ENGAGEMENT", None)
    # Each task waits for its process's start (models loaded): one per process, as the pool spawns one per task.
    futures = [pool.submit(_child_run, config, os.getpid, ())
               for _ in range(engagement_settings["ANALYSIS_PROCESSES"])]
    return sorted({future.result() for future in futures})


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    logger.warning("an analysis process died: starting new ones")
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def processes_stop() -> None:
    """Stop the analysis processes (a server that shuts down, tests); the next frame starts new ones."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def in_process(fn: Callable, *args: Any) -> Any:
    """`fn(*args)` in an analysis process (a module-level function, picklable arguments); its errors are raised here.

    A process that dies (killed, out of memory) takes its frames with it: the pool is replaced and the frame tried
    once more on a fresh process; a second death answers EngineUnavailable (503: the page sends its next frame), as
    does a frame caught by the processes' stop (server shutdown).
    """
    config = getattr(settings, "ENGAGEMENT", None)
    for _ in range(2):
        pool = process_pool()
        try:
            future = pool.submit(_child_run, config, fn, args)
        except BrokenProcessPool:  # (a RuntimeError too) a process died before this frame was sent
            _discard(pool)
            continue
        except RuntimeError:  # "cannot schedule new futures after shutdown": the server is stopping
            break
        try:
            return future.result()
        except BrokenProcessPool:
            _discard(pool)
        except CancelledError:  # stopped with the processes
            break
    raise EngineUnavailable("The analysis engine failed; try again later.")
