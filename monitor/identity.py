"""The identity check of exams: a reference face from the first good frames, compared on a cadence and after gaps.

Its scheduling state lives in the session's rule_state["identity"] (saved with every frame anyway); the
reference descriptors live in IdentityReference, which is deleted when the session ends. What a check found
goes to the alert rules as Observation.identity (True: the same person, False: another one, None: no check).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from engagement.api import faces_comparable, faces_distance

from .alerts import IDENTITY_MISSES_KEY
from .models import ExamSession, IdentityReference, SessionStatus
from .conf import monitor_settings

STATE_KEY = "identity"
REFERENCE, CHECK = "reference", "check"  # what a frame's descriptor is for
# How long a session known to be unchecked is taken as such without reading it again (a changed MONITOR default or
# session setting reaches running sessions within this many seconds).
OFF_CACHE_SECONDS = 300


NOT_COMPARABLE = ("The analysis engine cannot compare faces, so no identity check can be made: the bundled engine "
                  "can (ENGAGEMENT_ENGINE).")


def identity_checked(*, session: ExamSession) -> bool:
    """Whether this session's face is checked: its own identity_check, else MONITOR_IDENTITY_CHECK; never with an
    engine that cannot compare faces (nor does the learner's notice then say that it is compared)."""
    wanted = session.identity_check if session.identity_check is not None else monitor_settings["IDENTITY_CHECK"]
    return bool(wanted) and faces_comparable()


def identity_configuration_check() -> None:
    """Refuse to start when MONITOR_IDENTITY_CHECK turns the check on and the engine cannot compare faces (called
    when the app is ready): every session would go unchecked while the settings say otherwise."""
    if monitor_settings["IDENTITY_CHECK"] and not faces_comparable():
        raise ImproperlyConfigured(f"MONITOR_IDENTITY_CHECK is on. {NOT_COMPARABLE}")


def identity_check_validate(value: Any) -> None:
    """Refuse to turn the identity check on where the engine cannot compare faces (a ValidationError saying so)."""
    if value and not faces_comparable():
        raise ValidationError(NOT_COMPARABLE)


def _when(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def descriptor_wanted(*, session_id: Any, now: datetime) -> str | None:
    """What the next frame of the session needs a face descriptor for (read before the frame is analysed).

    REFERENCE while the reference is gathered (from frames with one face only); then CHECK on the cadence
    (IDENTITY_CHECK_SECONDS), sooner after an absence, a camera problem or a reconnection (at most every
    IDENTITY_RECHECK_SECONDS), and at once after a check that disagreed, so that a second check confirms or clears
    it; None when no descriptor is needed.
    """
    # Most sessions are not checked: remembering that spares every frame of theirs a query.
    off_key = f"monitor.identity_off.{session_id}"
    if cache.get(off_key):
        return None
    session = (ExamSession.objects.filter(pk=session_id)
               .only("identity_check", "rule_state", "connection_changed_at", "status").first())
    if session is None or session.has_ended or not identity_checked(session=session):
        cache.set(off_key, True, timeout=OFF_CACHE_SECONDS)
        return None
    t = monitor_settings
    state = session.rule_state.get(STATE_KEY) or {}
    checked_at = _when(state.get("checked_at"))
    if state.get("frames", 0) < t["IDENTITY_REFERENCE_FRAMES"] or checked_at is None:
        return REFERENCE
    if session.rule_state.get(IDENTITY_MISSES_KEY, 0) > 0:
        return CHECK
    since = (now - checked_at).total_seconds()
    if since >= t["IDENTITY_CHECK_SECONDS"]:
        return CHECK
    gap = state.get("due") or (session.connection_changed_at is not None and session.connection_changed_at > checked_at)
    return CHECK if gap and since >= t["IDENTITY_RECHECK_SECONDS"] else None


def identity_observe(*, session: ExamSession, result: dict, descriptor: Any, at: datetime) -> bool | None:
    """Gather the reference or check the face of one frame; updates session.rule_state (the caller saves it).

    Runs under the session row's lock (session_frame_record). Answers whether the face matched the reference,
    or None when this frame was no check (no descriptor, or the reference still being gathered).
    """
    if not identity_checked(session=session):
        return None
    t = monitor_settings
    state = dict(session.rule_state.get(STATE_KEY) or {})
    if result.get("face_count", 0) == 0:
        state["due"] = True  # whoever comes back into view is checked
    observed = None
    if descriptor is not None:
        vector = np.asarray(descriptor, np.float32)
        reference, _ = IdentityReference.objects.get_or_create(session=session)
        gathered = np.frombuffer(bytes(reference.descriptors), np.float32).reshape(-1, vector.size)
        if len(gathered) < t["IDENTITY_REFERENCE_FRAMES"]:
            if result.get("face_count") == 1:
                # Good frames only (one face, facing the camera); a face that disagrees with those gathered so far
                # starts the reference again, so that it is not a blend of two people.
                if len(gathered) and faces_distance(a=gathered.mean(axis=0), b=vector) >= t["IDENTITY_THRESHOLD"]:
                    gathered = gathered[:0]
                gathered = np.vstack([gathered, vector[None]])
                reference.descriptors = gathered.astype(np.float32).tobytes()
                reference.save(update_fields=["descriptors", "updated_at"])
                state["frames"] = len(gathered)
                if len(gathered) == t["IDENTITY_REFERENCE_FRAMES"]:
                    state.update(checked_at=at.isoformat(), due=False)
        else:
            distance = faces_distance(a=gathered.mean(axis=0), b=vector)
            observed = distance < t["IDENTITY_THRESHOLD"]
            state.update(checked_at=at.isoformat(), due=False, distance=round(distance, 2))
            reference.save(update_fields=["updated_at"])
    session.rule_state = {**session.rule_state, STATE_KEY: state}
    return observed


def identity_forget(*, session: ExamSession) -> int:
    """Delete the session's reference descriptors (the session ended); how many rows went."""
    return IdentityReference.objects.filter(session=session).delete()[0]


def identity_references_stale(*, now: datetime | None = None):
    """References to purge: of ended sessions (left by a failure), or unused for IDENTITY_REFERENCE_HOURS."""
    cutoff = (now or timezone.now()) - timedelta(hours=monitor_settings["IDENTITY_REFERENCE_HOURS"])
    return IdentityReference.objects.filter(Q(session__status=SessionStatus.ENDED) | Q(updated_at__lt=cutoff))
