"""CPU of handing a frame to an analysis process and reading its answer: the server's analysis processes
(engagement.processes, a pipe each) against concurrent.futures' process pool, which they replaced.

Sends --calls calls of a trivial function with a frame-sized payload (45 kB of bytes, as a 640x480 JPEG at q80)
from one thread, and prints the CPU of this process (all its threads) and of the analysis process together per
call, and the wall time. The analysis itself is left out: this is the hand-off's own cost. Never asserts on timings.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

from _common import setup_django  # benchmarks/ is on sys.path when a script runs

PAYLOAD = os.urandom(45_000)


def _cpu_ms(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total * 1000 / os.sysconf("SC_CLK_TCK")


def _timed(call, pids: list[int], calls: int) -> tuple[float, float]:
    cpu, wall = _cpu_ms(pids), time.perf_counter()
    for _ in range(calls):
        call()
    return (_cpu_ms(pids) - cpu) / calls, (time.perf_counter() - wall) * 1000 / calls


def main() -> None:
    """Time both hand-offs, twice each, alternated."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="calls a run (default 2000)")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctoring.settings_test")
    setup_django()
    from django.conf import settings

    from engagement import processes

    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "ANALYSIS_PROCESSES": 1, "WARM_UP": False}
    [child] = processes.processes_start()
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    pool.submit(len, b"").result()
    [pool_child] = list(pool._processes)  # the pool's one process, for its CPU
    print(f"{args.calls} calls a run, a {len(PAYLOAD):,}-byte payload each; CPU of this process and the child")
    for _ in range(2):
        cpu, wall = _timed(lambda: processes.in_process(len, PAYLOAD), [os.getpid(), child], args.calls)
        print(f"engagement.processes (a pipe each):   {cpu:.3f} ms CPU a call, {wall:.3f} ms wall")
        cpu, wall = _timed(lambda: pool.submit(len, PAYLOAD).result(), [os.getpid(), pool_child], args.calls)
        print(f"concurrent.futures ProcessPoolExecutor: {cpu:.3f} ms CPU a call, {wall:.3f} ms wall")
    pool.shutdown()
    processes.processes_stop()


if __name__ == "__main__":
    main()
