"""WebSocket consumers: a learner's exam session (frames in, analyses and alerts out) and the instructors' feed."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
import weakref
from typing import Any

from asgiref.sync import SyncToAsync, sync_to_async
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY
from django.core.cache import cache
from django.db import DatabaseError
from django.utils import timezone

from redis.exceptions import RedisError

from engagement.api import (EngagementError, EngineUnavailable, analysis_pool, cache_count_add, engagement_settings,
                            offloaded, task_send)

from . import broadcast, presence, selectors, services, slots
from .presence import PresenceEvent
from .conf import monitor_settings

logger = logging.getLogger(__name__)
# A socket writes the page's last-heard time at most this often (seconds), not per message: it is read against
# MONITOR_PRESENCE_STALE_SECONDS (two minutes).
REFRESH_SECONDS = 10
# Seconds a socket waits for a worker beyond the frame's own deadline (MONITOR_MAX_FRAME_WAIT): its analysis.
ANSWER_GRACE_SECONDS = 5
ANSWERS_KEPT = 16
# Frames left unanalysed in a row (dropped, or failed for the service's own reasons) after which the live view shows
# the session's row as unknown rather than its last values (the exam page says "catching up" after as many).
UNKNOWN_AFTER = 3
# What a restart of Redis or of the database raises in a consumer: the socket is told to retry, never closed 1011.
UNAVAILABLE = (RedisError, DatabaseError, OSError, asyncio.TimeoutError)
TRY_AGAIN_LATER = 1013  # WebSocket close code "Try Again Later"; proctoring.serve answers a handshake so with 503


def exam_login_of(scope) -> str | None:
    """The exam a link-made login is confined to (None for ordinary logins and token clients)."""
    session = scope.get("session")
    try:
        return session.get(services.EXAM_LOGIN_KEY) if session is not None else None
    except Exception:  # a session store that cannot be read: treat as no confinement, auth decides
        return None


def server_now() -> str:
    """The server's time as a frame arrives (ISO 8601): what the alert rules run on."""
    return timezone.now().isoformat()


def echo(value, limit: int = 64):
    """A client field sent back in an answer: strings cut short, anything else dropped (bounded replies)."""
    return value[:limit] if isinstance(value, str) else None


def _count_sync(key: str, timeout: float) -> int:
    return cache_count_add(key, timeout=timeout) or 1


async def cache_count(key: str, timeout: float) -> int:
    """Add one to a counter in Django's cache atomically and answer the new count (made with `timeout` when absent).

    Django's async incr reads the value and writes it back (two steps that messages arriving at once
    interleave); the sync one is atomic in LocMemCache (a lock) and in Redis (INCRBY).
    """
    return await presence.cache_call(_count_sync, key, timeout)


async def _presence_sweep_forever() -> None:
    while (interval := monitor_settings["PRESENCE_SWEEP_SECONDS"]) > 0:
        await asyncio.sleep(interval)
        try:
            for change in await database_sync_to_async(presence.presence_sweep)():
                await broadcast.presence_announce(change)
        except Exception:  # a database or channel layer hiccup: try again at the next round
            logger.exception("the presence sweep failed")


_sweepers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def presence_sweeper_ensure() -> None:
    """Run the presence sweep in this server's event loop (once per loop; MONITOR_PRESENCE_SWEEP_SECONDS=0: never).

    Every server process sweeps; the sweep locks each session's row, so that two processes never open the same
    alert twice. It starts with the first socket, so that a process that serves no socket does no work.
    """
    if monitor_settings["PRESENCE_SWEEP_SECONDS"] <= 0:
        return
    loop = asyncio.get_running_loop()
    task = _sweepers.get(loop)
    if task is None or task.done():
        _sweepers[loop] = loop.create_task(_presence_sweep_forever())



class FrameFailed(EngagementError):
    """A frame a worker could not analyse (the error it reported)."""

    def __init__(self, error: dict):
        super().__init__(error["message"], code=error["error"])
        self.status_code = error.get("status", 400)
        self.session_gone = error.get("session_gone", False)


class _Consumer(AsyncJsonWebsocketConsumer):
    """A socket consumer whose messages go to their handlers without a hop to the database thread first."""

    async def dispatch(self, message):
        """Channels' dispatch less its `aclose_old_connections`: that sends every message (each frame, each live-view
        update) through the one thread that Channels' database calls share, where it waits behind them. These
        handlers reach the database only through database_sync_to_async or the analysis threads, which drop stale
        connections themselves."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class SessionConsumer(_Consumer):
    """One learner's socket: only the session's learner connects; frames are analysed one at a time."""

    async def connect(self):
        """Accept only the session's own learner, and only while the session has not ended.

        While the database, the cache or the channel layer is unreachable (a restart), the handshake is refused
        with close code 1013, "try again later" (HTTP 503 from proctoring.serve), never a server error; the page
        retries with backoff.
        """
        try:
            await self._handshake()
        except UNAVAILABLE as exc:
            logger.warning("socket of session %s refused for now: %s", self.scope["url_route"]["kwargs"].get(
                "session_id"), exc)
            if getattr(self, "slot_taken", False):
                # A handshake that fails gets no disconnect: give the place back now, or the learner's retries
                # would use up the session's sockets (and if Redis is gone, the place lapses by itself).
                with contextlib.suppress(*UNAVAILABLE):
                    await self._socket_slot_release()
            self.session = None
            await self.close(code=TRY_AGAIN_LATER)

    async def _handshake(self):
        session_id = self.scope["url_route"]["kwargs"]["session_id"]
        self.session = await database_sync_to_async(selectors.session_for_learner)(
            session_id=session_id, user=self.scope.get("user"))
        confined_to = await database_sync_to_async(exam_login_of)(self.scope)
        if self.session is None or (confined_to and confined_to != str(self.session.id)):
            self.session = None
            await self.close(code=4403)
            return
        self.session_id = str(self.session.id)
        if not await self._socket_slot_taken():
            self.session = None
            await self.close(code=4429)
            return
        self.user = self.scope["user"]
        self.pending: dict | None = None  # the newest frame waiting while another is analysed
        self.worker: asyncio.Task | None = None
        self.waiting: dict[str, asyncio.Future] = {}  # frames queued for a worker, by frame id
        self.answered: list[str] = []  # the last frames a worker answered (a redelivered frame answers twice)
        self.unanalysed = 0  # frames in a row that the server did not analyse (dropped or failed)
        self.unanalysed_since: str | None = None
        self.behind_told = False  # whether the live view was told that this session's row is not current
        await self.channel_layer.group_add(broadcast.session_group(self.session_id), self.channel_name)
        await self.accept()
        presence_sweeper_ensure()
        # Recorded before the page hears "connected" (and starts sending frames): when a whole class opens its exam
        # at once, the pages wait for their own handshakes, rather than their first frames waiting behind everyone's.
        await self._presence(PresenceEvent.SOCKET_OPEN)
        await self.send_json({"type": "connected", "session_id": self.session_id,
                              "frame_interval": self.session.frame_interval})

    async def _presence(self, event: str, camera_problem: str = "") -> None:
        try:
            change = await presence.presence_record(session_id=self.session_id, event=event,
                                                    camera_problem=camera_problem)
            if change is not None:
                await broadcast.presence_announce(change)
        except UNAVAILABLE as exc:  # the database or Redis restarting: the presence sweep catches up later
            logger.warning("presence of session %s not recorded: %s", self.session_id, exc)

    def _open(self) -> bool:
        return not getattr(self, "gone", False) and not getattr(self, "closing", False)

    async def send(self, text_data=None, bytes_data=None, close=False):
        """Send unless the client has gone or this side closed (a frame can finish after the socket closed)."""
        if self._open():
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    async def send_json(self, content, close=False):
        """As `send` (the JSON consumer's send_json goes to its parent's send, past the override above)."""
        if self._open():
            await super().send_json(content, close=close)

    async def close(self, code=None, reason=None):
        """Close once: whatever comes after (the LMS's end racing a refused frame) is not sent on a closed socket."""
        if not getattr(self, "closing", False):
            self.closing = True
            await super().close(code=code, reason=reason)

    async def disconnect(self, code):
        """Let the frame in analysis finish storing, then leave the group."""
        self.gone = True
        if getattr(self, "session", None) is None:
            return
        try:
            if not await self._socket_slot_release():  # the session's last socket: the page has gone
                await self._presence(PresenceEvent.SOCKET_CLOSED)
        except UNAVAILABLE as exc:  # Redis or the database restarting: the presence sweep and the TTL catch up
            logger.warning("socket of session %s closed while a service was away: %s", self.session_id, exc)
        self.pending = None
        if self.worker is not None:
            if offloaded():
                # The worker stores the frame by itself; this socket can no longer hear its answer.
                self.worker.cancel()
            else:
                await asyncio.shield(self.worker)
        with contextlib.suppress(*UNAVAILABLE):  # a channel layer that restarted forgot the group anyway
            await self.channel_layer.group_discard(broadcast.session_group(self.session_id), self.channel_name)

    async def error(self, code: str, message: str, **extra):
        """Tell the client what was wrong with its message; the socket stays open."""
        await self.send_json({"type": "error", "error": code, "message": message, **extra})

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """Parse JSON ourselves so that malformed or oversized messages get an error, not a crash."""
        # Any message, even one refused below, shows that the page is there (see presence_sweep's staleness).
        now = time.monotonic()
        if now - getattr(self, "heard_at", -REFRESH_SECONDS) >= REFRESH_SECONDS:
            try:
                await presence.session_heard(session_id=self.session_id)
                self.heard_at = now
            except UNAVAILABLE as exc:  # the cache restarting: the next message tries again
                logger.warning("could not note that session %s was heard: %s", self.session_id, exc)
        if text_data is None:
            await self.error("invalid_message", "Send JSON text messages.")
            return
        limit = engagement_settings["MAX_REQUEST_BYTES"]
        if len(text_data) > limit:
            await self.error("payload_too_large", f"A message may be at most {limit} bytes.")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.error("invalid_json", "The message is not valid JSON.")
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        """Route by message type."""
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "frame":
            await self.frame_received(content)
        elif kind == "camera":
            await self.camera_reported(content)
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.error("unknown_type", "Unknown message type: send {\"type\": \"frame\", \"image\", \"timestamp\"}"
                             " or {\"type\": \"camera\", \"state\"}.")

    async def camera_reported(self, content: dict):
        """The page says whether its camera works: "ok", or what is wrong with it (presence.CAMERA_PROBLEMS)."""
        # Each report locks the session's row and may tell the instructors: a page changes its camera rarely.
        if await self._rate_limited("camera"):
            await self.error("rate_limited", "Too many camera reports: slow down.")
            return
        state = content.get("state")
        if state == "ok":
            await self._presence(PresenceEvent.CAMERA_OK)
        elif isinstance(state, str) and state in presence.CAMERA_PROBLEMS:
            await self._presence(PresenceEvent.CAMERA_PROBLEM, camera_problem=state)
        else:
            await self.error("invalid_camera_state", "'state' must be one of: ok, "
                             + ", ".join(presence.CAMERA_PROBLEMS) + ".")

    # Frames are counted per session in Django's cache (per process when embedded, Redis when scaled), and sockets
    # hold places (monitor.slots), so that opening more sockets on one session buys no more frames.
    @property
    def socket_id(self) -> str:
        """This socket's member in its session's places."""
        if not hasattr(self, "_socket_id"):
            self._socket_id = uuid.uuid4().hex
        return self._socket_id

    async def _socket_slot_taken(self) -> bool:
        """Take one of the session's MONITOR_MAX_SOCKETS_PER_SESSION places; False when none is free."""
        self.slot_taken = await slots.slot_take(session_id=self.session_id, socket_id=self.socket_id)
        return self.slot_taken

    async def _socket_slot_release(self) -> int:
        """Give the place back; answers the session's live sockets left (any server)."""
        self.slot_taken = False
        return await slots.slot_release(session_id=self.session_id, socket_id=self.socket_id)

    async def _rate_limited(self, kind: str = "frame") -> bool:
        """Whether the session (all its sockets together) is past its limit of `kind` messages ("frame":
        MONITOR_RATE_LIMIT_FRAMES, "camera": MONITOR_RATE_LIMIT_CAMERA) in the MONITOR_RATE_LIMIT_SECONDS
        window that its first such message opened.

        One atomic counter in the cache (cache_count): messages arriving at once on several sockets or
        processes are each counted, never read together and written back as one.
        """
        limit = monitor_settings["RATE_LIMIT_FRAMES" if kind == "frame" else "RATE_LIMIT_CAMERA"]
        try:
            count = await cache_count(f"monitor.rate.{kind}.{self.session_id}",
                                      timeout=monitor_settings["RATE_LIMIT_SECONDS"])
        except UNAVAILABLE as exc:
            # The cache restarting: one frame per socket still waits for the one before (the socket's own bound).
            logger.warning("rate limit of session %s not checked: %s", self.session_id, exc)
            return False
        return count > limit

    async def frame_received(self, content: dict):
        """Analyse now, or keep only the newest frame while one is in analysis (older ones are dropped)."""
        if await self._rate_limited():
            await self.error("rate_limited", "Too many frames: slow down.", timestamp=echo(content.get("timestamp")))
            return
        if self.worker is not None and not self.worker.done():
            if self.pending is not None:
                await self.send_json({"type": "dropped", "timestamp": echo(self.pending.get("timestamp")),
                                      "message": "A newer frame replaced this one."})
                await self._frame_unanalysed()
            self.pending = content
            return
        self.worker = asyncio.ensure_future(self._drain(content))

    async def _drain(self, content: dict | None):
        while content is not None:
            await self._process(content)
            content, self.pending = self.pending, None

    async def _process(self, content: dict):
        frame = {"session_id": self.session_id, "user_id": self.user.pk, "frame_id": str(uuid.uuid4()),
                 "image": content.get("image"), "timestamp": content.get("timestamp"), "received_at": time.time(),
                 "server_time": server_now()}
        try:
            if offloaded():
                outcome = await self._on_worker(frame)
            else:
                # This server made the frame's id just now: no stored row can have it (a worker's may be redelivered).
                analyse = SyncToAsync(services.session_frame_process, thread_sensitive=False,
                                      executor=analysis_pool().live)
                outcome = await analyse(**frame, separate_process=True, new_frame=True)
        except EngagementError as exc:
            if exc.code == services.FrameStale.code or exc.status_code >= 500:
                # The server's own refusal: the page did send a frame (the no_frames alert counts it).
                with contextlib.suppress(*UNAVAILABLE):
                    await presence.frame_refused_for_cause(session_id=self.session_id)
                await self._frame_unanalysed()
            if exc.code == services.FrameStale.code:
                await self.send_json({"type": "dropped", "timestamp": echo(content.get("timestamp")),
                                      "message": exc.message})
                return
            gone = isinstance(exc, services.SessionError) or getattr(exc, "session_gone", False)
            if gone and await self._session_ended():
                # The LMS ended the exam while this frame was analysed: the learner reads the end, not an error
                # (and the page does not try to reconnect to an exam that is over).
                await self.session_ended({})
                return
            await self.error(exc.code, exc.message, timestamp=echo(content.get("timestamp")))
            if gone:
                await self.close(code=4409)
            return
        except Exception:  # never let one frame kill the socket
            logger.exception("frame processing failed for session %s", self.session_id)
            with contextlib.suppress(*UNAVAILABLE):
                await presence.frame_refused_for_cause(session_id=self.session_id)
            await self._frame_unanalysed()
            await self.error("server_error", "The frame could not be processed.",
                             timestamp=echo(content.get("timestamp")))
            return
        await self._publish(outcome)

    async def _frame_unanalysed(self) -> None:
        """Count a frame the server did not analyse; UNKNOWN_AFTER in a row: tell the live view, once, that this
        session's row is not current (its next analysed frame's row makes it current again)."""
        self.unanalysed += 1
        self.unanalysed_since = self.unanalysed_since or server_now()
        if self.unanalysed < UNKNOWN_AFTER or self.behind_told:
            return
        since = self.unanalysed_since
        with contextlib.suppress(*UNAVAILABLE):  # a view that loads meanwhile reads it (selectors.sessions_live)
            await presence.cache_call(cache.set, selectors.behind_key(self.session_id), since,
                                      timeout=presence.HEARD_SECONDS)
        try:
            await broadcast.instructors_send({"type": "session.behind", "session": {
                "id": self.session_id, "course_id": self.session.course_id,
                "learner": self.user.get_username(), "since": since}})
            self.behind_told = True
        except UNAVAILABLE as exc:  # Redis restarting: told with the next unanalysed frame
            logger.warning("live view not told that session %s is behind: %s", self.session_id, exc)

    async def _session_ended(self) -> bool:
        """Whether this socket's session has ended (False when the database cannot say)."""
        try:
            return await database_sync_to_async(selectors.session_ended_for_learner)(
                session_id=self.session_id, user=self.user) is not None
        except UNAVAILABLE:
            return False

    async def _publish(self, outcome: dict):
        """A recorded frame's analysis and alert events to the learner, its row to the instructors."""
        self.unanalysed, self.unanalysed_since, self.behind_told = 0, None, False
        await self.send_json(outcome["analysis"])
        for event in outcome["events"]:
            await self.send_json(event)
        try:
            await broadcast.live_row_send(outcome["row"])
        except UNAVAILABLE as exc:  # the live view gets this session's next frame instead
            logger.warning("live view not told about session %s: %s", self.session_id, exc)

    async def _on_worker(self, frame: dict) -> dict:
        """Queue the frame for a Celery worker and wait for its outcome on this consumer's channel."""
        waiter = asyncio.get_running_loop().create_future()
        self.waiting[frame["frame_id"]] = waiter
        try:
            try:
                await SyncToAsync(task_send, thread_sensitive=False)("monitor.tasks.frame_process", **frame,
                                                                     reply_channel=self.channel_name)
            except Exception as exc:  # the broker is down or restarting: the page sends its next frame later
                logger.warning("could not queue a frame of session %s: %s", self.session_id, exc)
                raise services.ServiceUnavailable("The analysis queue is unavailable; the page tries again.") from exc
            # A worker answers within the frame's deadline (it drops a frame that waited longer) plus its analysis;
            # past that, the learner is told now rather than after the broker's redelivery delay. A late answer
            # still reaches the socket (frame_outcome).
            timeout = monitor_settings["MAX_FRAME_WAIT"] + ANSWER_GRACE_SECONDS
            message = await asyncio.wait_for(waiter, timeout=timeout)
        except asyncio.TimeoutError:
            raise EngineUnavailable("No analysis worker answered in time.") from None
        finally:
            self.waiting.pop(frame["frame_id"], None)
        if "error" in message:
            raise FrameFailed(message["error"])
        return message["outcome"]

    async def frame_outcome(self, event):
        """A worker's answer for one of our frames (a redelivered frame may answer twice: the first wins).

        An analysis that comes after the socket stopped waiting (a slow worker, a redelivered frame) is still
        sent: its row is stored, and the learner and the instructors see it.
        """
        frame_id = event["frame_id"]
        if frame_id in self.answered:
            return
        waiter = self.waiting.get(frame_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(event)
        elif "outcome" not in event:
            return
        else:
            await self._publish(event["outcome"])
        self.answered.append(frame_id)
        del self.answered[:-ANSWERS_KEPT]

    async def session_alert(self, event):
        """A presence alert opened or closed (the sweep or another socket of the session): tell the learner."""
        await self.send_json(event["event"])

    async def session_ended(self, event):
        """The session was ended (by the LMS): tell the learner and close."""
        await self.send_json({"type": "ended", "summary": event.get("summary")})
        await self.close(code=4000)


def login_of(scope) -> dict:
    """What logged a socket in, to check later that it still holds: the API token, or the browser's session (its
    key and the password-derived hash Django keeps in it)."""
    if scope.get("auth_token"):
        return {"token": scope["auth_token"]}
    session = scope.get("session")
    try:
        return {"session_key": session.session_key, "auth_hash": session.get(HASH_SESSION_KEY)} if session else {}
    except Exception:  # a session store that cannot be read: nothing to check later, auth decided at connect
        return {}


def login_valid(*, user: Any, login: dict) -> bool:
    """Whether the socket's login still holds: its token not revoked, its session not logged out and made before
    the account's last password change (as Django's session check does for pages)."""
    from importlib import import_module

    from django.utils.crypto import constant_time_compare

    if "token" in login:
        return selectors.api_token_valid(user=user, key=login["token"])
    if login.get("session_key"):
        store = import_module(settings.SESSION_ENGINE).SessionStore()
        if not store.exists(login["session_key"]):
            return False
        if login.get("auth_hash") and not constant_time_compare(login["auth_hash"], user.get_session_auth_hash()):
            return False
    return True


def watch_rights(*, user_id: int, login: dict | None = None) -> tuple[bool, set[str] | None]:
    """Whether the user may still watch (rights and login), and which courses (None: all), read afresh."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not selectors.user_can_watch(user=user) or not login_valid(user=user, login=login or {}):
        return False, set()
    return True, selectors.courses_watched(user=user)


class InstructorConsumer(_Consumer):
    """The instructors' live feed: one message per analysed frame of any session."""

    async def connect(self):
        """Staff with the watch permission only."""
        if (await database_sync_to_async(exam_login_of)(self.scope)
                or not await database_sync_to_async(selectors.user_can_watch)(user=self.scope.get("user"))):
            await self.close(code=4403)
            return
        self.courses = await database_sync_to_async(selectors.courses_watched)(user=self.scope["user"])
        self.login = await database_sync_to_async(login_of)(self.scope)
        self.checked_at = time.monotonic()
        presence_sweeper_ensure()  # after a restart, presence is checked as soon as someone watches
        await self.channel_layer.group_add(broadcast.INSTRUCTORS_CHANNEL_GROUP, self.channel_name)
        await self.accept()
        rows = await database_sync_to_async(selectors.sessions_live)(courses=self.courses, watcher=self.scope["user"])
        await self.send_json({"type": "sessions", "sessions": rows})

    async def disconnect(self, code):
        """Leave the instructors' group."""
        await self.channel_layer.group_discard(broadcast.INSTRUCTORS_CHANNEL_GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs):
        """Instructors only listen."""
        await self.send_json({"type": "error", "error": "read_only", "message": "This feed is read-only."})

    async def _still_allowed(self) -> bool:
        """Re-read the instructor's rights at most every MONITOR_RIGHTS_RECHECK_SECONDS: staff flag, courses, and
        the login (a password change, a logout or a revoked token ends the feed)."""
        if time.monotonic() - self.checked_at < monitor_settings["RIGHTS_RECHECK_SECONDS"]:
            return True
        self.checked_at = time.monotonic()
        allowed, self.courses = await database_sync_to_async(watch_rights)(user_id=self.scope["user"].pk,
                                                                           login=self.login)
        return allowed

    def _watches(self, session: dict) -> bool:
        """Whether the session is of a course this instructor watches (and not the instructor's own exam)."""
        own = session.get("learner") == self.scope["user"].get_username()
        return (self.courses is None or session["course_id"] in self.courses) and not own

    async def _forward(self, event: dict, message: dict) -> None:
        """Send `message` about the event's session if it is of a course this instructor (still) watches."""
        if not await self._still_allowed():
            await self.close(code=4403)
            return
        if self._watches(event["session"]):
            await self.send_json(message)

    async def session_update(self, event):
        """Forward a session's new state, if it is of a course this instructor (still) watches."""
        await self._forward(event, {"type": "session", "session": event["session"]})

    async def session_updates(self, event):
        """A server's batch of analysed frames' rows (broadcast.live_row_send): each one forwarded as session_update
        forwards it, so that the page reads one message a session."""
        if not await self._still_allowed():
            await self.close(code=4403)
            return
        for session in event["sessions"]:
            if self._watches(session):
                await self.send_json({"type": "session", "session": session})

    session_ended = session_update

    async def session_behind(self, event):
        """A session's frames go unanalysed (since `since`): its row's last values are not current."""
        await self._forward(event, {"type": "behind", "session_id": event["session"]["id"],
                                    "since": event["session"]["since"]})
