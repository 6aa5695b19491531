"""Reads for monitor: sessions a user may use or watch, open alerts, live rows, summaries."""
from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django.core.cache import cache
from django.db.models import CharField, Count, Exists, Func, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat, Substr
from django.utils import timezone
from redis.exceptions import RedisError

from engagement.api import EMOTIONS, EngagementLog, age_gender_enabled

from . import rows
from .evidence import evidence_kept, evidence_viewable
from .models import Alert, CourseAssignment, EvidenceFrame, ExamSession, Tenant
from .conf import monitor_settings, retention_days

LOG_SOURCE = "monitor"  # EngagementLog.source of the rows recorded for exam sessions

INSTRUCTORS_AUTH_GROUP = "Instructors"  # the auth group, created by migration 0002
UNKNOWN_STATUS = "unknown"  # a stored frame with neither a status nor an error
NO_FRAMES = "no_frames"  # seconds_by_status's key for time without frames (the page or its camera gone)
# A gap longer than this many frame intervals (camera off, connection lost) is not counted as time in a status.
MAX_GAP_INTERVALS = 3

logger = logging.getLogger(__name__)


def _learner_sessions(*, session_id: Any, user: Any) -> QuerySet[ExamSession]:
    """The session of this id if it is this user's (none for anonymous users and malformed ids)."""
    if not getattr(user, "is_authenticated", False):
        return ExamSession.objects.none()
    try:
        key = uuid.UUID(str(session_id))
    except ValueError:
        return ExamSession.objects.none()
    return ExamSession.objects.filter(pk=key, learner=user).select_related("learner")


def session_for_learner(*, session_id: Any, user: Any) -> ExamSession | None:
    """The session if it exists, belongs to this user and has not ended; else None."""
    # get(), not first(): no ORDER BY to compile for a primary key (every socket's handshake comes here).
    try:
        return _learner_sessions(session_id=session_id, user=user).running().get()
    except ExamSession.DoesNotExist:
        return None


def notice_contents(*, session: ExamSession) -> dict:
    """What the learner's monitoring notice lists, from the settings in force: what each picture is analysed for,
    what is kept and how long, who sees it. Nothing in it is fixed text that a setting could make untrue."""
    age_gender = exam_age_gender_inferred()
    inferred = ["whether your face is in view, and how many faces are",
                "where you are facing (head turn and tilt), and whether you look away from the screen",
                "your expression, as shares of seven emotions (angry, disgust, fear, happy, sad, surprise, "
                "neutral), and from them an engagement score and status"]
    if age_gender:
        inferred.append("an estimate of your age and gender (used in no alert)")
    kept = ["for each picture: its time, the number of faces, head turn and tilt, the emotion shares, the "
            "engagement score and status" + (", the age and gender estimates" if age_gender else ""),
            "alerts, each with when it opened and closed (for example when nobody is in view)",
            "this session's summary: times in each status, average scores"]
    learner_sees = ("your own engagement status and scores" if monitor_settings["SHOW_LEARNER_ANALYSIS"]
                    else "whether the camera sees you, and your alerts")
    width, height = monitor_settings["EVIDENCE_SIZE"]
    pictures = (f"One small picture ({width}\u00d7{height}) of the moment a critical alert opens (for example a "
                "second face in view) is kept, encrypted, for your instructors of this course only. No other "
                "picture is stored." if evidence_kept(session=session) else "No picture is stored.")
    return {"interval": session.frame_interval, "inferred": inferred, "kept": kept, "pictures": pictures,
            "retention_days": retention_days(), "learner_sees": learner_sees}


def session_ended_for_learner(*, session_id: Any, user: Any) -> ExamSession | None:
    """The session if it exists, belongs to this user and has ended; else None."""
    return _learner_sessions(session_id=session_id, user=user).ended().first()


def exam_age_gender_inferred() -> bool:
    """Whether exam frames infer age and gender: only when MONITOR's AGE_GENDER asks and the engine allows it."""
    return bool(monitor_settings["AGE_GENDER"]) and age_gender_enabled()




def api_token_user(*, key: str) -> Any:
    """The active user of a valid API token (not expired, not revoked), or None."""
    from knox.auth import TokenAuthentication
    from rest_framework.exceptions import AuthenticationFailed

    try:
        user, _ = TokenAuthentication().authenticate_credentials(key.encode())
    except (AuthenticationFailed, UnicodeError):
        return None
    return user


def api_token_valid(*, user: Any, key: str) -> bool:
    """Whether an API token of the user is still valid (not expired, not revoked)."""
    found = api_token_user(key=key)
    return found is not None and found.pk == user.pk


def user_can_watch(*, user: Any) -> bool:
    """Instructors (staff with the watch permission) and superusers see live sessions."""
    return bool(getattr(user, "is_authenticated", False) and user.is_staff
                and user.has_perm("monitor.monitor_sessions"))


def user_can_control(*, user: Any, session: ExamSession) -> bool:
    """Who may pause or end a session's attempt on its platform: superusers and the course's instructors (staff
    assigned to it), never on their own exam. Everyone who watches a session live passes it."""
    return control_allowed(user=user, session=session, controlled=courses_controlled(user=user))


def control_allowed(*, user: Any, session: ExamSession, controlled: set[str] | None) -> bool:
    """user_can_control with the user's courses_controlled already read (a list of many sessions reads it once)."""
    return controlled is None or (session.course_id in controlled and session.learner_id != user.pk)


def courses_controlled(*, user: Any) -> set[str] | None:
    """The courses whose attempts (their own aside) the user may pause or end: those they are assigned to if staff;
    None means all (superusers)."""
    if getattr(user, "is_superuser", False):
        return None
    if not getattr(user, "is_authenticated", False) or not user.is_staff:
        return set()
    return set(CourseAssignment.objects.filter(instructor=user).values_list("course_id", flat=True))


def alerts_open(*, session: ExamSession) -> list[Alert]:
    """The session's open alerts, oldest first."""
    # Read on every frame: SQL built once (monitor.rows), not compiled by the ORM each time.
    alerts = rows.rows_where(model=Alert, where="{session} = %s AND {closed_at} IS NULL", order_by="{opened_at}, {id}",
                             params=[rows.db_value(model=ExamSession, field="pk", value=session.pk)], instance=session)
    for alert in alerts:
        alert.session = session  # as the related manager does: no query for alert.session
    return alerts


def session_live_row(*, session: ExamSession, open_alerts: list[Alert] | None = None) -> dict:
    """What the instructor view shows for one session."""
    open_alerts = alerts_open(session=session) if open_alerts is None else open_alerts
    return {
        "id": str(session.id),
        "learner": session.learner.get_username(),
        # LTI learners' usernames end in a hash: the live view shows their name when the LMS gave one.
        "learner_name": session.learner.get_full_name() or session.learner.get_username(),
        "course_id": session.course_id,
        "exam_id": session.exam_id,
        "status": session.status,
        "created_at": session.created_at.isoformat() if session.created_at else None,
        "engagement_status": session.last_status,
        "dominant_emotion": session.last_emotion,
        "smoothed_score": session.smoothed_score,
        "frames": session.frame_count,
        "last_frame_at": session.last_frame_at.isoformat() if session.last_frame_at else None,
        "connection": session.connection,
        "connection_changed_at": session.connection_changed_at.isoformat() if session.connection_changed_at else None,
        "rejoins": session.rejoin_count,
        "rejoined_at": session.rejoined_at.isoformat() if session.rejoined_at else None,
        "alerts": [a.as_message() for a in open_alerts],
        # Only the session's watchers get the row, and they all may control it (user_can_control).
        "control_url": session.control_url or None,
        # When the row was read: rows reach the live view by several paths (a server's batch of frames' rows,
        # presence at once, another server), and the page keeps a session's newest.
        "as_of": timezone.now().isoformat(),
    }


def courses_watched(*, user: Any) -> set[str] | None:
    """The courses whose live sessions an instructor sees; None means all (superusers)."""
    if user.is_superuser:
        return None
    return set(CourseAssignment.objects.filter(instructor=user).values_list("course_id", flat=True))


def courses_known() -> list[tuple[str, str]]:
    """Every course an instructor may be assigned to, as (course id, label), sorted by id: the courses of sessions
    and assignments, and those MONITOR_COURSE_SOURCES name (an LMS's courses that launched the tool)."""
    from django.utils.module_loading import import_string

    known = {course: "" for course in ExamSession.objects.values_list("course_id", flat=True).distinct()}
    known.update({course: "" for course in CourseAssignment.objects.values_list("course_id", flat=True).distinct()})
    for source in monitor_settings.get("COURSE_SOURCES", []):
        for course, label in import_string(source)():
            known[course] = label or known.get(course, "")
    return sorted(known.items())


def instructor_candidates() -> QuerySet:
    """The accounts a course may be assigned to: active staff (only staff open the live view and reports)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")


def live_empty_reason(*, user: Any, courses: set[str] | None, course: str | None) -> str:
    """Why the live view of this user (watching `courses`, None: all; narrowed to `course`) has no row."""
    if courses is not None and not courses:
        if course is not None and course not in courses_watched(user=user):
            return (f"You are not an instructor of the course {course}: ask an administrator to assign you to it "
                    "(Course assignments, in the admin), or open the tool from that course in your LMS.")
        return ("You are not assigned to any course yet, so there is nothing to watch. An administrator assigns "
                "courses under Course assignments in the admin; opening the tool as an instructor from a course in "
                "your LMS assigns you to that course.")
    where = f"the course {course}" if course else ("any course" if courses is None else "your courses")
    return (f"No exam session is in progress or waiting to start in {where}. A session appears here as soon as "
            "the LMS creates it.")


def sessions_live(*, courses: set[str] | None = None, watcher: Any = None) -> list[dict]:
    """Rows for the active and scheduled sessions (of `courses`, or of all courses when None), never the watcher's
    own (a learner who became an instructor of the course does not watch their own exam)."""
    sessions = (ExamSession.objects.running().select_related("learner")
                .prefetch_related("alerts").order_by("created_at"))
    if courses is not None:
        sessions = sessions.filter(course_id__in=courses)
    if watcher is not None:
        sessions = sessions.exclude(learner=watcher)
    rows = [session_live_row(session=s, open_alerts=[a for a in s.alerts.all() if a.closed_at is None])
            for s in sessions]
    # Sessions whose frames went unanalysed after their last analysed one: the view shows them as unknown, not as
    # their last (stale) values. One cache read for all rows; frames' own rows never carry this (per-frame cost).
    try:
        behind = cache.get_many([behind_key(row["id"]) for row in rows]) if rows else {}
    except (RedisError, OSError) as exc:  # the cache restarting: the rows as the database has them, not a 500
        logger.warning("the live rows' unanalysed marks were not read: %s", exc)
        behind = {}
    for row in rows:
        since = behind.get(behind_key(row["id"]))
        if since is not None and (row["last_frame_at"] is None or datetime.fromisoformat(since)
                                  > datetime.fromisoformat(row["last_frame_at"])):
            row["analysis_behind_since"] = since
    return rows


def exam_logs() -> QuerySet[EngagementLog]:
    """The log rows monitor recorded for exam sessions (never rows a REST client wrote under the same key)."""
    return EngagementLog.objects.filter(source=LOG_SOURCE)


def session_logs(*, session: ExamSession) -> QuerySet[EngagementLog]:
    """The session's frames in time order."""
    return exam_logs().filter(session_key=str(session.id)).order_by("frame_time", "id")


def session_summary(*, session: ExamSession) -> dict:
    """Frames, average and smoothed score, seconds per status, emotion shares and alerts by kind."""
    logs = list(session_logs(session=session).values("frame_time", "success", "error", "engagement_score",
                                                      "engagement_status", "emotions", "face_count",
                                                      "looking_away"))
    analysed = [log for log in logs if log["success"]]
    seconds = status_seconds(logs=logs, frame_interval=session.frame_interval, until=frames_until(session=session))
    shares = {e: round(sum(log["emotions"][e] for log in analysed) / len(analysed), 2) for e in EMOTIONS} \
        if analysed else {}
    return {
        "frames": len(logs),
        "analyzed_frames": len(analysed),
        "no_face_frames": sum(1 for log in logs if log["face_count"] == 0),
        "looking_away_frames": sum(1 for log in logs if log["looking_away"]),
        "average_score": round(sum(log["engagement_score"] for log in analysed) / len(analysed), 2)
        if analysed else None,
        "smoothed_score": session.smoothed_score,
        "seconds_by_status": {k: round(v, 1) for k, v in sorted(seconds.items())},
        "emotion_shares": shares,
        "alerts_by_kind": dict(Counter(session.alerts.values_list("kind", flat=True))),
        # The same intervals as the statuses', so that the report's duration is their sum.
        "duration_seconds": round(sum(round(v, 1) for v in seconds.values()), 1),
    }


def heard_key(session_id: Any) -> str:
    """The cache key of when the session's page last sent a message (of any kind: a frame, a ping...)."""
    return f"monitor.heard.{session_id}"


def behind_key(session_id: Any) -> str:
    """The cache key of since when the session's frames have gone unanalysed (dropped or failed several in a row)."""
    return f"monitor.behind.{session_id}"


def session_heard_at(*, session_id: Any) -> datetime | None:
    """When the session's page last sent a message (kept an hour), or None."""
    heard = cache.get(heard_key(session_id))
    return datetime.fromtimestamp(heard, tz=dt_timezone.utc) if heard is not None else None


def frames_until(*, session: ExamSession) -> datetime | None:
    """Until when the time after the session's last frame counts in its statuses: the page's last message (a
    ping, a refused frame), capped by the end or now; None when no page sent anything."""
    heard = session_heard_at(session_id=session.pk)
    return None if heard is None else min(heard, session.ended_at or timezone.now())


def status_seconds(*, logs: list[dict], frame_interval: float, until: datetime | None = None) -> dict[str, float]:
    """Seconds per status: each frame stands for the time until the next one (one interval for the last).

    A gap longer than MAX_GAP_INTERVALS intervals (the learner gone, the network down) counts that much for the
    frame's status and the rest as "no_frames", so that the statuses add up to the session's duration. With
    `until`, the time from the last frame to then is such a gap too: a page that stays without sending frames
    keeps counting (as "no_frames"), its status time does not stop at its last frame.
    """
    seconds: dict[str, float] = defaultdict(float)
    max_gap = MAX_GAP_INTERVALS * frame_interval
    for log, following in zip(logs, logs[1:]):
        gap = max(0.0, (following["frame_time"] - log["frame_time"]).total_seconds())
        seconds[log["engagement_status"] or log["error"] or UNKNOWN_STATUS] += min(gap, max_gap)
        if gap > max_gap:
            seconds[NO_FRAMES] += gap - max_gap
    if logs:
        last = logs[-1]
        tail = 0.0 if until is None else max(0.0, (until - last["frame_time"]).total_seconds())
        seconds[last["engagement_status"] or last["error"] or UNKNOWN_STATUS] += max(frame_interval,
                                                                                 min(tail, max_gap))
        if tail > max_gap:
            seconds[NO_FRAMES] += tail - max_gap
    return seconds


def session_timeline(*, session: ExamSession) -> list[dict]:
    """Per frame: time, score, smoothed score (the rules' moving average), status and face count."""
    alpha = monitor_settings["EMA_ALPHA"]
    points, ema = [], None
    for log in session_logs(session=session).values("frame_time", "engagement_score", "engagement_status", "error",
                                                     "face_count"):
        score = log["engagement_score"]
        if score is not None:
            # Rounded at each step, as the alert rules keep it, so the last point equals session.smoothed_score.
            ema = score if ema is None else round(alpha * score + (1 - alpha) * ema, 2)
        points.append({"frame_time": log["frame_time"], "score": score, "smoothed_score": ema,
                       "status": log["engagement_status"] or log["error"], "face_count": log["face_count"]})
    return points


def user_is_lms(*, user: Any) -> bool:
    """An LMS service account: a user with the permission to add exam sessions (superusers too)."""
    return user.has_perm("monitor.add_examsession")


def sessions_visible(*, user: Any) -> QuerySet[ExamSession]:
    """Sessions a user may read: all for superusers, its tenant's for an LMS account, assigned courses for
    instructors, their own for learners."""
    sessions = ExamSession.objects.select_related("learner")
    if user.is_superuser:
        return sessions
    if user_is_lms(user=user):
        return sessions.filter(tenant__account=user)
    if user_is_instructor(user=user):
        # Their courses' sessions, and their own as any learner reads them (reviews of those are refused).
        return sessions.filter(Q(course_id__in=CourseAssignment.objects.filter(instructor=user).values("course_id"))
                               | Q(learner=user))
    return sessions.filter(learner=user)


def learner_of_account(*, user: Any, learner_id: int):
    """A learner the account may export or erase: any account for superusers, its tenant's learners for an LMS
    account; None otherwise (or when there is no such account)."""
    from django.contrib.auth import get_user_model

    learners = get_user_model().objects.filter(pk=learner_id)
    if not user.is_superuser:
        learners = learners.filter(learner_tenancy__tenant__account=user)
    return learners.first()


def user_is_instructor(*, user: Any) -> bool:
    """Members of the Instructors group."""
    return user.is_authenticated and user.groups.filter(name=INSTRUCTORS_AUTH_GROUP).exists()


def user_can_review(*, user: Any, session: ExamSession) -> bool:
    """Superusers, the session's LMS account and the course's instructors review alerts; learners do not."""
    if user.is_superuser:
        return True
    if user_is_lms(user=user):
        return session.tenant_id is not None and Tenant.objects.filter(pk=session.tenant_id, account=user).exists()
    # Never their own exam: a learner of the course may become its instructor (LTI roles change) meanwhile.
    return user_is_instructor(user=user) and session.learner_id != user.pk and CourseAssignment.objects.filter(
        instructor=user, course_id=session.course_id).exists()


def session_report(*, session: ExamSession) -> dict:
    """Everything the report shows: summary (live while running), timeline, status and emotion shares, alerts."""
    summary = session.summary if session.summary is not None else session_summary(session=session)
    seconds = summary.get("seconds_by_status", {})
    total = sum(seconds.values())
    return {
        "session": session,
        "summary": summary,
        "timeline": session_timeline(session=session),
        "status_shares": {k: round(v / total, 4) for k, v in seconds.items()} if total else {},
        "emotion_shares": summary.get("emotion_shares", {}),
        "alerts": list(session.alerts.select_related("reviewed_by").order_by("opened_at")),
    }


def report_alert_rows(*, report: dict, user: Any) -> list[dict]:
    """The report's alerts for review, oldest first: each with its minute on the timeline (since the first frame),
    how long it lasted, and whether it has an evidence picture this user may see."""
    alerts = report["alerts"]
    start = report["timeline"][0]["frame_time"] if report["timeline"] else None
    with_picture = set(EvidenceFrame.objects.filter(alert__in=alerts).values_list("alert_id", flat=True))
    return [{"alert": alert,
             "minute": round((alert.opened_at - start).total_seconds() / 60, 1) if start else None,
             "seconds": round((alert.closed_at - alert.opened_at).total_seconds()) if alert.closed_at else None,
             "evidence": alert.pk in with_picture and evidence_viewable(user=user, alert=alert)}
            for alert in alerts]


# --- Review in Django admin: what a reviewer sees of alerts and logs, list filters, the CSV export. ---


class _UUIDText(Func):
    """A UUID column as str(uuid) text, whether the database stores it natively or as 32 hex digits."""

    arity = 1
    output_field = CharField()

    def as_sql(self, compiler, connection, **extra_context):
        (column,) = self.get_source_expressions()
        text = Cast(column, CharField())
        if not connection.features.has_native_uuid_field:
            # SQLite, MySQL and Oracle store uuid.hex; EngagementLog.session_key holds str(uuid), with dashes.
            text = Concat(Substr(text, 1, 8), Value("-"), Substr(text, 9, 4), Value("-"), Substr(text, 13, 4),
                          Value("-"), Substr(text, 17, 4), Value("-"), Substr(text, 21), output_field=CharField())
        return compiler.compile(text)


def _session_keys(sessions: QuerySet[ExamSession]) -> QuerySet:
    """The sessions' ids as EngagementLog session keys, as a subquery (no list of ids is loaded)."""
    return sessions.order_by().annotate(key=_UUIDText("id")).values("key")


def alerts_visible(*, user: Any, alerts: QuerySet[Alert] | None = None) -> QuerySet[Alert]:
    """The alerts (of `alerts`, default all) of the sessions the user may read."""
    alerts = Alert.objects.all() if alerts is None else alerts
    if user.is_superuser:
        return alerts
    return alerts.filter(session__in=sessions_visible(user=user).values("pk"))


def alerts_reviewable(*, user: Any, alerts: QuerySet[Alert] | None = None) -> QuerySet[Alert]:
    """The alerts (of `alerts`, default all) the user may review: user_can_review's rule, as a query."""
    alerts = Alert.objects.all() if alerts is None else alerts
    if user.is_superuser:
        return alerts
    if user_is_lms(user=user):
        return alerts.filter(session__tenant__account=user)
    if not user_is_instructor(user=user):
        return alerts.none()
    return alerts.filter(session__course_id__in=CourseAssignment.objects.filter(instructor=user).values("course_id")
                         ).exclude(session__learner=user)


def engagement_logs_visible(*, user: Any, logs: QuerySet[EngagementLog] | None = None) -> QuerySet[EngagementLog]:
    """The engagement logs (of `logs`, default all) a user may read: all for superusers, else their sessions'."""
    logs = EngagementLog.objects.all() if logs is None else logs
    if user.is_superuser:
        return logs  # including logs of frames sent outside exam sessions
    return logs.filter(source=LOG_SOURCE, session_key__in=_session_keys(sessions_visible(user=user)))


def sessions_filter(*, sessions: QuerySet[ExamSession], unreviewed_alerts: bool | None = None,
                    low_score: bool | None = None) -> QuerySet[ExamSession]:
    """Sessions with (True) or without (False) unreviewed alerts, or a low average score; None leaves as is."""
    if unreviewed_alerts is not None:
        unreviewed = Exists(Alert.objects.filter(session=OuterRef("pk"), reviewed_at__isnull=True))
        sessions = sessions.filter(unreviewed) if unreviewed_alerts else sessions.filter(~unreviewed)
    if low_score is not None:
        # "Not low" is the complement, so sessions with no analysed frame (no average yet) fall under it.
        low = {"average_score__lt": monitor_settings["LOW_ENGAGEMENT_SCORE"]}
        sessions = sessions.filter(**low) if low_score else sessions.exclude(**low)
    return sessions


def sessions_annotate_unreviewed(*, sessions: QuerySet[ExamSession]) -> QuerySet[ExamSession]:
    """The sessions with `unreviewed_alert_count`: how many of their alerts nobody has reviewed."""
    # A subquery rather than a join with GROUP BY, so that the query can still be filtered, counted and deleted.
    count = (Alert.objects.filter(session=OuterRef("pk"), reviewed_at__isnull=True).order_by().values("session")
             .annotate(n=Count("pk")).values("n"))
    return sessions.annotate(unreviewed_alert_count=Coalesce(Subquery(count), 0))


def engagement_log_rows(*, sessions: QuerySet[ExamSession]) -> Iterator[list]:
    """The sessions' log rows for a CSV export, header first, read from the database in chunks."""
    learners = {str(pk): name for pk, name in sessions.order_by().values_list("id", "learner__username")}
    yield ["session_id", "learner", "frame_time", "success", "error", "dominant_emotion", "engagement_score",
           "engagement_status", "face_count", "head_yaw", "head_pitch", "looking_away", *EMOTIONS, "age", "gender",
           "processing_ms"]
    logs = (exam_logs().filter(session_key__in=_session_keys(sessions))
            .order_by("session_key", "frame_time", "id")
            .values_list("session_key", "frame_time", "success", "error", "dominant_emotion", "engagement_score",
                         "engagement_status", "face_count", "head_yaw", "head_pitch", "looking_away", "emotions", "age",
                         "gender", "processing_ms"))
    for (key, frame_time, success, error, dominant, score, status, faces, yaw, pitch, away, emotions, age, gender,
         processing_ms) in logs.iterator(chunk_size=2000):
        emotions = emotions or {}
        away = "" if away is None else ("true" if away else "false")
        yield [key, learners.get(key, ""), frame_time.isoformat(), "true" if success else "false", error, dominant,
               score, status, faces, yaw, pitch, away, *(emotions.get(e, "") for e in EMOTIONS), age, gender,
               processing_ms]
