"""Reads for monitor: sessions a user may use or watch, open alerts, live rows, summaries."""
from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from engagement.api import EMOTIONS, EngagementLog

from .models import Alert, CourseAssignment, ExamSession, SessionStatus

INSTRUCTORS_GROUP = "Instructors"  # created by migration 0002
# A gap longer than this many frame intervals (camera off, connection lost) is not counted as time in a status.
MAX_GAP_INTERVALS = 3


def session_for_learner(*, session_id: Any, user: Any) -> ExamSession | None:
    """The session if it exists, belongs to this user and has not ended; else None."""
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        key = uuid.UUID(str(session_id))
    except ValueError:
        return None
    return (ExamSession.objects.filter(pk=key, learner=user).exclude(status=SessionStatus.ENDED)
            .select_related("learner").first())


def user_can_watch(*, user: Any) -> bool:
    """Instructors (staff with the watch permission) and superusers see live sessions."""
    return bool(getattr(user, "is_authenticated", False) and user.is_staff
                and user.has_perm("monitor.monitor_sessions"))


def alerts_open(*, session: ExamSession) -> list[Alert]:
    """The session's open alerts, oldest first."""
    return list(session.alerts.filter(closed_at__isnull=True).order_by("opened_at"))


def session_live_row(*, session: ExamSession, open_alerts: list[Alert] | None = None) -> dict:
    """What the instructor view shows for one session."""
    open_alerts = alerts_open(session=session) if open_alerts is None else open_alerts
    return {
        "id": str(session.id),
        "learner": session.learner.get_username(),
        "course_id": session.course_id,
        "exam_id": session.exam_id,
        "status": session.status,
        "engagement_status": session.last_status,
        "dominant_emotion": session.last_emotion,
        "smoothed_score": session.smoothed_score,
        "frames": session.frame_count,
        "last_frame_at": session.last_frame_at.isoformat() if session.last_frame_at else None,
        "alerts": [a.as_message() for a in open_alerts],
    }


def courses_watched(*, user: Any) -> set[str] | None:
    """The courses whose live sessions an instructor sees; None means all (superusers)."""
    if user.is_superuser:
        return None
    return set(CourseAssignment.objects.filter(instructor=user).values_list("course_id", flat=True))


def sessions_live(*, courses: set[str] | None = None) -> list[dict]:
    """Rows for the active and scheduled sessions (of `courses`, or of all courses when None)."""
    sessions = (ExamSession.objects.exclude(status=SessionStatus.ENDED).select_related("learner")
                .prefetch_related("alerts").order_by("created_at"))
    if courses is not None:
        sessions = sessions.filter(course_id__in=courses)
    return [session_live_row(session=s, open_alerts=[a for a in s.alerts.all() if a.closed_at is None])
            for s in sessions]


def session_logs(*, session: ExamSession) -> QuerySet[EngagementLog]:
    """The session's frames in time order."""
    return EngagementLog.objects.filter(session_key=str(session.id)).order_by("frame_time", "id")


def session_summary(*, session: ExamSession) -> dict:
    """Frames, average and smoothed score, seconds per status, emotion shares and alerts by kind."""
    logs = list(session_logs(session=session).values("frame_time", "success", "error", "engagement_score",
                                                      "engagement_status", "emotions", "face_count"))
    analysed = [log for log in logs if log["success"]]
    seconds: dict[str, float] = defaultdict(float)
    max_gap = MAX_GAP_INTERVALS * session.frame_interval
    for log, following in zip(logs, logs[1:]):
        gap = (following["frame_time"] - log["frame_time"]).total_seconds()
        state = log["engagement_status"] or log["error"] or "unknown"
        seconds[state] += max(0.0, min(gap, max_gap))
    if logs:  # the last frame stands for one interval
        last = logs[-1]
        seconds[last["engagement_status"] or last["error"] or "unknown"] += session.frame_interval
    shares = {e: round(sum(log["emotions"][e] for log in analysed) / len(analysed), 2) for e in EMOTIONS} \
        if analysed else {}
    return {
        "frames": len(logs),
        "analyzed_frames": len(analysed),
        "no_face_frames": sum(1 for log in logs if log["face_count"] == 0),
        "average_score": round(sum(log["engagement_score"] for log in analysed) / len(analysed), 2)
        if analysed else None,
        "smoothed_score": session.smoothed_score,
        "seconds_by_status": {k: round(v, 1) for k, v in sorted(seconds.items())},
        "emotion_shares": shares,
        "alerts_by_kind": dict(Counter(session.alerts.values_list("kind", flat=True))),
        "duration_seconds": round((logs[-1]["frame_time"] - logs[0]["frame_time"]).total_seconds(), 1)
        if logs else 0.0,
    }


def session_timeline(*, session: ExamSession) -> list[dict]:
    """Per frame: time, score, smoothed score (the rules' moving average), status and face count."""
    alpha = settings.MONITOR["EMA_ALPHA"]
    points, ema = [], None
    for log in session_logs(session=session).values("frame_time", "engagement_score", "engagement_status", "error",
                                                     "face_count"):
        score = log["engagement_score"]
        if score is not None:
            ema = score if ema is None else alpha * score + (1 - alpha) * ema
        points.append({"frame_time": log["frame_time"], "score": score,
                       "smoothed_score": None if ema is None else round(ema, 2),
                       "status": log["engagement_status"] or log["error"], "face_count": log["face_count"]})
    return points


def sessions_visible(*, user: Any) -> QuerySet[ExamSession]:
    """Sessions a user may read: all for the LMS account and superusers, assigned courses for instructors,
    their own for learners."""
    sessions = ExamSession.objects.select_related("learner")
    if user.is_superuser or user.has_perm("monitor.add_examsession"):
        return sessions
    if user_is_instructor(user=user):
        return sessions.filter(course_id__in=CourseAssignment.objects.filter(instructor=user).values("course_id"))
    return sessions.filter(learner=user)


def user_is_instructor(*, user: Any) -> bool:
    """Members of the Instructors group."""
    return user.is_authenticated and user.groups.filter(name=INSTRUCTORS_GROUP).exists()


def user_can_review(*, user: Any, session: ExamSession) -> bool:
    """The LMS account, superusers and the course's instructors review alerts; learners do not."""
    if user.is_superuser or user.has_perm("monitor.add_examsession"):
        return True
    return user_is_instructor(user=user) and CourseAssignment.objects.filter(
        instructor=user, course_id=session.course_id).exists()
