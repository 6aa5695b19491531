"""Exam sessions and the alerts raised while they run."""
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.formats import date_format

from .alerts import AlertKind, alert_kinds_validate
from .choices import Connection, ReviewOutcome, SessionStatus, Severity

__all__ = ["Alert", "AlertKind", "Connection", "CourseAssignment", "DeliveryStatus", "ExamSession", "SessionStatus",
           "ReviewOutcome", "Severity", "Webhook", "WebhookDelivery", "WebhookEvent"]


NOTICE_TEXT_MAX_LENGTH = 2000  # the course's words in the monitoring notice (ExamSession.notice_text)


class Tenant(models.Model):
    """Who sessions, learners and webhooks belong to: one LMS service account (REST) or one LTI platform."""

    name = models.CharField(max_length=200)
    # Exactly one of the two: the LMS service account whose token creates the sessions, or the platform's issuer.
    account = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="tenant")
    lti_issuer = models.CharField(max_length=255, blank=True, help_text="The LTI platform's issuer (iss).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lti_issuer"], condition=~models.Q(lti_issuer=""),
                                    name="one_tenant_per_platform"),
            models.CheckConstraint(condition=models.Q(account__isnull=True) ^ models.Q(lti_issuer=""),
                                   name="tenant_is_an_account_or_a_platform"),
        ]

    def __str__(self) -> str:
        return self.name


class TenantLearner(models.Model):
    """The tenant a learner account belongs to: only that tenant's LMS account may open sessions for it."""

    learner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="learner_tenancy")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="learners")

    def __str__(self) -> str:
        return f"{self.learner} of {self.tenant}"


class ExamSessionQuerySet(models.QuerySet):
    """Exam sessions by where they stand, so that "not ended" is written once."""

    def running(self) -> "ExamSessionQuerySet":
        """Scheduled or active: not ended (the learner may still join and send frames)."""
        return self.exclude(status=SessionStatus.ENDED)

    def ended(self) -> "ExamSessionQuerySet":
        """Ended: the summary is stored and sockets are refused."""
        return self.filter(status=SessionStatus.ENDED)

    def of_learner(self, user) -> "ExamSessionQuerySet":
        """The sessions this user sits."""
        return self.filter(learner=user)


class ExamSession(models.Model):
    """One learner sitting one exam attempt under webcam monitoring."""

    objects = ExamSessionQuerySet.as_manager()

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exam_sessions")
    # None: made by an administrator (admin, commands); only superusers and the course's instructors see it.
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions")
    course_id = models.CharField(max_length=128, db_index=True)
    exam_id = models.CharField(max_length=128, db_index=True)
    attempt_id = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16, choices=SessionStatus.choices, default=SessionStatus.SCHEDULED,
                              db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    frame_interval = models.FloatField(default=5.0, help_text="Seconds between webcam frames.")
    join_token_used_at = models.DateTimeField(null=True, blank=True, help_text="When the exam link was used.")
    # Signed into each exam link: a fresh link (after a lost browser) gets a new nonce, so older links stop working.
    join_nonce = models.CharField(max_length=32, blank=True, default="")
    rejoin_count = models.PositiveIntegerField(default=0, help_text="Times the exam page came back after it was lost.")
    rejoined_at = models.DateTimeField(null=True, blank=True, help_text="When the exam page last came back.")
    # Live state of the alert rules, kept in the row so that any server process can take the next frame.
    rule_state = models.JSONField(default=dict, blank=True)
    smoothed_score = models.FloatField(null=True, blank=True)
    last_status = models.CharField(max_length=32, blank=True)
    last_emotion = models.CharField(max_length=16, blank=True)
    last_frame_at = models.DateTimeField(null=True, blank=True)
    connection = models.CharField(max_length=16, choices=Connection.choices, default=Connection.WAITING)
    connection_changed_at = models.DateTimeField(null=True, blank=True, help_text="When the connection last changed.")
    frame_count = models.PositiveIntegerField(default=0)
    analyzed_count = models.PositiveIntegerField(default=0, help_text="Frames with an analysed face.")
    average_score = models.FloatField(null=True, blank=True, help_text="Mean score of the analysed frames.")
    summary = models.JSONField(null=True, blank=True)
    # The identity check: None follows MONITOR_IDENTITY_CHECK (the LMS sets it per session, LTI per exam).
    evidence = models.BooleanField(null=True, blank=True, help_text="Keep a small encrypted picture of each "
                                   "critical alert's moment (empty: as MONITOR_EVIDENCE_COURSES says for the course).")
    identity_check = models.BooleanField(null=True, blank=True, help_text="Compare the face in view with the face "
                                         "at the start of the exam; empty: the site's default.")
    # Set per exam by the LMS (REST) or per link (LTI Deep Linking): kinds listed here are never raised.
    alerts_off = models.JSONField(default=list, blank=True, validators=[alert_kinds_validate],
                                  help_text="Alert kinds not raised in this session (their values, e.g. "
                                  "[\"looking_away\"]); empty: all are on.")
    notice_text = models.TextField(blank=True, max_length=NOTICE_TEXT_MAX_LENGTH, help_text="The course's own words "
                                   "on what is kept and for how long, shown to the learner in the monitoring notice.")
    # An integration's page where an instructor pauses or ends this attempt on its platform (lti sets its ACS
    # page); monitor only links to it, from the live view and the report.
    control_url = models.CharField(max_length=300, blank=True, editable=False,
                                   help_text="Where the attempt is paused or ended on its platform; empty: nowhere.")

    class Meta:
        ordering = ["-created_at"]
        # The presence sweep looks for sessions whose connection went wrong long enough ago.
        indexes = [models.Index(fields=["connection", "connection_changed_at"], name="session_presence")]
        permissions = [("monitor_sessions", "Can watch live sessions")]

    def __str__(self) -> str:
        return f"{self.learner} - {self.course_id}/{self.exam_id} ({self.status})"

    @property
    def has_ended(self) -> bool:
        """Whether the session has ended."""
        return self.status == SessionStatus.ENDED


class Alert(models.Model):
    """A condition that held for a while during a session: opened once, closed when it clears."""

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=32, choices=AlertKind.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    message = models.CharField(max_length=255)
    opened_at = models.DateTimeField()
    since = models.DateTimeField(null=True, blank=True, help_text="When its condition began (the learner left, the "
                                 "page went): before opened_at by the rule's delay.")
    closed_at = models.DateTimeField(null=True, blank=True)
    frame_count = models.PositiveIntegerField(default=1, help_text="Frames seen while the alert was open.")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="reviewed_alerts")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_outcome = models.CharField(max_length=16, choices=ReviewOutcome.choices, blank=True)
    review_note = models.TextField(blank=True, help_text="The reviewer's reasons, for the record.")

    class Meta:
        ordering = ["opened_at"]
        constraints = [
            # At most one open alert of a kind per session: a run of bad frames is one alert.
            models.UniqueConstraint(fields=["session", "kind"], condition=models.Q(closed_at__isnull=True),
                                    name="one_open_alert_per_kind"),
        ]

    def __str__(self) -> str:
        opened = date_format(timezone.localtime(self.opened_at), "TIME_FORMAT") if self.opened_at else "-"
        return f"{self.get_kind_display()} at {opened}"

    def as_message(self) -> dict:
        """The alert as sent on sockets."""
        return {"id": self.pk, "kind": self.kind, "severity": self.severity, "message": self.message,
                "opened_at": self.opened_at.isoformat(), "since": (self.since or self.opened_at).isoformat(),
                "closed_at": self.closed_at.isoformat() if self.closed_at else None}


class CourseAssignment(models.Model):
    """An instructor assigned to a course: they see and review that course's sessions."""

    instructor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="course_assignments")
    course_id = models.CharField(max_length=128, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["instructor", "course_id"], name="one_assignment_per_course")]

    def __str__(self) -> str:
        return f"{self.instructor} teaches {self.course_id}"


class WebhookEvent(models.TextChoices):
    """Events an LMS can subscribe to."""

    ALERT_OPENED = "alert.opened"  # an alert was raised
    ALERT_CLOSED = "alert.closed"  # its condition cleared (or the session ended)
    SESSION_ENDED = "session.ended"  # a session ended; its summary is in the payload
    ALERT_REVIEWED = "alert.reviewed"  # a reviewer recorded an outcome (and a note) for an alert


class Webhook(models.Model):
    """An LMS endpoint that receives signed event POSTs."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200, help_text="Shared secret for the HMAC-SHA256 signature.")
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    """Where a webhook delivery stands."""

    PENDING = "pending"  # not delivered yet; next_attempt_at says when it is tried
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # every attempt failed; no more retries


class WebhookDelivery(models.Model):
    """One event for one webhook, with its attempts."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32, choices=WebhookEvent.choices)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING,
                              db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} -> {self.webhook} ({self.status})"


class IdentityReference(models.Model):
    """The face descriptors a session's learner is compared with: kept while the session runs, never shown.

    Deleted when the session ends (and by erasure and the purge); no API, page, export or admin reads it.
    """

    session = models.OneToOneField(ExamSession, on_delete=models.CASCADE, primary_key=True,
                                   related_name="identity_reference")
    descriptors = models.BinaryField(default=bytes)  # float32, one row per reference frame
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"identity reference of session {self.session_id}"


class EvidenceFrame(models.Model):
    """The picture of the moment a critical alert opened: downscaled JPEG, Fernet-encrypted (monitor.evidence)."""

    alert = models.OneToOneField(Alert, on_delete=models.CASCADE, related_name="evidence")
    # Also tied to the session, so that deleting a session (retention, erasure) deletes its pictures at once.
    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="evidence_frames")
    picture = models.BinaryField(help_text="Fernet token of the JPEG.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Evidence of {self.alert}"


class EvidenceAccess(models.Model):
    """One view of an evidence picture: who and when (kept when the picture is deleted)."""

    alert_id = models.BigIntegerField(db_index=True)
    session_id = models.UUIDField(db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]
        verbose_name_plural = "evidence accesses"

    def __str__(self) -> str:
        return f"{self.username} viewed the evidence of alert {self.alert_id}"
