"""CPU time of a presence event (a page's socket opening or closing) stored alone and in batches of several.

Runs monitor.presence.sessions_presence_record, the function each server's presence batches go through, in one
thread against a throwaway SQLite database: --sessions sessions opened and then closed, in batches of each size
given, and prints thread CPU time (time.thread_time) per event, the median of --rounds rounds. Never asserts.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from _common import setup_django_throwaway  # benchmarks/ is on sys.path when a script runs


def main() -> None:
    """Set up a throwaway database with --sessions sessions, time their opens and closes batch size by size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=200, help="sessions (default 200)")
    parser.add_argument("--batches", default="1,5,20,50", help="batch sizes, comma-separated (default 1,5,20,50)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per batch size (default 3), after one warm-up")
    args = parser.parse_args()
    setup_django_throwaway("presence_batch-")
    from django.contrib.auth import get_user_model

    from monitor import presence, services
    from monitor.presence import PresenceEvent, PresenceNote

    ids = [str(services.session_create(learner=get_user_model().objects.create_user(f"learner{i}"),
                                       course_id="c", exam_id="e").id) for i in range(args.sessions)]
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    print(f"{args.sessions} sessions, SQLite; thread CPU per event, median of {args.rounds} rounds")
    print(f"{'batch':>5} {'open ms':>8} {'close ms':>9}")
    for size in (int(b) for b in args.batches.split(",")):
        per_event = {PresenceEvent.SOCKET_OPEN: [], PresenceEvent.SOCKET_CLOSED: []}
        for round_ in range(args.rounds + 1):
            for event, times in per_event.items():
                started = time.thread_time()
                for i in range(0, len(ids), size):
                    presence.sessions_presence_record(notes=[PresenceNote(s, event) for s in ids[i:i + size]])
                if round_:  # the first round warms up
                    times.append((time.thread_time() - started) * 1000 / len(ids))
        print(f"{size:5} {statistics.median(per_event[PresenceEvent.SOCKET_OPEN]):8.3f} "
              f"{statistics.median(per_event[PresenceEvent.SOCKET_CLOSED]):9.3f}")


if __name__ == "__main__":
    main()
