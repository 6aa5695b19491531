"""Serializers and filters of the monitor REST API."""
from datetime import timezone as dt_timezone

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from engagement.api import EngagementLog

from . import webhooks
from .identity import identity_check_validate
from .reviews import NOTE_MAX_LENGTH
from .models import NOTICE_TEXT_MAX_LENGTH, Alert, AlertKind, ExamSession, ReviewOutcome, SessionStatus, Webhook, WebhookDelivery, WebhookEvent


# The course ids LTI launches make (lti:<platform>:<context id>); the REST API's clients use any other.
RESERVED_COURSE_PREFIX = "lti:"


class SessionCreateSerializer(serializers.Serializer):
    """Input of POST /api/v1/sessions/."""

    learner = serializers.JSONField(help_text="Username or user id.")
    course_id = serializers.CharField(max_length=128)
    exam_id = serializers.CharField(max_length=128)
    attempt_id = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    frame_interval = serializers.FloatField(required=False, min_value=0.5, max_value=120)
    identity_check = serializers.BooleanField(required=False, allow_null=True, default=None,
                                              validators=[identity_check_validate],
                                              help_text="Compare the face in view with the learner's face at the start "
                                                        "of the exam (alert identity_changed); null or absent: the "
                                                        "site's default (MONITOR_IDENTITY_CHECK).")

    evidence = serializers.BooleanField(required=False, allow_null=True, default=None,
                                        help_text="Keep a small encrypted picture of the moment each critical alert "
                                                  "opens, for its review; null or absent: the course's default "
                                                  "(MONITOR_EVIDENCE_COURSES). Needs MONITOR_EVIDENCE_KEY.")

    alerts_off = serializers.ListField(child=serializers.ChoiceField(choices=AlertKind.choices), required=False,
                                       default=list, max_length=len(AlertKind.choices),
                                       help_text="Alert kinds never raised in this session; absent: all are on.")
    notice_text = serializers.CharField(required=False, allow_blank=True, default="", max_length=NOTICE_TEXT_MAX_LENGTH,
                                        help_text="The course's words on what is kept and for how long, shown to the "
                                                  "learner in the monitoring notice.")

    def validate_evidence(self, value):
        """Evidence is refused where no key would encrypt it."""
        from .evidence import evidence_cipher

        if value and evidence_cipher() is None:
            raise serializers.ValidationError("Evidence pictures are not available here (MONITOR_EVIDENCE_KEY is not "
                                              "set).")
        return value

    def validate_course_id(self, value: str) -> str:
        """Course ids starting with "lti:" are those of LTI launches (per platform): the API cannot make them."""
        if value.startswith(RESERVED_COURSE_PREFIX):
            raise serializers.ValidationError(f"Course ids starting with {RESERVED_COURSE_PREFIX!r} are reserved for "
                                              "LTI launches.")
        return value


class SessionLinksSerializer(serializers.Serializer):
    """Answer of POST /api/v1/sessions/."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    exam_url = serializers.URLField()
    ws_url = serializers.CharField()


class AlertSerializer(serializers.ModelSerializer):
    """An alert, with who reviewed it."""

    session = serializers.UUIDField(source="session_id", read_only=True)
    course_id = serializers.CharField(source="session.course_id", read_only=True)
    reviewed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Alert
        fields = ["id", "session", "course_id", "kind", "severity", "message", "opened_at", "closed_at",
                  "frame_count", "reviewed_by", "reviewed_at", "review_outcome", "review_note"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        # The note is the reviewers' record; the learner the alert is about reads the outcome, not the note.
        if request is not None and instance.session.learner_id == getattr(request.user, "pk", None):
            data.pop("review_note", None)
        return data


class AlertReviewSerializer(serializers.Serializer):
    """Input of POST /api/v1/alerts/<id>/review/: the outcome and a note (both optional: none marks reviewed)."""

    outcome = serializers.ChoiceField(choices=ReviewOutcome.choices, required=False, allow_blank=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_MAX_LENGTH, trim_whitespace=True)


class SummarySerializer(serializers.Serializer):
    """What a session's summary holds (selectors.session_summary): documents the schema of SummaryField."""

    frames = serializers.IntegerField()
    analyzed_frames = serializers.IntegerField(help_text="Frames with an analysed face.")
    no_face_frames = serializers.IntegerField()
    looking_away_frames = serializers.IntegerField()
    average_score = serializers.FloatField(allow_null=True)
    smoothed_score = serializers.FloatField(allow_null=True)
    seconds_by_status = serializers.DictField(child=serializers.FloatField(), help_text=(
        "Seconds per engagement status, no_face, face_too_small and no_frames (gaps); they add up to the duration."))
    emotion_shares = serializers.DictField(child=serializers.FloatField(), help_text="Mean share per emotion, %.")
    alerts_by_kind = serializers.DictField(child=serializers.IntegerField())
    duration_seconds = serializers.FloatField()


@extend_schema_field(SummarySerializer(allow_null=True))
class SummaryField(serializers.JSONField):
    """A stored or computed summary, answered as it is; its schema is SummarySerializer's (not a free object)."""


class SessionSerializer(serializers.ModelSerializer):
    """A session as the LMS, instructors and learners read it."""

    learner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    summary = SummaryField(read_only=True)

    class Meta:
        model = ExamSession
        fields = ["id", "learner", "course_id", "exam_id", "attempt_id", "status", "created_at", "started_at",
                  "ended_at", "frame_interval", "identity_check", "evidence", "alerts_off", "notice_text", "frame_count", "analyzed_count", "average_score", "smoothed_score",
                  "last_status", "last_frame_at", "connection", "connection_changed_at", "summary"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        # Which alerts are off is the course's business: the learner sitting the exam is not told what goes unseen.
        if request is not None and instance.learner_id == getattr(request.user, "pk", None):
            data.pop("alerts_off", None)
        return data


class LogSerializer(serializers.ModelSerializer):
    """One analysed frame (derived metrics only)."""

    class Meta:
        model = EngagementLog
        fields = ["id", "frame_time", "success", "error", "dominant_emotion", "emotions", "engagement_score",
                  "engagement_status", "face_count", "head_yaw", "head_pitch", "looking_away", "age", "gender",
                  "engine", "processing_ms"]


class TimelinePointSerializer(serializers.Serializer):
    """One point of a session's engagement timeline."""

    frame_time = serializers.DateTimeField()
    score = serializers.FloatField(allow_null=True)
    smoothed_score = serializers.FloatField(allow_null=True)
    status = serializers.CharField()
    face_count = serializers.IntegerField()


class ReportSerializer(serializers.Serializer):
    """GET /api/v1/sessions/<id>/report/."""

    session = SessionSerializer()
    summary = SummaryField()
    timeline = TimelinePointSerializer(many=True)
    status_shares = serializers.DictField(child=serializers.FloatField())
    emotion_shares = serializers.DictField(child=serializers.FloatField())
    alerts = AlertSerializer(many=True)


class WebhookSerializer(serializers.ModelSerializer):
    """A webhook endpoint; the secret is write-only."""

    secret = serializers.CharField(write_only=True, min_length=16, max_length=200)
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEvent.choices), allow_empty=False)

    class Meta:
        model = Webhook
        fields = ["id", "url", "secret", "events", "active", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_url(self, value):
        """Only http(s) URLs to public hosts (or named internal ones), without credentials."""
        try:
            webhooks.webhook_url_check(url=value)
        except webhooks.UnsafeWebhookUrl as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value

    def validate_events(self, value):
        """No duplicates."""
        return sorted(set(value))


class DeliverySerializer(serializers.ModelSerializer):
    """One webhook delivery and its attempts."""

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event", "status", "attempts", "response_status", "last_error", "created_at",
                  "next_attempt_at", "delivered_at", "payload"]


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time turned into UTC: databases refuse some offsets that Python accepts (-21:16)."""

    def to_python(self, value):
        value = super().to_python(value)
        try:
            return None if value is None else value.astimezone(dt_timezone.utc)
        except OverflowError:
            raise forms.ValidationError("Date and time out of range.", code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """A date-time filter that queries in UTC."""

    field_class = UtcIsoDateTimeField


class SessionFilter(django_filters.FilterSet):
    """Filters of the session list."""

    course = django_filters.CharFilter(field_name="course_id")
    exam = django_filters.CharFilter(field_name="exam_id")
    learner = django_filters.CharFilter(field_name="learner__username")
    status = django_filters.ChoiceFilter(choices=SessionStatus.choices)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ExamSession
        fields = ["course", "exam", "learner", "status", "created_after", "created_before"]


class LogFilter(django_filters.FilterSet):
    """Filters of a session's logs."""

    since = UtcDateTimeFilter(field_name="frame_time", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="frame_time", lookup_expr="lt")
    status = django_filters.CharFilter(field_name="engagement_status")
    success = django_filters.BooleanFilter()

    class Meta:
        model = EngagementLog
        fields = ["since", "until", "status", "success"]


class AlertFilter(django_filters.FilterSet):
    """Filters of the alert list."""

    kind = django_filters.ChoiceFilter(choices=AlertKind.choices)
    reviewed = django_filters.BooleanFilter(field_name="reviewed_at", lookup_expr="isnull", exclude=True)
    course = django_filters.CharFilter(field_name="session__course_id")
    session = django_filters.UUIDFilter(field_name="session_id")
    open = django_filters.BooleanFilter(field_name="closed_at", lookup_expr="isnull")

    class Meta:
        model = Alert
        fields = ["kind", "reviewed", "course", "session", "open"]
