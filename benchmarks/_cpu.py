"""CPU accounting for the load benchmarks: processes' CPU time from /proc, the machine's load, py-spy summaries."""
from __future__ import annotations

import glob
import os
import time
from collections import Counter
from pathlib import Path


def cpu_seconds(pid: int | str) -> float:
    """utime + stime of a process (or of a thread: "<pid>/task/<tid>"), in seconds (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def wait_idle(limit: float) -> float:
    """Wait (at most `limit` seconds) until the whole machine used under 0.25 CPU for 3 s; returns that use."""
    deadline = time.monotonic() + limit
    while True:
        before = machine_busy()
        time.sleep(3)
        after = machine_busy()
        cores = (after[0] - before[0]) / max(1, after[1] - before[1]) * (os.cpu_count() or 1)
        if cores < 0.25 or time.monotonic() > deadline:
            return cores


def process_times() -> dict[int, tuple[float, str]]:
    """CPU seconds and command line of every process now (to name what else ran during the load)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                found[int(entry.name)] = (cpu_seconds(int(entry.name)), cmd or f"[pid {entry.name}]")
            except (OSError, ValueError, IndexError):
                continue
    return found


def process_name(pid: int) -> str:
    """A short name of a process: its command line without the interpreter's path."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return f"[pid {pid}]"
    return " ".join(w for w in words[1:] if w)[:60] or f"[pid {pid}]"


def rss_mb(pid: int) -> float:
    """A process's peak resident memory (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pids_from(spec: str) -> list[int]:
    """Process ids from a comma-separated list of ids and pid-file globs (e.g. var/scaled/run/*.pid)."""
    pids = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        if item.isdigit():
            pids.append(int(item))
            continue
        for path in sorted(glob.glob(item)):
            text = Path(path).read_text().strip()
            if text.isdigit():
                pids.append(int(text))
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def tree_seconds(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each process in `pids` and of its descendants (a prefork worker's children), by pid."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    seconds: dict[int, float] = {}
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seconds:
            continue
        try:
            seconds[pid] = cpu_seconds(pid)
        except (OSError, ValueError, IndexError):
            continue
        todo.extend(children.get(pid, []))
    return seconds


def thread_seconds(pids) -> dict[tuple[int, int], float]:
    """CPU seconds of each thread of the processes `pids`, by (pid, thread id) (Linux /proc/<pid>/task)."""
    seconds = {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                seconds[(pid, int(task.name))] = cpu_seconds(f"{pid}/task/{task.name}")
            except (OSError, ValueError, IndexError):
                continue
    return seconds


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two tree_seconds() readings (a process born in between counts from zero)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


# Stacks that end here are threads blocked waiting (py-spy cannot always tell an idle thread from a busy one).
WAITS = ("_worker (concurrent/futures/thread.py:81)", "wait (threading.py:", "select (selectors.py:",
         "get (queue.py:", "_wait_for_tstate_lock (threading.py:", "poll (selectors.py:", "doPoll (twisted/")


def profile_top(paths: list[Path], count: int = 15) -> tuple[int, list[tuple[int, str]], list[tuple[int, str]]]:
    """From py-spy's raw (collapsed) stacks: samples, top functions by own samples, and by inclusive samples.

    Samples stand for CPU time of Python threads (native code counted in the Python function that called it);
    stacks ending in a blocking wait (WAITS) are left out.
    """
    own: Counter = Counter()
    inclusive: Counter = Counter()
    total = 0
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, number = line.rpartition(" ")
            if not stack or not number.isdigit():
                continue
            frames = [f for f in stack.split(";") if not f.startswith(("thread (", "process "))]
            if not frames or frames[-1].startswith(WAITS):
                continue
            samples = int(number)
            total += samples
            own[frames[-1]] += samples
            for frame in set(frames):
                inclusive[frame] += samples
    return total, [(n, f) for f, n in own.most_common(count)], [(n, f) for f, n in inclusive.most_common(count)]
