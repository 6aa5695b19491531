"""Alert rules: which alerts should be open after a frame, given the session's running state."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils.dateparse import parse_datetime

from .models import AlertKind, Severity

SEVERITY = {
    AlertKind.ABSENT: Severity.WARNING,
    AlertKind.MULTIPLE_FACES: Severity.CRITICAL,
    AlertKind.LOW_ENGAGEMENT: Severity.WARNING,
    AlertKind.STRUGGLING: Severity.INFO,
    AlertKind.LOOKING_AWAY: Severity.WARNING,
    AlertKind.CAMERA_BLOCKED: Severity.CRITICAL,  # nothing can be monitored without the camera
    AlertKind.DISCONNECTED: Severity.WARNING,  # often a network cut, not a breach
}
STRUGGLING_STATUSES = ("confused", "frustrated")


@dataclass(frozen=True)
class Observation:
    """What one frame tells the rules."""

    at: datetime
    face_count: int
    score: float | None = None  # None when no face was analysed
    status: str | None = None
    head_pose: dict | None = None  # {"yaw", "pitch"} degrees; None when the detector gives no pose
    looking_away: bool | None = None
    # The engine's looking-away thresholds {"yaw", "pitch"}: an open alert closes only well inside them.
    pose_limits: dict | None = None


def thresholds() -> dict:
    """The MONITOR setting (thresholds are read per frame so that tests and admins can change them)."""
    return settings.MONITOR


def _held_for(state: dict, key: str, now: datetime, condition: bool) -> float:
    """Seconds the condition has held, tracking its start time in state[key]."""
    if not condition:
        state[key] = None
        return -1.0
    if not state.get(key):
        state[key] = now.isoformat()
    return (now - parse_datetime(state[key])).total_seconds()


def _looking_away(state: dict, observation: Observation, open_kinds: set[str], t: dict, wanted: dict) -> None:
    """Open after LOOKING_AWAY_SECONDS turned away; once open, close only when the head is back by a margin."""
    kind = AlertKind.LOOKING_AWAY
    if observation.head_pose is None or observation.looking_away is None:
        # No face or no pose says nothing about where the head points (absence has its own alert).
        if kind in open_kinds:
            wanted[kind] = ""
        return
    away = observation.looking_away
    if not away and kind in open_kinds and observation.pose_limits:
        margin = t["LOOKING_AWAY_MARGIN"]
        away = (abs(observation.head_pose["yaw"]) > observation.pose_limits["yaw"] - margin
                or abs(observation.head_pose["pitch"]) > observation.pose_limits["pitch"] - margin)
    away_for = _held_for(state, "away_since", observation.at, away)
    if away_for >= t["LOOKING_AWAY_SECONDS"] or (away and kind in open_kinds):
        pose = observation.head_pose
        wanted[kind] = (f"Looking away from the screen for {max(away_for, 0):.0f} s "
                        f"(head turned {pose['yaw']:+.0f} degrees, tilted {pose['pitch']:+.0f} degrees).")


def rules_evaluate(*, state: dict, observation: Observation, open_kinds: set[str]) -> tuple[dict, dict[str, str]]:
    """New rule state and the alerts that should be open now ({kind: message}), with hysteresis."""
    t = thresholds()
    state = dict(state)
    now = observation.at
    wanted: dict[str, str] = {}

    absent_for = _held_for(state, "absent_since", now, observation.face_count == 0)
    if absent_for >= t["ABSENT_SECONDS"]:
        wanted[AlertKind.ABSENT] = f"No face in view for {absent_for:.0f} s."

    state["multi_run"] = state.get("multi_run", 0) + 1 if observation.face_count >= 2 else 0
    if state["multi_run"] >= t["MULTIPLE_FACES_FRAMES"]:
        wanted[AlertKind.MULTIPLE_FACES] = f"{observation.face_count} faces in view."

    _looking_away(state, observation, open_kinds, t, wanted)

    if observation.score is None:
        # No analysed face says nothing about engagement: those alerts stay as they are.
        for kind in (AlertKind.LOW_ENGAGEMENT, AlertKind.STRUGGLING):
            if kind in open_kinds:
                wanted[kind] = ""
        return state, wanted

    ema = observation.score if state.get("ema") is None else (
        t["EMA_ALPHA"] * observation.score + (1 - t["EMA_ALPHA"]) * state["ema"])
    state["ema"] = round(ema, 2)
    limit = t["LOW_ENGAGEMENT_SCORE"]
    # Once open, the alert closes only when the score clears the threshold by a margin.
    low = ema < limit or (AlertKind.LOW_ENGAGEMENT in open_kinds and ema < limit + t["LOW_ENGAGEMENT_MARGIN"])
    low_for = _held_for(state, "low_since", now, low)
    if low_for >= t["LOW_ENGAGEMENT_SECONDS"] or (low and AlertKind.LOW_ENGAGEMENT in open_kinds):
        wanted[AlertKind.LOW_ENGAGEMENT] = f"Engagement has stayed low (smoothed score {ema:.0f})."

    struggling_for = _held_for(state, "struggling_since", now, observation.status in STRUGGLING_STATUSES)
    if struggling_for >= t["STRUGGLING_SECONDS"]:
        wanted[AlertKind.STRUGGLING] = f"The learner has looked {observation.status} for {struggling_for:.0f} s."
    return state, wanted
