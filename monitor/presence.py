"""Presence services: the learner page's connection state, and the camera_blocked and disconnected alerts."""
from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any, Callable

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from . import alerts as rules
from . import selectors, slots, webhooks
from .models import Alert, AlertKind, Connection, ExamSession, WebhookEvent
from .conf import monitor_settings

# The presence alerts (kinds opened by the sweep, not by frames), as the registry describes them.
PRESENCE_KINDS = rules.PRESENCE_KINDS
CAMERA_PROBLEMS = rules.CAMERA_PROBLEMS
# When the page last sent anything is kept in the cache (shared by the processes when scaled) this long: longer
# than any silence the sweep waits for (MONITOR_PRESENCE_STALE_SECONDS, three frame intervals of at most 120 s).
HEARD_SECONDS = 3600


heard_key = selectors.heard_key


async def cache_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a call on Django's cache from the event loop, never on the one thread that database_sync_to_async calls
    (and Django's own async cache methods) queue on: a socket's message must not wait behind other sockets' rows.

    Inline for LocMemCache (a dict under a lock held for microseconds), in a worker thread otherwise (Redis).
    """
    if isinstance(caches["default"], LocMemCache):
        return fn(*args, **kwargs)
    return await sync_to_async(fn, thread_sensitive=False)(*args, **kwargs)


async def session_heard(*, session_id: Any, at: datetime | None = None) -> None:
    """Remember that the page sent a message (any: a refused frame, a camera report, a ping proves it is there)."""
    await cache_call(cache.set, heard_key(session_id), (at or timezone.now()).timestamp(), timeout=HEARD_SECONDS)


def refused_key(session_id: Any) -> str:
    """The cache key of when the server last refused a frame of the session for its own reasons."""
    return f"monitor.frame-refused.{session_id}"


async def frame_refused_for_cause(*, session_id: Any, at: datetime | None = None) -> None:
    """Remember that a frame came that the server could not analyse (busy, stale, failing): the page did send one,
    so it counts against no_frames as an analysed frame does (a refused bad image does not)."""
    await cache_call(cache.set, refused_key(session_id), (at or timezone.now()).timestamp(), timeout=HEARD_SECONDS)


def _refused_at(session_id: Any) -> datetime | None:
    refused = cache.get(refused_key(session_id))
    return datetime.fromtimestamp(refused, tz=dt_timezone.utc) if refused is not None else None


class PresenceEvent:
    """What a learner's page did, as the consumer sees it."""

    SOCKET_OPEN = "socket_open"  # a socket of the session connected
    SOCKET_CLOSED = "socket_closed"  # the session's last socket closed
    CAMERA_OK = "camera_ok"  # the page reports a working camera
    CAMERA_PROBLEM = "camera_problem"  # the page reports the camera denied, missing or stopped


# Per event: the new connection state (None: the one it had, if any) and the presence alerts it clears.
TRANSITIONS = {
    PresenceEvent.SOCKET_OPEN: (None, {AlertKind.DISCONNECTED}),
    PresenceEvent.SOCKET_CLOSED: (Connection.DISCONNECTED, set()),
    PresenceEvent.CAMERA_OK: (Connection.CONNECTED, {AlertKind.DISCONNECTED, AlertKind.CAMERA_BLOCKED}),
    PresenceEvent.CAMERA_PROBLEM: (Connection.CAMERA_BLOCKED, {AlertKind.DISCONNECTED}),
}


@dataclass
class PresenceChange:
    """A session whose presence changed: its live-view row and the alert messages to send."""

    session_id: str
    row: dict
    events: list[dict] = field(default_factory=list)


def _alert_event(alert: Alert) -> dict:
    return {"type": "alert", "event": "closed" if alert.closed_at else "opened", "alert": alert.as_message()}


def _locked(session_id: Any) -> ExamSession | None:
    # get(), not first(): no ORDER BY to compile for a primary key (every socket's open and close comes here).
    try:
        session = ExamSession.objects.select_for_update().select_related("learner").get(pk=session_id)
    except ExamSession.DoesNotExist:
        return None
    return None if session.has_ended else session


@dataclass(frozen=True)
class PresenceNote:
    """One thing a learner's page did (a PresenceEvent), to record: camera_problem with CAMERA_PROBLEM only."""

    session_id: Any
    event: str
    camera_problem: str = ""
    at: datetime | None = None


# Fields that a presence event may change on the session's row.
PRESENCE_FIELDS = ["connection", "connection_changed_at", "rule_state", "rejoin_count", "rejoined_at"]
BATCH_MAX = 50  # events per transaction at most: it holds the row locks of all their sessions (SQLite: the database)


def _event_check(event: str) -> None:
    if event not in TRANSITIONS:
        raise ValueError(f"unknown presence event {event!r}")


def _presence_apply(session: ExamSession, open_alerts: list[Alert], note: PresenceNote,
                    at: datetime) -> tuple[list[Alert], bool]:
    """Apply one event to a locked session in memory: the alerts it closes (saved here) and whether the row changed.

    `open_alerts` is the session's open alerts, oldest first; those closed are taken out of it.
    """
    new, clears = TRANSITIONS[note.event]
    if new is None:  # a socket opened: connected unless the page is there already (and maybe without a camera)
        new = session.connection if session.connection in (Connection.CONNECTED, Connection.CAMERA_BLOCKED) \
            else Connection.CONNECTED
    problem = note.camera_problem if note.event == PresenceEvent.CAMERA_PROBLEM else ""
    closed = [alert for alert in open_alerts if alert.kind in clears]
    for alert in closed:
        open_alerts.remove(alert)
        alert.closed_at = at
        alert.save(update_fields=["closed_at"])
        webhooks.event_emit(event=WebhookEvent.ALERT_CLOSED, data=webhooks.webhook_payload_alert(alert),
                            session=session)
    changed = new != session.connection or problem != session.rule_state.get("camera_problem", "")
    if not changed:
        return closed, False
    if note.event == PresenceEvent.SOCKET_OPEN and session.connection == Connection.DISCONNECTED:
        # The page came back after it was lost (a reload, a reconnection, a new browser): the live view says so.
        session.rejoin_count, session.rejoined_at = session.rejoin_count + 1, at
    if new != session.connection:
        session.connection, session.connection_changed_at = new, at
    session.rule_state = {**session.rule_state, "camera_problem": problem}
    return closed, True


@transaction.atomic
def sessions_presence_record(*, notes: list[PresenceNote]) -> list[PresenceChange | None]:
    """Record several pages' presence events in one transaction, in order (a session may have several); for each,
    its change, or None when nothing changed or the session ended.

    The sessions' rows are locked, and their open alerts read, once for all: a class that opens or leaves its exam at
    once costs a few queries per batch rather than per socket.
    """
    for note in notes:
        _event_check(note.event)
    to_pk = ExamSession._meta.pk.to_python
    keys = [to_pk(note.session_id) for note in notes]
    # Only the sessions' rows are locked (of=self: not their learners', which two sessions of one learner share),
    # in one order, the primary key's, so that two servers' batches never wait for each other in a cycle.
    sessions = {s.pk: s for s in ExamSession.objects.select_for_update(of=("self",)).select_related("learner")
                .filter(pk__in=set(keys)).order_by("pk")}
    open_alerts: dict[Any, list[Alert]] = {key: [] for key in sessions}
    for alert in Alert.objects.filter(session_id__in=list(sessions), closed_at__isnull=True).order_by("opened_at"):
        alert.session = sessions[alert.session_id]  # the webhooks read it: no query per alert
        open_alerts[alert.session_id].append(alert)
    changes: list[PresenceChange | None] = []
    changed: dict[Any, ExamSession] = {}
    for note, key in zip(notes, keys):
        session = sessions.get(key)
        if session is None or session.has_ended:
            changes.append(None)
            continue
        closed, row_changed = _presence_apply(session, open_alerts[key], note, note.at or timezone.now())
        if row_changed:
            changed[key] = session
        # The row as it is after this event (a later event of the same session in the batch gives its own).
        changes.append(PresenceChange(session_id=str(key), row=selectors.session_live_row(
            session=session, open_alerts=list(open_alerts[key])), events=[_alert_event(a) for a in closed])
            if row_changed or closed else None)
    for session in changed.values():
        session.save(update_fields=PRESENCE_FIELDS)
    return changes


def session_presence_record(*, session_id: Any, event: str, camera_problem: str = "",
                            at: datetime | None = None) -> PresenceChange | None:
    """Record what the learner's page did (a PresenceEvent); None when nothing changed or the session ended."""
    return sessions_presence_record(notes=[PresenceNote(session_id, event, camera_problem, at)])[0]


# A closed socket's record may wait this long to be stored with others: no page waits for it, and a class that
# leaves at once (while another sits its exam) then costs a few transactions rather than one per socket.
CLOSE_GATHER_SECONDS = 0.1


class _PresenceQueue:
    """The presence events of one event loop's sockets waiting to be stored, and the batch being stored."""

    def __init__(self) -> None:
        self.waiting: list[tuple[PresenceNote, asyncio.Future]] = []
        self.task: asyncio.Task | None = None
        self.timer: asyncio.TimerHandle | None = None  # a close gathering others before the next batch starts

    def start(self) -> None:
        """Store the waiting events now (after the batch being stored, if any)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(_presence_store(self))


_queues: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def presence_record(*, session_id: Any, event: str, camera_problem: str = "") -> PresenceChange | None:
    """session_presence_record from the event loop, in batches: the events that arrive while a batch is being stored
    go together into the next one (one transaction), so a burst of sockets opening or closing costs a few
    transactions. An open or a camera report starts the next batch at once (its page waits for it); a close waits
    up to CLOSE_GATHER_SECONDS for others. Raises what storing it raised (the database unreachable)."""
    _event_check(event)  # refused here, before it is queued: it cannot fail a batch
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = _PresenceQueue()
    done = loop.create_future()
    queue.waiting.append((PresenceNote(session_id, event, camera_problem, timezone.now()), done))
    if event != PresenceEvent.SOCKET_CLOSED:
        queue.start()
    elif queue.timer is None and (queue.task is None or queue.task.done()):
        queue.timer = loop.call_later(CLOSE_GATHER_SECONDS, queue.start)
    return await done


async def _page_back(note: PresenceNote) -> bool:
    """Whether a close's session has a socket again (a reload that reached another server while the close waited)."""
    try:
        return await slots.slots_count(session_id=str(note.session_id)) > 0
    except Exception:  # Redis restarting: store the close (the page's next frame or open corrects it)
        return False


async def _presence_store(queue: _PresenceQueue) -> None:
    batch: list[tuple[PresenceNote, asyncio.Future]] = []
    try:
        while queue.waiting:
            batch, queue.waiting = queue.waiting[:BATCH_MAX], queue.waiting[BATCH_MAX:]
            outcomes = await _batch_store([note for note, _ in batch])
            for (_, done), outcome in zip(batch, outcomes):
                if done.done():  # its socket has gone meanwhile
                    continue
                if isinstance(outcome, Exception):
                    done.set_exception(outcome)  # each socket handles it (the database restarting)
                else:
                    done.set_result(outcome)
            batch = []
    finally:  # cancelled (the server stopping): nobody is left waiting for ever
        for _, done in batch:
            if not done.done():
                done.cancel()


async def _batch_store(notes: list[PresenceNote]) -> list[PresenceChange | None | Exception]:
    """Store one batch: for each note its change (None: nothing changed), or the exception storing it raised."""
    outcomes: list[PresenceChange | None | Exception] = [None] * len(notes)
    closes = [i for i, note in enumerate(notes) if note.event == PresenceEvent.SOCKET_CLOSED]
    back = {i for i, came_back in zip(closes, await asyncio.gather(*(_page_back(notes[i]) for i in closes)))
            if came_back}  # the page is there again: its close changes nothing
    todo = [i for i in range(len(notes)) if i not in back]
    if not todo:
        return outcomes
    store = database_sync_to_async(sessions_presence_record)
    try:
        changes = await store(notes=[notes[i] for i in todo])
    except Exception as exc:
        if len(todo) == 1:
            changes = [exc]
        else:  # one event's failure (or a deadlock abort) must not fail the others: each alone, then
            changes = []
            for i in todo:
                try:
                    changes.extend(await store(notes=[notes[i]]))
                except Exception as alone:
                    changes.append(alone)
    for i, change in zip(todo, changes):
        outcomes[i] = change
    return outcomes


def presence_alert_message(*, kind: str, seconds: float, camera_problem: str = "") -> str:
    """The text of a presence alert."""
    return rules.kind_spec(kind).presence.message(seconds, camera_problem)


@transaction.atomic
def _presence_alert_open(*, session_id: Any, kind: str, connection: str, cutoff: datetime,
                         now: datetime) -> PresenceChange | None:
    session = _locked(session_id)
    # Re-checked under the lock: the page may have come back since the candidates were read.
    if session is None or session.connection != connection or session.connection_changed_at > cutoff:
        return None
    if session.alerts.filter(kind=kind, closed_at__isnull=True).exists():
        return None
    seconds = (now - session.connection_changed_at).total_seconds()
    alert = Alert.objects.create(session=session, kind=kind, severity=rules.kind_spec(kind).severity, opened_at=now,
                                 since=session.connection_changed_at,
                                 message=presence_alert_message(kind=kind, seconds=seconds,
                                                                camera_problem=session.rule_state.get("camera_problem", "")))
    webhooks.event_emit(event=WebhookEvent.ALERT_OPENED, data=webhooks.webhook_payload_alert(alert),
                        session=session)
    return PresenceChange(session_id=str(session.id), row=selectors.session_live_row(session=session),
                          events=[_alert_event(alert)])


@transaction.atomic
def _stale_mark(*, session_id: Any, cutoff: datetime, now: datetime) -> PresenceChange | None:
    session = _locked(session_id)
    if session is None or session.connection != Connection.CONNECTED:
        return None
    # Heard from by its last analysed frame, its last connection change, or its last message of any kind.
    last = max(t for t in (session.last_frame_at, session.connection_changed_at, selectors.session_heard_at(session_id=session.id))
               if t is not None)
    # A slow frame interval is not silence: allow three intervals at least.
    if last > min(cutoff, now - timedelta(seconds=3 * session.frame_interval)):
        return None
    # Disconnected since it was last heard from, so that the alert's delay counts from then.
    session.connection, session.connection_changed_at = Connection.DISCONNECTED, last
    session.save(update_fields=["connection", "connection_changed_at"])
    return PresenceChange(session_id=str(session.id), row=selectors.session_live_row(session=session))


def _frames_since(session: ExamSession) -> datetime | None:
    """When the page's frames were last seen (analysed, or refused by the server), or it connected if later."""
    seen = [t for t in (session.last_frame_at, session.connection_changed_at, _refused_at(session.pk)) if t]
    return max(seen) if seen else None


def _no_frames_delay(session: ExamSession) -> float:
    return max(monitor_settings["NO_FRAMES_SECONDS"], monitor_settings["NO_FRAMES_INTERVALS"] * session.frame_interval)


@transaction.atomic
def _no_frames_open(*, session_id: Any, kind: str, now: datetime) -> PresenceChange | None:
    session = _locked(session_id)
    # Re-checked under the lock: a frame may have come since the candidates were read.
    since = _frames_since(session) if session is not None else None
    if (session is None or session.connection != Connection.CONNECTED or since is None
            or (now - since).total_seconds() < _no_frames_delay(session)
            or session.alerts.filter(kind=kind, closed_at__isnull=True).exists()):
        return None
    alert = Alert.objects.create(session=session, kind=kind, severity=rules.kind_spec(kind).severity, opened_at=now,
                                 message=presence_alert_message(kind=kind, seconds=(now - since).total_seconds()))
    webhooks.event_emit(event=WebhookEvent.ALERT_OPENED, data=webhooks.webhook_payload_alert(alert),
                        session=session)
    return PresenceChange(session_id=str(session.id), row=selectors.session_live_row(session=session),
                          events=[_alert_event(alert)])


def presence_sweep(*, now: datetime | None = None) -> list[PresenceChange]:
    """Take silent sessions as disconnected, and open the presence alerts whose delay has passed."""
    now = now or timezone.now()
    t = monitor_settings
    live = ExamSession.objects.running()
    changes = []
    stale_cutoff = now - timedelta(seconds=t["PRESENCE_STALE_SECONDS"])
    silent = live.filter(connection=Connection.CONNECTED, connection_changed_at__lt=stale_cutoff).filter(
        Q(last_frame_at__isnull=True) | Q(last_frame_at__lt=stale_cutoff))
    for session_id in silent.values_list("pk", flat=True):
        changes.append(_stale_mark(session_id=session_id, cutoff=stale_cutoff, now=now))
    for spec in rules.KINDS:
        if spec.presence is None:
            continue
        kind, connection = spec.value, spec.presence.connection
        cutoff = now - timedelta(seconds=t[spec.presence.seconds_setting])
        if spec.presence.no_frames:
            # Candidates by the shortest delay; each session's own delay (its frame interval) is checked after.
            quiet = live.filter(connection=connection, connection_changed_at__lte=cutoff).filter(
                Q(last_frame_at__isnull=True) | Q(last_frame_at__lte=cutoff)).exclude(
                Exists(Alert.objects.filter(session=OuterRef("pk"), kind=kind, closed_at__isnull=True)))
            for session_id, off in quiet.values_list("pk", "alerts_off"):
                if kind not in off:  # not switched off for this exam
                    changes.append(_no_frames_open(session_id=session_id, kind=kind, now=now))
            continue
        due = live.filter(connection=connection, connection_changed_at__lte=cutoff).exclude(
            Exists(Alert.objects.filter(session=OuterRef("pk"), kind=kind, closed_at__isnull=True)))
        for session_id, off in due.values_list("pk", "alerts_off"):
            if kind not in off:
                changes.append(_presence_alert_open(session_id=session_id, kind=kind, connection=connection,
                                                    cutoff=cutoff, now=now))
    return [c for c in changes if c is not None]
