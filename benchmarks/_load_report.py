"""What a load run prints: answers, round trips, CPU, stored rows, the probe's spans and the profile."""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
from collections import Counter
from pathlib import Path

from _common import percentile
from _cpu import profile_top
from _learners import STAGES, Learner, iso_key
from _socket_load import Load


def stats_line(values: list[float], unit: str = "ms") -> str:
    if not values:
        return "n=0"
    return (f"p50 {percentile(values, 50):8.1f}  p95 {percentile(values, 95):8.1f}  p99 {percentile(values, 99):8.1f}"
            f"  max {max(values):8.1f} {unit}  (n={len(values)})")


TIMELINE_S = 5.0


def timeline(learners: list[Learner], t0: float) -> str:
    """The round trip's p95 for the frames sent in each TIMELINE_S window: where in the run the slow answers were."""
    buckets: dict[int, list[float]] = {}
    for x in learners:
        for key, answered in x.answered_at.items():
            sent = x.sent_at.get(key)
            if sent is not None:
                buckets.setdefault(int((sent - t0) // TIMELINE_S), []).append((answered - sent) * 1000)
    if not buckets:
        return "n/a"
    return " ".join(f"{percentile(buckets[b], 95):.0f}" if b in buckets else "-" for b in range(max(buckets) + 1))


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
    print(f"  by when sent (p95 ms, per {TIMELINE_S:g} s of sending): {timeline(learners, load.t0)}")
    print(f"  server processing_ms:        {stats_line([v for x in learners for v in x.processing])}")
    medians = {}
    for kind in kinds:
        values = [v for x in learners for v in x.kind_processing.get(kind, [])]
        if values:
            medians[kind] = statistics.median(values)
            print(f"    {kind + ':':<25}  {stats_line(values)}")
    if len(medians) > 1:
        slow, fast = max(medians, key=medians.get), min(medians, key=medians.get)
        print(f"    slowest kind's median / fastest's: {medians[slow] / medians[fast]:.2f}x ({slow} / {fast})")
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
            for name, seconds in cpu.get("roots", []):
                print(f"  {seconds * 1000 / analysed if analysed else float('nan'):5.1f} ms a frame: {name}")
            for seconds, name in cpu.get("threads", []):
                if analysed and seconds * 1000 / analysed >= 0.05:
                    print(f"  {seconds * 1000 / analysed:5.2f} ms a frame: {name}")
            # Everything the machine ran but this client (PostgreSQL's and Redis's processes too, and any that
            # started and ended during the load, which /proc no longer shows): the whole set-up's cost on one box.
            machine = cpu["machine"] * (os.cpu_count() or 1) * cpu["wall"] - cpu["client"] * cpu["wall"]
            print(f"machine CPU per analysed frame: {machine * 1000 / analysed if analysed else float('nan'):.1f} ms"
                  "   (all processes but this client; includes anything else running on the machine)")
            steady = load.steady_cpu
            if steady and steady["analysed"]:
                print(f"server CPU per analysed frame while sending: {steady['seconds'] * 1000 / steady['analysed']:.1f}"
                      f" ms   ({steady['seconds']:.1f} s over {steady['analysed']} frames answered from the first send "
                      "to the last: no handshake in it, nor closes with --close-together)")
            n = sum(1 for x in learners if x.connect_ms is not None) or 1
            if load.connect_cpu is not None:
                print(f"server CPU of the handshakes: {load.connect_cpu:.2f} s, {load.connect_cpu * 1000 / n:.1f} ms a "
                      "socket (opening every socket, before any frame)")
            # Without --close-together most pages close before sending ends (within the steady window above).
            if load.close_cpu is not None and args.close_together:
                late = sum(x.analysed for x in learners) - steady["analysed_at_end"]
                print(f"server CPU after sending ended: {load.close_cpu:.2f} s for {late} last answers and {n} "
                      f"closes ({load.close_cpu * 1000 / n:.1f} ms a socket, those answers included)")
        for cores, cmd in cpu["others"]:
            if cores >= 0.05:
                print(f"  other process: {cores:.2f} cores  {cmd[:110]}")
    print(f"socket close codes: {dict(closes)}; negotiated extensions: {load.extensions or '(none)'}")
    print()
    print("== Stored rows ==")
    print(f"log_ids answered: {rows['ids']}, answers without log_id: {rows['missing_id']}, "
          f"duplicate log_ids: {rows['duplicates']}, rows of another session: {rows['wrong_session']}")
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
        # --subprocesses: the server's analysis processes (ENGAGEMENT_ANALYSIS_PROCESSES) and a worker's children.
        command = [args.py_spy, "record", "--pid", str(pid), "--rate", "100", "--threads", "--nonblocking",
                   "--subprocesses",
                   *(["--gil"] if args.profile_gil else []), "--format", "raw", "-o", str(path)]
        profilers.append((subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                           start_new_session=True), path))
    print(f"profiling: {len(profilers)} process(es) and their children with {args.py_spy} record --rate 100 "
          "--threads --nonblocking --subprocesses")
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
