"""Evidence frames (opt-in): one small encrypted picture of the moment a critical alert opened, for its review.

Off unless the course is in MONITOR_EVIDENCE_COURSES or the session was created with evidence on. Pictures are
encrypted at rest with Fernet (MONITOR_EVIDENCE_KEY); only the course's instructors see them, each view is
logged, and they go with their alert and session (retention, erasure). They are never exported or sent.
"""
from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured

from engagement.api import image_thumbnail

from .models import Alert, CourseAssignment, EvidenceAccess, EvidenceFrame, ExamSession, Severity
from .conf import monitor_settings


class EvidenceUnavailable(Exception):
    """Evidence was asked for where no key is configured."""


def evidence_cipher() -> Fernet | None:
    """The Fernet cipher of MONITOR_EVIDENCE_KEY, None when no key is set; a malformed key is a configuration error."""
    key = monitor_settings.get("EVIDENCE_KEY", "")
    if not key:
        return None
    try:
        return Fernet(key)
    except (ValueError, TypeError):
        raise ImproperlyConfigured("MONITOR_EVIDENCE_KEY is not a Fernet key (32 url-safe base64-encoded bytes): "
                                   "make one with `python -c 'from cryptography.fernet import Fernet; "
                                   "print(Fernet.generate_key().decode())'`.") from None


def evidence_configuration_check() -> None:
    """Refuse to start when courses keep evidence and no valid key encrypts it (called when the app is ready)."""
    courses = monitor_settings.get("EVIDENCE_COURSES", [])
    if evidence_cipher() is None and courses:
        raise ImproperlyConfigured(f"MONITOR_EVIDENCE_COURSES lists {', '.join(courses)} but MONITOR_EVIDENCE_KEY "
                                   "is not set: evidence pictures are never stored unencrypted.")


def evidence_kept(*, session: ExamSession) -> bool:
    """Whether this session keeps evidence pictures (its own choice, else its course's)."""
    if session.evidence is not None:
        return session.evidence
    return session.course_id in monitor_settings.get("EVIDENCE_COURSES", [])


def evidence_record(*, session: ExamSession, opened: list[Alert], image: Any) -> list[EvidenceFrame]:
    """Keep the frame that opened these alerts, downscaled and encrypted, for each critical one (if the session
    keeps evidence). Returns the rows made."""
    critical = [a for a in opened if a.severity == Severity.CRITICAL]
    cipher = evidence_cipher()
    if not critical or cipher is None or not evidence_kept(session=session):
        return []
    width, height = monitor_settings["EVIDENCE_SIZE"]
    sealed = cipher.encrypt(image_thumbnail(image=image, width=width, height=height))
    return [EvidenceFrame.objects.create(alert=alert, session=session, picture=sealed) for alert in critical]


def evidence_viewable(*, user: Any, alert: Alert) -> bool:
    """Only the instructors assigned to the alert's course see its evidence (not the LMS, not other staff)."""
    return bool(getattr(user, "is_authenticated", False) and user.is_staff and user.is_active
                and alert.session.learner_id != user.pk  # never of one's own exam
                and CourseAssignment.objects.filter(instructor=user, course_id=alert.session.course_id).exists())


def evidence_open(*, alert: Alert, user: Any) -> bytes | None:
    """The alert's picture (JPEG) for this user, the view logged; None when there is none or it cannot be read."""
    frame = EvidenceFrame.objects.filter(alert=alert).first()
    cipher = evidence_cipher()
    if frame is None or cipher is None:
        return None
    EvidenceAccess.objects.create(alert_id=alert.pk, session_id=alert.session_id, user=user,
                                  username=user.get_username())
    try:
        return cipher.decrypt(bytes(frame.picture))
    except InvalidToken:  # another key: the picture can no longer be read
        return None
