"""CPU a server spends telling the instructors' live view about analysed frames: one channel-layer send a frame
(MONITOR_LIVE_BATCH_SECONDS=0) against the batches (one send a window for all of its frames).

Uses the project's channel layer as settings configure it (Redis when REDIS_URL is set, e.g. after
`scripts/scaled.sh services`; the in-process layer otherwise), with 0 and 1 instructor channels in the group, and
prints process CPU per frame's row (time.process_time: this process only; Redis's own CPU is not counted).
Never asserts on timings.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import time

from _common import setup_django  # benchmarks/ is on sys.path when a script runs

ROW = {"id": "0" * 36, "learner": "bench-learner-1", "learner_name": "bench-learner-1", "course_id": "c",
       "exam_id": "e", "status": "active", "created_at": "2026-12-07T22:00:00+00:00",
       "engagement_status": "engaged", "dominant_emotion": "neutral", "smoothed_score": 55.5, "frames": 12,
       "last_frame_at": "2026-12-07T22:01:00+00:00", "connection": "connected", "connection_changed_at": None,
       "rejoins": 0, "rejoined_at": None, "alerts": [], "control_url": None}


async def measure(rows: int, window: float) -> float:
    """Process CPU (ms) per row for `rows` rows of distinct sessions sent as analysed frames' rows are."""
    from django.conf import settings

    from monitor import broadcast

    settings.MONITOR = {**settings.MONITOR, "LIVE_BATCH_SECONDS": window}
    started = time.process_time()
    for i in range(rows):
        await broadcast.live_row_send({**ROW, "id": f"{i:036d}"})
    if window:
        await asyncio.sleep(window * 1.5)  # the window's send
        await asyncio.gather(*[b.sending for b in broadcast._live_rows.values() if b.sending is not None])
    return (time.process_time() - started) * 1000 / rows


async def main(rows: int) -> None:
    from channels.layers import get_channel_layer

    from monitor.broadcast import INSTRUCTORS_CHANNEL_GROUP

    layer = get_channel_layer()
    print(f"channel layer: {type(layer).__module__}.{type(layer).__name__}; {rows} rows a run")
    await measure(50, 0)  # connections opened, code warm
    for members in (0, 1):
        channel = await layer.new_channel() if members else None
        if channel:
            await layer.group_add(INSTRUCTORS_CHANNEL_GROUP, channel)
        at_once = await measure(rows, 0)
        batched = await measure(rows, 0.2)
        print(f"{members} instructor channel(s): one send a row {at_once:.3f} ms CPU a row; "
              f"batched (one send a 0.2 s window) {batched:.3f} ms a row")
        if channel:
            await layer.group_discard(INSTRUCTORS_CHANNEL_GROUP, channel)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1000, help="rows a run (default 1000)")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctoring.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    setup_django()
    asyncio.run(main(args.rows))
