"""Alert reviews: an instructor records that they looked at an alert (from Django admin or the REST API)."""
from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from engagement.api import EngagementError

from . import selectors
from .models import Alert


class ReviewNotAllowed(EngagementError):
    """The reviewer may not review this alert (not an instructor of its course, the LMS or a superuser)."""

    status_code = 403
    code = "review_not_allowed"


def alert_review(*, alert: Alert, reviewer: Any) -> Alert:
    """Record who reviewed the alert and when; an alert already reviewed keeps its first review."""
    if not selectors.alerts_reviewable(user=reviewer).filter(pk=alert.pk).exists():
        raise ReviewNotAllowed("You may not review alerts of this session.")
    # A conditional UPDATE of the review columns only: two reviewers racing keep the first, and the frame
    # count and closing time that the running session writes meanwhile are never overwritten.
    Alert.objects.filter(pk=alert.pk, reviewed_at__isnull=True).update(reviewed_by=reviewer,
                                                                       reviewed_at=timezone.now())
    alert.refresh_from_db(fields=["reviewed_by", "reviewed_at"])
    return alert


def alerts_review(*, alerts: QuerySet[Alert], reviewer: Any) -> int:
    """Review the alerts of the query that the reviewer may review and nobody has yet; answer how many."""
    pending = selectors.alerts_reviewable(user=reviewer, alerts=alerts).filter(reviewed_at__isnull=True)
    return pending.update(reviewed_by=reviewer, reviewed_at=timezone.now())
