"""The in-process API other apps and the project use (lti, the home page): sessions, exam logins, tenants,
learners' data."""
from __future__ import annotations

from typing import Any

from .conf import monitor_settings, retention_days
from .identity import identity_check_validate
from .models import NOTICE_TEXT_MAX_LENGTH, AlertKind, CourseAssignment, ExamSession, ExamSessionQuerySet, SessionStatus
from .privacy import learner_erased, learner_exported
from .selectors import session_for_learner, user_can_control, user_can_watch
from .services import (EXAM_LOGIN_KEY, InvalidInput, SessionError, demo_accounts_disable, exam_consent_record,
                       exam_login, instructors_group, learner_check, learner_tenant, learner_tenant_set,
                       session_control_url_set, session_create, session_end_announced,
                       tenant_of_platform)
from .webhooks import UnsafeUrl, pinned_session, public_url_check

__all__ = [
    "EXAM_LOGIN_KEY", "NOTICE_TEXT_MAX_LENGTH", "AlertKind", "CourseAssignment", "ExamSession", "InvalidInput", "SessionError", "SessionStatus",
    "demo_accounts_disable", "exam_consent_record", "identity_check_validate", "exam_login", "instructors_group", "learner_check",
    "learner_erased", "learner_exported", "learner_tenant", "learner_tenant_set", "monitor_settings", "retention_days",
    "session_control_url_set", "session_create",
    "session_end_announced", "session_for_learner", "session_running_of", "sessions_running", "tenant_of_platform",
    "UnsafeUrl", "pinned_session", "public_url_check", "user_can_control", "user_can_watch",
]


def sessions_running(*, learner: Any) -> ExamSessionQuerySet:
    """The learner's sessions that have not ended, oldest first."""
    return ExamSession.objects.of_learner(learner).running().order_by("created_at")


def session_running_of(*, learner: Any, course_id: str, exam_id: str, **filters: Any) -> ExamSession | None:
    """The learner's newest session of this exam that has not ended (narrowed by `filters`), or None."""
    return (ExamSession.objects.of_learner(learner).running()
            .filter(course_id=course_id, exam_id=exam_id, **filters).order_by("-created_at").first())
