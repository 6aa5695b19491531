"""Writes for monitor: create, join and end sessions; record an analysed frame with its alerts."""
from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import DatabaseError, close_old_connections, transaction
from django.utils import timezone

from engagement.api import (NOT_DESCRIBED_DARK, EngagementError, EngagementLog, Frame, InvalidInput,
                            engagement_log_build, frame_analyze_described, head_pose_limits, timestamp_parse)

from . import alerts as rules
from . import broadcast, evidence, identity, rows, selectors, webhooks
from .models import (NOTICE_TEXT_MAX_LENGTH, Alert, Connection, ExamSession, SessionStatus, Tenant, TenantLearner,
                     WebhookEvent)
from .conf import monitor_settings

logger = logging.getLogger(__name__)

JOIN_SALT = "monitor.join"
# The Django session key that confines a login made by an exam link to that exam (see ExamLoginMiddleware).
EXAM_LOGIN_KEY = "monitor.exam_login"
# The Django session key that records a learner's agreement to the monitoring notice of an exam (given on another
# page, such as LTI's proctoring check): the exam page then starts the camera without asking again.
EXAM_CONSENT_KEY = "monitor.consented.{session_id}"
LOG_SOURCE = selectors.LOG_SOURCE


class FrameStale(EngagementError):
    """A frame that waited for analysis longer than MONITOR_MAX_FRAME_WAIT: answered as dropped, not analysed."""

    status_code = 409
    code = "stale"


class ServiceUnavailable(EngagementError):
    """The database failed while a frame was recorded: nothing was stored, and the page sends frames again."""

    status_code = 503
    code = "service_unavailable"


class SessionError(EngagementError):
    """A session that cannot be used for this (ended, unknown, not yours)."""

    status_code = 409
    code = "session_unavailable"


def learner_resolve(*, learner: Any):
    """A user from a user, a user id (int) or a username (a digit string falls back to the id)."""
    if isinstance(learner, get_user_model()):
        return learner
    if isinstance(learner, bool) or not isinstance(learner, (int, str)) or learner == "":
        raise InvalidInput("'learner' must be a username or a user id.", code="invalid_learner")
    # What no username or id can be is refused before the database sees it (PostgreSQL rejects NUL characters
    # and ids past 64 bits with an error of its own).
    if isinstance(learner, str) and ("\x00" in learner or len(learner) > 150):
        raise InvalidInput("'learner' must be a username or a user id.", code="invalid_learner")
    users = get_user_model().objects
    valid_id = isinstance(learner, int) and 0 < learner < 2 ** 63
    if isinstance(learner, int):
        user = users.filter(pk=learner).first() if valid_id else None
    else:
        user = users.filter(username=learner).first()
    # isascii: "²" and other Unicode digits pass isdigit() but not int().
    if user is None and isinstance(learner, str) and learner.isascii() and learner.isdigit() and len(learner) < 19:
        user = users.filter(pk=int(learner)).first()
    if user is None:
        raise InvalidInput(f"No learner {learner!r}.", code="unknown_learner")
    return user


def instructor_only(*, user: Any) -> bool:
    """Whether a staff account's only powers are the Instructors group's (watch and review assigned courses)."""
    allowed = {f"{app_label}.{codename}" for app_label, codename in INSTRUCTOR_PERMISSIONS}
    return user.is_staff and not user.is_superuser and user.get_all_permissions() <= allowed


def learner_check(*, user: Any, requested_by: Any = None, allow_instructor: bool = False) -> None:
    """Refuse accounts that must never be logged in by an exam link: staff, superusers, LMS accounts, oneself.

    `allow_instructor` lets through staff whose only powers are the Instructors group's, for logins that the
    learner's own platform vouches for (LTI): a teaching assistant in one course still sits exams in another.
    """
    name = user.get_username()
    if requested_by is not None and user.pk == getattr(requested_by, "pk", None):
        raise InvalidInput("An exam session cannot be created for the account that creates it.", code="not_a_learner")
    privileged = user.is_staff or user.is_superuser or user.has_perm("monitor.add_examsession")
    if privileged and not (allow_instructor and instructor_only(user=user)):
        raise InvalidInput(f"{name!r} is a staff, administrator or LMS account: exam sessions are for learner "
                           "accounts only.", code="not_a_learner")
    if not user.is_active:
        raise InvalidInput(f"{name!r} is not an active account.", code="not_a_learner")


def tenant_of_account(*, account: Any) -> Tenant | None:
    """The tenant of an LMS service account (made at its first use); None for a superuser, who acts for none."""
    if account.is_superuser:
        return None
    return Tenant.objects.get_or_create(account=account,
                                        defaults={"name": f"LMS account {account.get_username()}"[:200]})[0]


def tenant_of_platform(*, issuer: str) -> Tenant:
    """The tenant of an LTI platform (by its issuer), made at its first launch."""
    return Tenant.objects.get_or_create(lti_issuer=issuer, defaults={"name": f"LTI platform {issuer}"[:200]})[0]


def learner_tenant_claim(*, user: Any, tenant: Tenant, name: Any = None) -> None:
    """Make the learner the tenant's if no tenant has them; another tenant's learner is answered as unknown.

    Unknown rather than forbidden, so that one tenant cannot learn which accounts another one has.
    """
    held = TenantLearner.objects.get_or_create(learner=user, defaults={"tenant": tenant})[0]
    if held.tenant_id != tenant.pk:
        raise InvalidInput(f"No learner {name if name is not None else user.get_username()!r}.",
                           code="unknown_learner")


def learner_tenant_set(*, user: Any, tenant: Tenant) -> None:
    """Make the learner the tenant's whoever had them: for accounts the tenant made itself (LTI launches)."""
    TenantLearner.objects.update_or_create(learner=user, defaults={"tenant": tenant})


def learner_tenant(*, user: Any) -> Tenant | None:
    """The tenant a learner belongs to, if any."""
    held = TenantLearner.objects.select_related("tenant").filter(learner=user).first()
    return held.tenant if held else None


def session_create(*, learner: Any, course_id: str, exam_id: str, attempt_id: str = "",
                   frame_interval: float | None = None, requested_by: Any = None,
                   allow_instructor: bool = False, tenant: Tenant | None = None,
                   identity_check: bool | None = None, evidence: bool | None = None,
                   alerts_off: list[str] | None = None, notice_text: str = "") -> ExamSession:
    """A scheduled session for a learner account (never staff, superusers, LMS accounts or the requester).

    With a `tenant`, the learner must be that tenant's (or nobody's yet: then they become its). `identity_check`
    turns the identity check on or off for this session (None: MONITOR_IDENTITY_CHECK decides). `alerts_off`: alert
    kinds never raised in it; `notice_text`: the course's words in the learner's monitoring notice.
    """
    alerts_off = list(dict.fromkeys(alerts_off or []))
    try:
        rules.alert_kinds_validate(alerts_off)
    except ValidationError as exc:
        raise InvalidInput(exc.messages[0], code="unknown_alert_kind") from exc
    if len(notice_text or "") > NOTICE_TEXT_MAX_LENGTH:
        raise InvalidInput(f"The notice text has {len(notice_text)} characters; at most {NOTICE_TEXT_MAX_LENGTH} "
                           "are allowed.", code="notice_text_too_long")
    user = learner_resolve(learner=learner)
    learner_check(user=user, requested_by=requested_by, allow_instructor=allow_instructor)
    if tenant is not None:
        learner_tenant_claim(user=user, tenant=tenant, name=learner if isinstance(learner, (int, str)) else None)
    session = ExamSession.objects.create(
        learner=user, tenant=tenant, course_id=course_id, exam_id=exam_id, attempt_id=attempt_id or "",
        frame_interval=frame_interval or monitor_settings["FRAME_INTERVAL"], identity_check=identity_check,
        evidence=evidence, alerts_off=alerts_off, notice_text=notice_text or "",
    )
    # The instructors' live view shows the new session at once, not at its first frame.
    transaction.on_commit(lambda: _instructors_tell(session=session))
    return session


def session_control_url_set(*, session: ExamSession, url: str) -> None:
    """Where an integration lets the course's instructors pause or end this attempt on its platform (lti's ACS page):
    the live view and the report link to it, for those who may control the session (`user_can_control`)."""
    session.control_url = url
    ExamSession.objects.filter(pk=session.pk).update(control_url=url)
    transaction.on_commit(lambda: _instructors_tell(session=session))


def _instructors_tell(*, session: ExamSession) -> None:
    row = selectors.session_live_row(session=session, open_alerts=[])
    try:
        broadcast.instructors_send_sync({"type": "session.update", "session": row})
    except Exception:  # the live view is a convenience: a channel layer that is down must not fail the creation
        logger.exception("could not tell the live view about session %s", session.id)


# What the Instructors group may do (its data migration, 0002, made it with these).
INSTRUCTOR_PERMISSIONS = [("monitor", "view_examsession"), ("monitor", "monitor_sessions"), ("monitor", "view_alert"),
                          ("monitor", "change_alert"), ("monitor", "view_courseassignment"),
                          ("engagement", "view_engagementlog")]


def instructors_group():
    """The Instructors group, made again with its permissions if it was deleted."""
    from django.contrib.auth.models import Group, Permission

    group, created = Group.objects.get_or_create(name=selectors.INSTRUCTORS_AUTH_GROUP)
    if created:
        for app_label, codename in INSTRUCTOR_PERMISSIONS:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group


def exam_login(*, request: Any, session: ExamSession, consented: bool = False) -> None:
    """Log the session's learner in, confined to this exam until the browser closes or the exam ends."""
    from django.contrib.auth import login

    login(request, session.learner, backend="django.contrib.auth.backends.ModelBackend")
    request.session[EXAM_LOGIN_KEY] = str(session.id)
    request.session.set_expiry(0)
    if consented:
        exam_consent_record(request=request, session=session)


def exam_consent_record(*, request: Any, session: ExamSession) -> None:
    """Remember that the learner agreed to this exam's monitoring notice (the exam page then starts at once)."""
    request.session[EXAM_CONSENT_KEY.format(session_id=session.id)] = True


def session_join_token(*, session: ExamSession) -> str:
    """A signed, short-lived token for the session's one-time exam link."""
    data = {"session": str(session.id)}
    if session.join_nonce:
        data["n"] = session.join_nonce
    return signing.dumps(data, salt=JOIN_SALT, compress=True)


@transaction.atomic
def session_join_link_renew(*, session: ExamSession) -> str:
    """A fresh one-time exam link for a session that has not ended (the learner lost the browser).

    The links issued before it stop working, so only the newest link can open the exam.
    """
    session = ExamSession.objects.select_for_update().get(pk=session.pk)
    if session.has_ended:
        raise SessionError("This exam session has ended: no new exam link can be issued.", code="session_ended")
    session.join_nonce, session.join_token_used_at = secrets.token_hex(8), None
    session.save(update_fields=["join_nonce", "join_token_used_at"])
    return session_join_token(session=session)


# What a learner whose link no longer opens the exam can do (the used-link page and the exam page say it).
REJOIN_HELP = ("open the exam again from your course page: you come back to this same exam session. If that does not "
               "work, ask your instructor for a new exam link.")


def _join_token_read(token: str) -> tuple[str, str]:
    try:
        data = signing.loads(token, salt=JOIN_SALT, max_age=monitor_settings["JOIN_LINK_MAX_AGE"])
    except signing.SignatureExpired:
        raise SessionError("This exam link has expired.", code="link_expired") from None
    except signing.BadSignature:
        raise SessionError("This exam link is not valid.", code="link_invalid") from None
    return data["session"], data.get("n", "")


def _link_used(session_id: str) -> SessionError:
    error = SessionError("This exam link was already used, was replaced by a newer one, or the exam has ended.",
                         code="link_used")
    error.session_id = session_id  # the page lets the session's learner, still logged in here, go back to it
    return error


def session_join_peek(*, token: str) -> ExamSession:
    """The session of a valid, unused, unexpired exam link, without using the link (to ask for confirmation)."""
    session_id, nonce = _join_token_read(token)
    session = (ExamSession.objects.running().select_related("learner")
               .filter(pk=session_id, join_token_used_at__isnull=True, join_nonce=nonce).first())
    if session is None:
        raise _link_used(session_id)
    return session


def session_join(*, token: str) -> ExamSession:
    """The session of a valid, unused, unexpired exam link; marks the link used."""
    session_id, nonce = _join_token_read(token)
    # Single use: only the first request flips join_token_used_at from NULL.
    used = ExamSession.objects.running().filter(pk=session_id, join_token_used_at__isnull=True,
                                                join_nonce=nonce).update(join_token_used_at=timezone.now())
    if not used:
        raise _link_used(session_id)
    session = ExamSession.objects.select_related("learner").get(pk=session_id)
    # Re-checked here too: an account may have become staff since the session was created.
    try:
        learner_check(user=session.learner)
    except InvalidInput:
        raise SessionError("This exam link cannot log in this account.", code="link_invalid") from None
    return session


@dataclass
class FrameRecord:
    """What recording a frame produced: the log row, the open alerts and the alerts opened or closed."""

    log_id: int
    session: ExamSession
    open_alerts: list[Alert]
    opened: list[Alert] = field(default_factory=list)
    closed: list[Alert] = field(default_factory=list)


# The ExamSession columns that recording a frame may change.
FRAME_FIELDS = ["rule_state", "smoothed_score", "frame_count", "last_frame_at", "last_status", "last_emotion",
                "analyzed_count", "average_score", "status", "started_at", "connection", "connection_changed_at"]


@transaction.atomic
def session_frame_record(*, session_id: Any, user: Any, result: dict, frame_id: Any = None,
                         received_at: datetime | None = None, descriptor: Any = None,
                         too_dark: bool = False, new_frame: bool = False) -> FrameRecord:
    """Store an analysed frame's log row, update the rules' state and open or close alerts, atomically.

    `user` is the session's learner or its id. A frame_id already stored (a redelivered frame) changes
    nothing and answers the stored row. The rules, alert times and the row's frame_time use `received_at`,
    the server's receive time (the socket always gives it); the client's timestamp is kept as client_time.
    Without `received_at` (imports, tests) the frame's own timestamp stands for it. `descriptor` is the frame's
    face descriptor when the identity check asked for one (never stored with the frame); `too_dark` says that it
    asked for one and the face was too dark to describe. `new_frame`: the caller knows that no row has this
    frame_id (a socket's frame analysed in its own server, never redelivered), which spares the lookup.
    """
    # The row lock serialises frames of one session across processes, so the rules see them in turn. This path's
    # statements are built once (monitor.rows): compiling them through the ORM cost more than running them.
    session = rows.row_get(model=ExamSession, pk=session_id, lock=True)
    if session is None or session.has_ended or session.learner_id != getattr(user, "pk", user):
        raise SessionError("This session has ended or is not yours.")
    learner = rows.row_get(model=get_user_model(), pk=session.learner_id, using=session._state.db)
    if learner is None:  # an account deleted takes its sessions with it: only a race with that deletion gets here
        raise SessionError("This session has ended or is not yours.")
    session.learner = learner
    if frame_id is not None and not new_frame:
        stored = rows.rows_where(model=EngagementLog, where="{frame_id} = %s",
                                 params=[rows.db_value(model=EngagementLog, field="frame_id", value=frame_id)])
        if stored:
            return FrameRecord(log_id=stored[0].pk, session=session, open_alerts=selectors.alerts_open(session=session))
    client_time = timestamp_parse(value=result["timestamp"])
    frame_time = received_at or client_time
    log = engagement_log_build(result=result, frame_time=frame_time, session_id=str(session.id),
                               user=session.learner, frame_id=frame_id, source=LOG_SOURCE,
                               client_time=client_time if received_at else None)
    rows.row_insert(obj=log)

    open_alerts = {a.kind: a for a in selectors.alerts_open(session=session)}
    same_person = identity.identity_observe(session=session, result=result, descriptor=descriptor, at=frame_time)
    observation = rules.Observation(at=frame_time, face_count=result["face_count"],
                                    score=result.get("engagement_score"), status=result.get("engagement_status"),
                                    head_pose=result.get("head_pose"), looking_away=result.get("looking_away"),
                                    pose_limits=head_pose_limits(), identity=same_person,
                                    identity_dark=True if too_dark else (False if descriptor is not None else None))
    state, wanted = rules.rules_evaluate(state=session.rule_state, observation=observation,
                                         open_kinds=set(open_alerts))
    for kind in session.alerts_off:  # switched off for this exam: never raised (one open before closes now)
        wanted.pop(kind, None)
    if session.connection_changed_at and frame_time < session.connection_changed_at:
        # A frame received before the page's last presence change (a worker's late answer) says nothing about
        # presence now: the presence alerts stay as they are.
        wanted.update({kind: rules.KEEP for kind in rules.PRESENCE_KINDS & set(open_alerts)})
    elif session.connection != Connection.CONNECTED:
        # A frame proves the page is there with a working camera; the presence alerts close below.
        session.connection, session.connection_changed_at = Connection.CONNECTED, frame_time
    opened, closed = [], []
    for kind, alert in open_alerts.items():
        if kind in wanted:
            alert.frame_count += 1
            rows.row_update(obj=alert, fields=["frame_count"])
        else:
            alert.closed_at = frame_time
            rows.row_update(obj=alert, fields=["closed_at"])
            closed.append(alert)
    for kind, message in wanted.items():
        if kind not in open_alerts:
            opened.append(Alert.objects.create(session=session, kind=kind, severity=rules.kind_spec(kind).severity,
                                               message=message, opened_at=frame_time,
                                               since=rules.condition_since(kind=kind, state=state) or frame_time))

    session.rule_state = state
    session.smoothed_score = state.get("ema")
    session.frame_count += 1
    session.last_frame_at = frame_time
    if result["success"]:
        session.last_status, session.last_emotion = result["engagement_status"], result["dominant_emotion"]
        session.analyzed_count += 1
        previous = session.average_score or 0.0
        session.average_score = round(previous + (result["engagement_score"] - previous) / session.analyzed_count, 2)
    else:
        session.last_status, session.last_emotion = result["error"], ""
    if session.status == SessionStatus.SCHEDULED:
        session.status, session.started_at = SessionStatus.ACTIVE, frame_time
    # Only what a frame changes: the row's other columns (summary, names, ids) are not written again per frame.
    rows.row_update(obj=session, fields=FRAME_FIELDS)
    for alert in opened:
        webhooks.event_emit(event=WebhookEvent.ALERT_OPENED, data=webhooks.webhook_payload_alert(alert),
                            session=session)
    for alert in closed:
        webhooks.event_emit(event=WebhookEvent.ALERT_CLOSED, data=webhooks.webhook_payload_alert(alert),
                            session=session)
    still_open = [a for a in open_alerts.values() if a not in closed] + opened
    return FrameRecord(log_id=log.pk, session=session, open_alerts=sorted(still_open, key=lambda a: a.opened_at),
                       opened=opened, closed=closed)


@transaction.atomic
def session_end(*, session: ExamSession) -> ExamSession:
    """End a session: close its open alerts, compute and store its summary. Ending twice is harmless."""
    session = ExamSession.objects.select_for_update().select_related("learner").get(pk=session.pk)
    if session.has_ended:
        return session
    now = timezone.now()
    still_open = selectors.alerts_open(session=session)
    for alert in still_open:
        alert.closed_at = now
        alert.save(update_fields=["closed_at"])
        webhooks.event_emit(event=WebhookEvent.ALERT_CLOSED, data=webhooks.webhook_payload_alert(alert),
                            session=session)
    session.status, session.ended_at = SessionStatus.ENDED, now
    session.summary = selectors.session_summary(session=session)
    session.save()
    identity.identity_forget(session=session)  # the reference face is kept only while the session runs
    webhooks.event_emit(event=WebhookEvent.SESSION_ENDED, session=session, data={
        "session": {"id": str(session.id), "learner": session.learner.get_username(), "course_id": session.course_id,
                    "exam_id": session.exam_id, "attempt_id": session.attempt_id,
                    "started_at": session.started_at, "ended_at": session.ended_at},
        "summary": session.summary})
    return session


def session_end_announced(*, session: ExamSession) -> ExamSession:
    """End a session (session_end) and tell its learner's socket and the instructors' live view."""
    session = session_end(session=session)
    row = selectors.session_live_row(session=session, open_alerts=[])
    broadcast.session_send_sync(session.id, {"type": "session.ended", "summary": session.summary})
    broadcast.instructors_send_sync({"type": "session.ended", "session": row})
    return session


def server_time_check(*, timestamp: Any, server_time: datetime) -> None:
    """Refuse a client timestamp further than MONITOR_MAX_CLOCK_SKEW seconds from the server's receive time."""
    if timestamp in (None, ""):
        return
    skew = abs((timestamp_parse(value=timestamp) - server_time).total_seconds())
    if skew > monitor_settings["MAX_CLOCK_SKEW"]:
        raise InvalidInput(f"'timestamp' is {skew:.0f} s away from the server's clock (at most "
                           f"{monitor_settings['MAX_CLOCK_SKEW']} s): check the device's clock.",
                           code="timestamp_skew")


def session_frame_process(*, session_id: str, user_id: int, frame_id: str, image: Any, timestamp: Any,
                          received_at: float | None = None, server_time: str | None = None,
                          separate_process: bool = False, new_frame: bool = False) -> dict:
    """Analyse and record one socket frame; the outcome the sockets publish (JSON-ready). Idempotent per frame_id.

    Runs in a thread of the server (embedded) or in a Celery worker (scaled); raises EngagementError, FrameStale
    when the frame waited (since `received_at`, epoch seconds) longer than MONITOR_MAX_FRAME_WAIT.
    `server_time` (ISO 8601) is when the server received the frame: the rules run on it, never on the client's
    clock. `separate_process`: decode and analyse in one of the server's analysis processes, when it has any.
    `new_frame`: as for session_frame_record (the socket's own frame in its own server: True).
    """
    # Under overload a queue of old frames would make every answer late; skipping them lets the newest through.
    if received_at is not None and time.time() - received_at > monitor_settings["MAX_FRAME_WAIT"]:
        raise FrameStale("The server was too busy to analyse this frame in time.")
    close_old_connections()  # outside a request: drop connections a database restart broke
    try:
        received = timestamp_parse(value=server_time) if server_time else timezone.now()
        server_time_check(timestamp=timestamp, server_time=received)
        wanted = identity.descriptor_wanted(session_id=session_id, now=received)
        # Age and gender play no part in any alert: an exam infers them only when the deployment asks for it.
        result, descriptor, not_described = frame_analyze_described(
            frame=Frame(image=image, timestamp=timestamp or received), age_gender=selectors.exam_age_gender_inferred(),
            describe=wanted is not None, one_face_only=wanted == identity.REFERENCE, account=user_id,
            min_brightness=monitor_settings["IDENTITY_MIN_BRIGHTNESS"], separate_process=separate_process)
        record = session_frame_record(session_id=session_id, user=user_id, result=result, frame_id=frame_id,
                                      received_at=received, descriptor=descriptor,
                                      too_dark=not_described == NOT_DESCRIBED_DARK, new_frame=new_frame)
        if record.opened:
            try:
                evidence.evidence_record(session=record.session, opened=record.opened, image=image)
            except Exception:  # the frame and its alerts are recorded: a picture that fails must not undo them
                logger.exception("could not keep the evidence picture of session %s", session_id)
        return {
            # log_id: the frame's row (its `id` in the session's logs API). frame_id is the old name of the same
            # value, still sent for clients written against it; inside the server frame_id is the frame's UUID.
            "analysis": {"type": "analysis", **result, "log_id": record.log_id, "frame_id": record.log_id,
                         "smoothed_score": record.session.smoothed_score,
                         "alerts": [a.as_message() for a in record.open_alerts]},
            "events": [{"type": "alert", "event": "closed" if a.closed_at else "opened", "alert": a.as_message()}
                       for a in record.opened + record.closed],
            "row": selectors.session_live_row(session=record.session, open_alerts=record.open_alerts),
        }
    except DatabaseError as exc:
        # Answered at once (the page retries), never left to the socket's timeout; nothing was stored.
        logger.warning("database error on a frame of session %s: %s", session_id, exc)
        raise ServiceUnavailable("The service cannot store frames just now; the page tries again.") from exc
    finally:
        close_old_connections()


DEMO_USERS = (
    # username, password, is_staff/superuser: made by the demo_setup command when DEMO=1
    ("learner", "learner-demo-password", False),
    ("admin", "admin-demo-password", True),
)


def demo_accounts_disable() -> list[str]:
    """Outside DEMO mode: the demo accounts that still have their published passwords are deactivated and lose
    them (their printed tokens stop working); the names of those disabled."""
    disabled = []
    for username, password, _ in DEMO_USERS:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is not None and user.check_password(password):
            user.set_unusable_password()
            user.is_active = False
            user.save(update_fields=["password", "is_active"])
            logger.warning("demo account %r had its published password with DEMO=0: disabled", username)
            disabled.append(username)
    return disabled


def api_token_issue(*, user: Any) -> str:
    """A new API token for the user: only its hash is stored, so this is the one time it is shown; it expires
    after API_TOKEN_TTL_DAYS."""
    from knox.models import AuthToken

    return AuthToken.objects.create(user=user)[1]


def api_tokens_revoke_on_change(sender: Any, instance: Any, **kwargs) -> None:
    """Before an account is saved: a new password or a deactivation revokes its API tokens (pre_save receiver)."""
    if instance.pk is None:
        return
    before = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if before and (before["password"] != instance.password or (before["is_active"] and not instance.is_active)):
        from knox.models import AuthToken

        AuthToken.objects.filter(user_id=instance.pk).delete()
