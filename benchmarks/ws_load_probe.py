"""Run daphne with timing probes around each frame's stages, for benchmarks/ws_load.py --instrument.

Patches monitor.consumers in this process only (no project file changes) and, when daphne exits, writes one
record per frame to $WS_LOAD_PROBE_OUT: the frame's timestamp and time.perf_counter() stamps (CLOCK_MONOTONIC,
comparable with the load generator's on the same machine) at each hand-off.
Usage: python benchmarks/ws_load_probe.py -b 127.0.0.1 -p PORT proctoring.asgi:application
"""
from __future__ import annotations

import atexit
import contextvars
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_current: contextvars.ContextVar[dict | None] = contextvars.ContextVar("ws_load_probe", default=None)
_records: list[dict] = []
_lock = threading.Lock()


def _install() -> None:
    from monitor import consumers, services

    consumer = consumers.SessionConsumer
    receive, frame_received, process = consumer.receive, consumer.frame_received, consumer._process
    record = services.session_frame_record
    # Where the analysis is called from depends on the version: the consumer's _analyse (analysis and database
    # write in two threads) or services.session_frame_process (both in one analysis thread) calling
    # frame_analyze_described.
    owner, name = (consumers, "_analyse") if hasattr(consumers, "_analyse") else (services, "frame_analyze_described")
    analyse = getattr(owner, name)

    async def timed_receive(self, text_data=None, bytes_data=None, **kwargs):
        self._probe_received = time.perf_counter()  # before JSON parsing
        return await receive(self, text_data, bytes_data, **kwargs)

    async def timed_frame_received(self, content):
        if isinstance(content, dict):
            content["_probe"] = {"ts": content.get("timestamp"), "received": getattr(self, "_probe_received", None),
                                 "parsed": time.perf_counter()}
        return await frame_received(self, content)

    async def timed_process(self, content):
        stamps = content.pop("_probe", None) if isinstance(content, dict) else None
        if stamps is None:
            return await process(self, content)
        stamps["process"] = time.perf_counter()  # the socket's previous frame is done; this one starts
        token = _current.set(stamps)
        try:
            return await process(self, content)
        finally:
            stamps["done"] = time.perf_counter()  # answer sent, instructors notified
            _current.reset(token)
            with _lock:
                _records.append(stamps)

    def timed_analyse(*args, **kwargs):
        stamps = _current.get()  # asgiref copies the context into the worker thread
        if stamps is not None:
            stamps["analyse_start"] = time.perf_counter()
        try:
            return analyse(*args, **kwargs)
        finally:
            if stamps is not None:
                stamps["analyse_end"] = time.perf_counter()

    def timed_record(**kwargs):
        stamps = _current.get()
        if stamps is not None:
            stamps["db_start"] = time.perf_counter()
        try:
            return record(**kwargs)
        finally:
            if stamps is not None:
                stamps["db_end"] = time.perf_counter()

    consumer.receive, consumer.frame_received, consumer._process = timed_receive, timed_frame_received, timed_process
    setattr(owner, name, timed_analyse)
    services.session_frame_record = timed_record


def _dump() -> None:
    out = os.environ.get("WS_LOAD_PROBE_OUT")
    if out:
        with _lock:
            Path(out).write_text(json.dumps(_records))


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctoring.settings")
    import django

    django.setup()
    _install()
    atexit.register(_dump)
    from proctoring.serve import main as serve

    serve()


if __name__ == "__main__":
    main()
