"""The channel-layer groups of monitor and what is sent to them: the one module that names the groups."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

if TYPE_CHECKING:
    from .presence import PresenceChange

# The sockets of every instructors' live view (a channel group; the auth group is selectors.INSTRUCTORS_AUTH_GROUP).
INSTRUCTORS_CHANNEL_GROUP = "monitor.instructors"


def session_group(session_id: Any) -> str:
    """The channel group of one exam session's sockets."""
    return f"monitor.session.{session_id}"


async def instructors_send(message: dict) -> None:
    """Send a message to every instructors' live view."""
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
