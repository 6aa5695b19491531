"""The channel-layer groups of monitor and what is sent to them: the one module that names the groups."""
from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from .conf import monitor_settings

if TYPE_CHECKING:
    from .presence import PresenceChange

logger = logging.getLogger(__name__)
# The sockets of every instructors' live view (a channel group; the auth group is selectors.INSTRUCTORS_AUTH_GROUP).
INSTRUCTORS_CHANNEL_GROUP = "monitor.instructors"


class _LiveRows:
    """One event loop's rows of analysed frames, waiting to go to the live view together (each session's newest).

    A send to the instructors' group costs a server 0.2 to 0.4 ms of CPU on Redis with nobody watching (0.65 to
    0.9 ms with one instructor), and each instructor's socket a message: one send a window for all of a server's
    frames instead of one a frame. A row sent late never undoes a newer one: each carries the time it was read
    (`as_of`), and the live view keeps a session's newest.
    """

    def __init__(self) -> None:  # holds no reference to its loop: _live_rows forgets a loop that is gone
        self.rows: dict[str, dict] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.sending: asyncio.Task | None = None

    def add(self, row: dict, delay: float) -> None:
        self.rows[row["id"]] = row
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(delay, self._flush, delay)

    def _flush(self, delay: float) -> None:
        self.timer = None
        if self.sending is not None and not self.sending.done():
            # The last window's send still waits (Redis slow or restarting): these rows wait for the next window,
            # so that sends never pile up; meanwhile each session keeps only its newest row.
            self.timer = asyncio.get_running_loop().call_later(delay, self._flush, delay)
            return
        rows, self.rows = list(self.rows.values()), {}
        if rows:
            self.sending = asyncio.get_running_loop().create_task(_rows_send(rows))
            # A task holds its loop: kept after it is done, it would keep _live_rows from forgetting that loop.
            self.sending.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task) -> None:
        if self.sending is task:
            self.sending = None


_live_rows: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LiveRows] = weakref.WeakKeyDictionary()


async def _rows_send(rows: list[dict]) -> None:
    try:
        await get_channel_layer().group_send(INSTRUCTORS_CHANNEL_GROUP, {"type": "session.updates", "sessions": rows})
    except Exception as exc:  # Redis restarting: the live view gets these sessions' next frames instead
        logger.warning("live view not told about %d sessions: %s", len(rows), exc)


async def live_row_send(row: dict) -> None:
    """An analysed frame's session row to the live view: within MONITOR_LIVE_BATCH_SECONDS, with the other rows of
    this server's frames (a session's newest row only); at once when that is 0."""
    delay = monitor_settings["LIVE_BATCH_SECONDS"]
    if delay <= 0:
        await instructors_send({"type": "session.update", "session": row})
        return
    loop = asyncio.get_running_loop()
    batch = _live_rows.get(loop)
    if batch is None:
        batch = _live_rows[loop] = _LiveRows()
    batch.add(row, delay)


def session_group(session_id: Any) -> str:
    """The channel group of one exam session's sockets."""
    return f"monitor.session.{session_id}"


async def instructors_send(message: dict) -> None:
    """Send a message to every instructors' live view."""
    batch = _live_rows.get(asyncio.get_running_loop())
    if batch is not None and message.get("type") in ("session.update", "session.ended"):
        # A newer row of a session whose frame's row still waits here: the older one need not be sent at all (the
        # live view would keep the newer anyway, by `as_of`).
        batch.rows.pop(str(message["session"].get("id")), None)
    await get_channel_layer().group_send(INSTRUCTORS_CHANNEL_GROUP, message)


async def session_send(session_id: Any, message: dict) -> None:
    """Send a message to every socket of one exam session."""
    await get_channel_layer().group_send(session_group(session_id), message)


def instructors_send_sync(message: dict) -> None:
    """instructors_send, from synchronous code (services, tasks)."""
    async_to_sync(instructors_send)(message)


def session_send_sync(session_id: Any, message: dict) -> None:
    """session_send, from synchronous code (services, tasks)."""
    async_to_sync(session_send)(session_id, message)


async def presence_announce(change: PresenceChange) -> None:
    """Push a presence change: the row to the instructors, the alerts opened or closed to the learner's sockets."""
    await instructors_send({"type": "session.update", "session": change.row})
    for event in change.events:
        await session_send(change.session_id, {"type": "session.alert", "event": event})
