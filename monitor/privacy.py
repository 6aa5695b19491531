"""Retention and learners' rights: purge old data, export or erase one learner's data."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.dispatch import Signal
from django.db.models import Q
from django.utils import timezone

from engagement.api import EngagementLog

from .identity import identity_references_stale
from .models import Alert, ExamSession, IdentityReference, WebhookDelivery
from .selectors import LOG_SOURCE
from .conf import retention_days


# Other apps that keep data about a learner answer these (monitor knows no other app): `learner_exported` with a
# {section name: JSON-ready data} dict for the export, `learner_erased` by deleting theirs and answering counts.
learner_exported = Signal()
learner_erased = Signal()


def retention_cutoff(*, days: int | None = None) -> datetime:
    """The moment before which data is no longer kept."""
    return timezone.now() - timedelta(days=retention_days() if days is None else days)


def _purgeable(cutoff: datetime) -> dict[str, Any]:
    sessions = ExamSession.objects.filter(ended_at__lt=cutoff)
    return {
        # By the server's time of saving: a client's frame time can say anything (year 9999).
        "logs": EngagementLog.objects.filter(created_at__lt=cutoff),
        "alerts": Alert.objects.filter(Q(opened_at__lt=cutoff) | Q(session__in=sessions)),
        "sessions": sessions,
        "webhook_deliveries": WebhookDelivery.objects.filter(created_at__lt=cutoff),
        # Whatever the retention, a reference face outlives no session (one that never ended: after a day unused).
        "identity_references": identity_references_stale(),
    }


def data_purge_count(*, cutoff: datetime) -> dict[str, int]:
    """How many rows of each kind are older than the cutoff (what a purge would delete)."""
    return {name: qs.count() for name, qs in _purgeable(cutoff).items()}


@transaction.atomic
def data_purge(*, cutoff: datetime) -> dict[str, int]:
    """Delete logs, alerts, ended sessions (with their summaries) and webhook deliveries older than the cutoff, and
    the identity references no session needs any more."""
    counts = data_purge_count(cutoff=cutoff)
    for qs in _purgeable(cutoff).values():
        qs.delete()
    return counts


def _learner_logs(user: Any):
    keys = [str(pk) for pk in ExamSession.objects.filter(learner=user).values_list("id", flat=True)]
    return EngagementLog.objects.filter(Q(user=user) | Q(source=LOG_SOURCE, session_key__in=keys))


def _learner_deliveries(user: Any):
    """Webhook deliveries whose payload names the learner or one of their sessions."""
    keys = [str(pk) for pk in ExamSession.objects.filter(learner=user).values_list("id", flat=True)]
    return WebhookDelivery.objects.filter(Q(payload__data__session__learner=user.get_username())
                                          | Q(payload__data__session__id__in=keys))


def _login_sessions(user: Any) -> list[str]:
    """Keys of the Django login sessions of the user (read from the session store)."""
    from django.contrib.sessions.models import Session

    keys = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            keys.append(session.session_key)
    return keys


def learner_data_export(*, user: Any) -> dict:
    """Everything stored about a learner (right of access), as JSON-ready data."""
    sessions = ExamSession.objects.filter(learner=user).order_by("created_at")
    others = {}
    for _, sections in learner_exported.send(sender=learner_data_export, user=user):
        others.update(sections or {})
    return {
        "user": {"id": user.pk, "username": user.get_username(), "email": user.email,
                 "first_name": user.first_name, "last_name": user.last_name,
                 "date_joined": user.date_joined.isoformat()},
        **others,
        "exported_at": timezone.now().isoformat(),
        "sessions": [
            {"id": str(s.id), "course_id": s.course_id, "exam_id": s.exam_id, "attempt_id": s.attempt_id,
             "status": s.status, "created_at": s.created_at.isoformat(),
             "started_at": s.started_at.isoformat() if s.started_at else None,
             "ended_at": s.ended_at.isoformat() if s.ended_at else None, "summary": s.summary,
             "alerts": [{**a.as_message(), "reviewed_at": a.reviewed_at.isoformat() if a.reviewed_at else None}
                        for a in s.alerts.order_by("opened_at")]}
            for s in sessions
        ],
        "logs": [
            {"session_id": log.session_key, "frame_time": log.frame_time.isoformat(),
             "client_time": log.client_time.isoformat() if log.client_time else None, "success": log.success,
             "error": log.error, "dominant_emotion": log.dominant_emotion, "emotions": log.emotions,
             "engagement_score": log.engagement_score, "engagement_status": log.engagement_status,
             "face_count": log.face_count, "head_yaw": log.head_yaw, "head_pitch": log.head_pitch,
             "looking_away": log.looking_away, "age": log.age, "gender": log.gender}
            for log in _learner_logs(user).order_by("frame_time")
        ],
        "webhook_deliveries": [
            {"id": d.pk, "event": d.event, "status": d.status, "created_at": d.created_at.isoformat(),
             "payload": d.payload}
            for d in _learner_deliveries(user).order_by("created_at")
        ],
    }


@transaction.atomic
def learner_data_erase(*, user: Any) -> dict[str, int]:
    """Delete everything that names a learner (right of erasure); the account itself stays, logged out and
    without its names and email.

    Logs, sessions, alerts, webhook deliveries naming them (pending ones are thereby never sent), API tokens,
    login sessions, and what other apps keep (learner_erased: LTI's platform records).
    """
    from django.contrib.sessions.models import Session
    from knox.models import AuthToken as Token

    logs = _learner_logs(user)
    sessions = ExamSession.objects.filter(learner=user)
    deliveries = _learner_deliveries(user)
    logins = _login_sessions(user)
    counts = {"logs": logs.count(), "alerts": Alert.objects.filter(session__in=sessions).count(),
              "sessions": sessions.count(), "webhook deliveries": deliveries.count(),
              "tokens": Token.objects.filter(user=user).count(), "login sessions": len(logins),
              "identity references": IdentityReference.objects.filter(session__in=sessions).count()}
    deliveries.delete()
    logs.delete()
    sessions.delete()  # alerts and identity references go with them (cascade)
    Token.objects.filter(user=user).delete()
    Session.objects.filter(session_key__in=logins).delete()
    for _, erased in learner_erased.send(sender=learner_data_erase, user=user):
        counts.update(erased or {})
    user.first_name = user.last_name = user.email = ""
    user.save(update_fields=["first_name", "last_name", "email"])
    return counts
