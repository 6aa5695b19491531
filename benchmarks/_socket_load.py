"""The load itself: every learner's socket on one event loop, sending frames on schedule and timing the answers."""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from datetime import datetime, timezone

from _learners import Learner, iso_key, page_origin

CLOSE_SETTLE_SECONDS = 3.0  # after the last close was answered, for the server's own close handling
WARMUP_TIMEOUT = 120.0  # seconds for the first frame, which loads the engine's models


class Load:
    """All learners' sockets on one event loop; every wait is bounded by the run's deadlines."""

    def __init__(self, args: argparse.Namespace, learners: list[Learner], frames: list[tuple[str, str]], origin: str,
                 cpu_probe=None):
        self.args = args
        # Called once every socket is open and again when sending ends: the server's CPU seconds between the two
        # calls are the live frames' alone, with no handshake or close in them (steady_cpu).
        self.cpu_probe = cpu_probe
        self.steady_cpu: dict | None = None
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
        self.connect_cpu = self.close_cpu = None  # server CPU seconds of the handshakes, and after sending ended

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
                learner.log_ids.append(message.get("log_id"))
                if not message.get("success"):
                    learner.not_success[message.get("error")] += 1
                if sent_at is not None:
                    rtt = (now - sent_at) * 1000
                    learner.rtts.append(rtt)
                    learner.kind_rtts.setdefault(learner.kind_of.get(key, "?"), []).append(rtt)
                    processing = message.get("processing_ms")
                    if isinstance(processing, (int, float)):
                        learner.processing.append(processing)
                        learner.kind_processing.setdefault(learner.kind_of.get(key, "?"), []).append(processing)
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
                if self.args.close_together:  # every page leaves when sending has ended for all, as an exam's end
                    await asyncio.sleep(max(0.0, end - time.perf_counter()))
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

    def _analysed(self) -> int:
        return sum(x.analysed for x in self.learners)

    async def _steady(self, until: float) -> None:
        """The server's CPU seconds and the answers received from the first send to the last (no connects in
        that window, nor closes with --close-together; the few frames in analysis at either end roughly cancel
        out)."""
        seconds, analysed = self.cpu_probe(), self._analysed()
        await asyncio.sleep(max(0.0, until - time.perf_counter()))
        end = self.cpu_probe()
        self.steady_cpu = {"seconds": end - seconds, "analysed": self._analysed() - analysed, "end": end,
                           "analysed_at_end": self._analysed()}

    async def run(self) -> dict:
        go = asyncio.Event()
        events = [asyncio.Event() for _ in self.learners]
        connect_started = time.perf_counter()
        cpu_start = self.cpu_probe() if self.cpu_probe else None
        tasks = [asyncio.ensure_future(self._learner(lr, ev, go)) for lr, ev in zip(self.learners, events)]
        await asyncio.wait_for(asyncio.gather(*(ev.wait() for ev in events)), timeout=150)  # open 60 s + hello 60 s
        connect_wall = time.perf_counter() - connect_started
        # The server's CPU seconds for the handshakes alone (no frame has been sent yet).
        self.connect_cpu = self.cpu_probe() - cpu_start if self.cpu_probe else None
        self.t0 = time.perf_counter()
        go.set()
        until = self.t0 + self.args.duration
        helpers = [asyncio.ensure_future(self._ticker(until)), asyncio.ensure_future(self._progress(until))]
        if self.cpu_probe is not None:
            helpers.append(asyncio.ensure_future(self._steady(until)))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=self.args.duration + self.args.drain + 60)
        if self.cpu_probe is not None and self.steady_cpu is not None and self.args.close_together:
            # From the end of sending to the last close: the last frames' answers and every socket's close. The
            # server handles a close after it has answered it: give it a few seconds to finish.
            await asyncio.sleep(CLOSE_SETTLE_SECONDS)
            self.close_cpu = self.cpu_probe() - self.steady_cpu["end"]
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
