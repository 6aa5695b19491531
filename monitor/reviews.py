"""Alert reviews: an instructor records a decision on an alert, with a note (from Django admin or the REST API)."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from engagement.api import EngagementError, InvalidInput

from . import selectors, webhooks
from .models import Alert, ReviewOutcome, WebhookEvent


class ReviewNotAllowed(EngagementError):
    """The reviewer may not review this alert (not an instructor of its course, the LMS or a superuser)."""

    status_code = 403
    code = "review_not_allowed"


class AlreadyDecided(EngagementError):
    """The alert's outcome is final (confirmed or dismissed): another decision would rewrite the record."""

    status_code = 409
    code = "already_decided"


# A note is a reviewer's reasons, not a document.
NOTE_MAX_LENGTH = 2000
# Outcomes a later decision may replace: none yet, or "needs follow-up" (which asks for one).
OPEN_OUTCOMES = ("", ReviewOutcome.FOLLOW_UP)


def alert_review(*, alert: Alert, reviewer: Any, outcome: str = "", note: str = "") -> Alert:
    """Record a review: who and when, and the outcome with a note when given (alert.reviewed webhook).

    Without an outcome an alert already reviewed keeps its first review. An outcome replaces none or "needs
    follow-up"; a confirmed or dismissed alert answers AlreadyDecided (the same decision again changes nothing).
    """
    if not selectors.alerts_reviewable(user=reviewer).filter(pk=alert.pk).exists():
        raise ReviewNotAllowed("You may not review alerts of this session.")
    if outcome and outcome not in ReviewOutcome.values:
        raise InvalidInput(f"'outcome' must be one of {', '.join(ReviewOutcome.values)}.", code="invalid_outcome")
    if not isinstance(note, str) or len(note) > NOTE_MAX_LENGTH:
        raise InvalidInput(f"'note' must be text of at most {NOTE_MAX_LENGTH} characters.", code="invalid_note")
    if note and not outcome:
        raise InvalidInput("A note goes with an outcome: send 'outcome' too.", code="invalid_note")
    fields = ["reviewed_by", "reviewed_at", "review_outcome", "review_note"]
    # Conditional UPDATEs of the review columns only: two reviewers racing keep the first, and the frame
    # count and closing time that the running session writes meanwhile are never overwritten.
    if not outcome:
        Alert.objects.filter(pk=alert.pk, reviewed_at__isnull=True).update(reviewed_by=reviewer,
                                                                           reviewed_at=timezone.now())
        alert.refresh_from_db(fields=fields)
        return alert
    with transaction.atomic():
        decided = Alert.objects.filter(pk=alert.pk, review_outcome__in=OPEN_OUTCOMES).update(
            reviewed_by=reviewer, reviewed_at=timezone.now(), review_outcome=outcome, review_note=note.strip())
        alert.refresh_from_db(fields=fields)
        if not decided:
            if alert.review_outcome == outcome and alert.review_note == note.strip():
                return alert  # the same decision sent again (a retry)
            raise AlreadyDecided(f"This alert is already {alert.get_review_outcome_display().lower()}; "
                                 "that decision is final.")
        webhooks.event_emit(event=WebhookEvent.ALERT_REVIEWED, data=webhooks.webhook_payload_alert(alert),
                            session=alert.session)
    return alert


def alerts_review(*, alerts: QuerySet[Alert], reviewer: Any) -> int:
    """Review the alerts of the query that the reviewer may review and nobody has yet; answer how many."""
    pending = selectors.alerts_reviewable(user=reviewer, alerts=alerts).filter(reviewed_at__isnull=True)
    return pending.update(reviewed_by=reviewer, reviewed_at=timezone.now())
