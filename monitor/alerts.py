"""The alert kinds' registry: each kind's label, severity, colour and rule in one entry, and the rules' evaluation.

Adding a kind is one `AlertKindSpec` in `KINDS` (with its rule) and a migration for the new choice.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.dateparse import parse_datetime

from engagement.api import EngagementStatus

from .choices import Connection, Severity
from .conf import monitor_settings

KEEP = ""  # a rule's answer that keeps an open alert as it is (its message unchanged)
STRUGGLING_STATUSES = (EngagementStatus.CONFUSED, EngagementStatus.FRUSTRATED)
# What the exam page may report about its camera, and how an alert words it.
CAMERA_PROBLEMS = {
    "denied": "camera access was denied",
    "missing": "no camera was found",
    "in_use": "the camera is used by another application",
    "stopped": "the camera stopped",
    "unsupported": "the browser cannot use a camera",
    "error": "the camera could not be started",
}


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
    # The identity check on this frame (monitor.identity): True the face matched the learner's from the start of
    # the exam, False it did not, None no check.
    identity: bool | None = None
    # Whether that check (or a frame for the reference) was due and the face too dark to describe: True; a face was
    # described: False; None neither.
    identity_dark: bool | None = None


@dataclass
class RuleInput:
    """What a frame rule reads; `state` is the session's rule state, which the rule may update."""

    observation: Observation
    state: dict
    thresholds: dict
    is_open: bool  # whether the rule's alert is open now
    ema: float | None = None  # the smoothed score after this frame (unrounded); None without an analysed face


@dataclass(frozen=True)
class PresenceRule:
    """A kind opened by the presence sweep: the connection state, the setting giving its delay, its message.

    With `no_frames`, the delay counts not from the connection's change but from the last frame the server
    analysed or refused for its own reasons (busy, failing), and is at least NO_FRAMES_INTERVALS frame intervals:
    a page that is there but sends nothing to analyse (pings only) is not monitored.
    """

    connection: str
    seconds_setting: str
    message: Callable[[float, str], str]  # (seconds in that state, the camera problem reported) -> text
    no_frames: bool = False


@dataclass(frozen=True)
class AlertKindSpec:
    """One alert kind and everything the project knows about it."""

    name: str  # the AlertKind member's name
    value: str  # stored in Alert.kind, sent on sockets and webhooks
    label: str  # the words people read: admin, live view, report
    severity: str
    colour: str  # its band in the report's timeline
    # Per frame: a message while the alert should be open (KEEP: keep it as it is), None to close it.
    rule: Callable[[RuleInput], str | None] | None = None
    needs_score: bool = False  # a frame without an analysed face leaves the alert as it is
    presence: PresenceRule | None = None  # opened by the presence sweep rather than by frames
    # The rule state's key holding when the condition began (the learner left, looked away...): the alert's
    # `since`, which the live view's timer counts from, rather than from the moment the delay ran out.
    since_key: str | None = None


def thresholds() -> dict:
    """The MONITOR setting (thresholds are read per frame so that tests and admins can change them)."""
    return monitor_settings


def _held_for(state: dict, key: str, now: datetime, condition: bool) -> float:
    """Seconds the condition has held, tracking its start time in state[key]."""
    if not condition:
        state[key] = None
        return -1.0
    if not state.get(key):
        state[key] = now.isoformat()
    return (now - parse_datetime(state[key])).total_seconds()


def _absent(r: RuleInput) -> str | None:
    """Open after ABSENT_SECONDS without a face."""
    absent_for = _held_for(r.state, "absent_since", r.observation.at, r.observation.face_count == 0)
    return f"No face in view for {absent_for:.0f} s." if absent_for >= r.thresholds["ABSENT_SECONDS"] else None


def _multiple_faces(r: RuleInput) -> str | None:
    """Open after MULTIPLE_FACES_FRAMES consecutive frames with two faces or more."""
    faces = r.observation.face_count
    r.state["multi_run"] = r.state.get("multi_run", 0) + 1 if faces >= 2 else 0
    _held_for(r.state, "multi_since", r.observation.at, faces >= 2)
    return f"{faces} faces in view." if r.state["multi_run"] >= r.thresholds["MULTIPLE_FACES_FRAMES"] else None


def _looking_away(r: RuleInput) -> str | None:
    """Open after LOOKING_AWAY_SECONDS turned away; once open, close only when the head is back by a margin."""
    observation, t = r.observation, r.thresholds
    if observation.head_pose is None or observation.looking_away is None:
        # No face or no pose says nothing about where the head points (absence has its own alert).
        return KEEP if r.is_open else None
    away = observation.looking_away
    if not away and r.is_open and observation.pose_limits:
        margin = t["LOOKING_AWAY_MARGIN"]
        away = (abs(observation.head_pose["yaw"]) > observation.pose_limits["yaw"] - margin
                or abs(observation.head_pose["pitch"]) > observation.pose_limits["pitch"] - margin)
    away_for = _held_for(r.state, "away_since", observation.at, away)
    if away_for >= t["LOOKING_AWAY_SECONDS"] or (away and r.is_open):
        pose = observation.head_pose
        return (f"Looking away from the screen for {max(away_for, 0):.0f} s "
                f"(head turned {pose['yaw']:+.0f} degrees, tilted {pose['pitch']:+.0f} degrees).")
    return None


def _low_engagement(r: RuleInput) -> str | None:
    """Open when the smoothed score stays low for LOW_ENGAGEMENT_SECONDS; close only above it by a margin."""
    t, ema = r.thresholds, r.ema
    limit = t["LOW_ENGAGEMENT_SCORE"]
    low = ema < limit or (r.is_open and ema < limit + t["LOW_ENGAGEMENT_MARGIN"])
    low_for = _held_for(r.state, "low_since", r.observation.at, low)
    if low_for >= t["LOW_ENGAGEMENT_SECONDS"] or (low and r.is_open):
        return f"Engagement has stayed low (smoothed score {ema:.0f})."
    return None


def _struggling(r: RuleInput) -> str | None:
    """Open after STRUGGLING_SECONDS looking confused or frustrated; close at once."""
    status = r.observation.status
    struggling_for = _held_for(r.state, "struggling_since", r.observation.at, status in STRUGGLING_STATUSES)
    if struggling_for >= r.thresholds["STRUGGLING_SECONDS"]:
        return f"The learner has looked {status} for {struggling_for:.0f} s."
    return None


IDENTITY_MISSES_KEY = "identity_misses"  # disagreeing identity checks in a row, in the rule state


def _identity_changed(r: RuleInput) -> str | None:
    """Open after IDENTITY_MISSES checks in a row found another face than the reference; close at one that matches."""
    same = r.observation.identity
    if same is None:  # no check on this frame: the last checks still stand
        return KEEP if r.is_open else None
    r.state[IDENTITY_MISSES_KEY] = 0 if same else r.state.get(IDENTITY_MISSES_KEY, 0) + 1
    misses = r.state[IDENTITY_MISSES_KEY]
    if misses >= r.thresholds["IDENTITY_MISSES"]:
        return (f"The face in view has not matched the learner's face at the start of the exam for {misses} "
                "checks in a row.")
    return None


def _identity_unchecked(r: RuleInput) -> str | None:
    """Open when the identity check has waited IDENTITY_DARK_SECONDS on a face too dark to compare; close at the next
    face described (a check made, or a frame taken for the reference)."""
    dark, key = r.observation.identity_dark, "identity_dark_since"
    if dark is False:
        r.state[key] = None
        return None
    if dark and not r.state.get(key):
        r.state[key] = r.observation.at.isoformat()
    if not r.state.get(key):
        return None
    # Frames without a face or with the head turned (dark None) leave it waiting: the time runs on.
    dark_for = (r.observation.at - parse_datetime(r.state[key])).total_seconds()
    if dark_for >= r.thresholds["IDENTITY_DARK_SECONDS"]:
        return (f"The face has been too dark to check who is in front of the camera for {dark_for:.0f} s: "
                "more light on the face lets the identity check go on.")
    return None


def _camera_blocked_message(seconds: float, camera_problem: str) -> str:
    why = CAMERA_PROBLEMS.get(camera_problem, CAMERA_PROBLEMS["error"])
    return f"No camera picture for {seconds:.0f} s: {why}."


def _disconnected_message(seconds: float, camera_problem: str) -> str:
    return f"The exam page has been disconnected for {seconds:.0f} s."


def _no_frames_message(seconds: float, camera_problem: str) -> str:
    return f"The exam page is connected but has sent no camera picture for {seconds:.0f} s."


# The registry. Frame rules run in this order on every frame.
KINDS: tuple[AlertKindSpec, ...] = (
    AlertKindSpec("ABSENT", "absent", "Absent", Severity.WARNING, "#7f7f7f", rule=_absent,
                  since_key="absent_since"),
    AlertKindSpec("MULTIPLE_FACES", "multiple_faces", "Several faces", Severity.CRITICAL, "#d62728",
                  rule=_multiple_faces, since_key="multi_since"),
    AlertKindSpec("LOOKING_AWAY", "looking_away", "Looking away", Severity.WARNING, "#17becf", rule=_looking_away,
                  since_key="away_since"),
    AlertKindSpec("LOW_ENGAGEMENT", "low_engagement", "Low engagement", Severity.WARNING, "#ff7f0e",
                  rule=_low_engagement, needs_score=True, since_key="low_since"),
    AlertKindSpec("STRUGGLING", "struggling", "Struggling", Severity.INFO, "#9467bd", rule=_struggling,
                  needs_score=True, since_key="struggling_since"),
    # Critical: someone else may be sitting the exam (sessions with the identity check only).
    AlertKindSpec("IDENTITY_CHANGED", "identity_changed", "Identity changed", Severity.CRITICAL, "#e377c2",
                  rule=_identity_changed),
    # A warning: nothing is wrong but the light, and yet nobody's identity is being checked.
    AlertKindSpec("IDENTITY_UNCHECKED", "identity_unchecked", "Identity unchecked", Severity.WARNING, "#637939",
                  rule=_identity_unchecked, since_key="identity_dark_since"),
    # Critical: nothing can be monitored without the camera.
    AlertKindSpec("CAMERA_BLOCKED", "camera_blocked", "Camera blocked", Severity.CRITICAL, "#8c564b",
                  presence=PresenceRule(Connection.CAMERA_BLOCKED, "CAMERA_BLOCKED_SECONDS", _camera_blocked_message)),
    # A warning: often a network cut, not a breach.
    AlertKindSpec("DISCONNECTED", "disconnected", "Disconnected", Severity.WARNING, "#bcbd22",
                  presence=PresenceRule(Connection.DISCONNECTED, "DISCONNECTED_SECONDS", _disconnected_message)),
    # A warning, as a disconnection is: the page is there (it answers pings) but nothing is being monitored.
    AlertKindSpec("NO_FRAMES", "no_frames", "No frames", Severity.WARNING, "#393b79",
                  presence=PresenceRule(Connection.CONNECTED, "NO_FRAMES_SECONDS", _no_frames_message,
                                        no_frames=True)),
)
_BY_VALUE = {spec.value: spec for spec in KINDS}

AlertKind = models.TextChoices("AlertKind", [(spec.name, (spec.value, spec.label)) for spec in KINDS])
AlertKind.__doc__ = "What an alert is about (built from KINDS, where each kind is described)."
PRESENCE_KINDS = frozenset(spec.value for spec in KINDS if spec.presence)


def alert_kinds_validate(value) -> None:
    """A list of registered alert kinds' values (ExamSession.alerts_off), else a ValidationError naming the bad one."""
    if not isinstance(value, list):
        raise ValidationError("Give a list of alert kinds.")
    for kind in value:
        if kind not in _BY_VALUE:
            raise ValidationError(f"Unknown alert kind {str(kind)[:40]!r}: the kinds are {', '.join(_BY_VALUE)}.")


def kind_spec(kind: str) -> AlertKindSpec:
    """The registry entry of an alert kind (KeyError for a kind that is not registered)."""
    return _BY_VALUE[kind]


def condition_since(*, kind: str, state: dict) -> datetime | None:
    """When the condition of a frame rule's alert began, from the rule state (None: not tracked)."""
    key = kind_spec(kind).since_key
    return parse_datetime(state[key]) if key and state.get(key) else None


def rules_evaluate(*, state: dict, observation: Observation, open_kinds: set[str]) -> tuple[dict, dict[str, str]]:
    """New rule state and the alerts that should be open now ({kind: message}), with hysteresis."""
    t = thresholds()
    state = dict(state)
    ema = None
    if observation.score is not None:
        # The smoothed score: what low engagement is judged on, and what the live view shows.
        ema = observation.score if state.get("ema") is None else (
            t["EMA_ALPHA"] * observation.score + (1 - t["EMA_ALPHA"]) * state["ema"])
        state["ema"] = round(ema, 2)
    wanted: dict[str, str] = {}
    for spec in KINDS:
        if spec.rule is None:
            continue
        is_open = spec.value in open_kinds
        if spec.needs_score and observation.score is None:
            # No analysed face says nothing about engagement: those alerts stay as they are.
            message = KEEP if is_open else None
        else:
            message = spec.rule(RuleInput(observation=observation, state=state, thresholds=t, is_open=is_open,
                                           ema=ema))
        if message is not None:
            wanted[spec.value] = message
    return state, wanted
