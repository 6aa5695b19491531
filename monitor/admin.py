"""Admin for exam sessions and alerts."""
from django.contrib import admin

from .models import Alert, ExamSession


class AlertInline(admin.TabularInline):
    """A session's alerts."""

    model = Alert
    extra = 0
    fields = ("kind", "severity", "message", "opened_at", "closed_at", "frame_count", "reviewed_by", "reviewed_at")
    readonly_fields = ("kind", "severity", "message", "opened_at", "closed_at", "frame_count")


@admin.register(ExamSession)
class ExamSessionAdmin(admin.ModelAdmin):
    """Sessions with their summary and alerts."""

    list_display = ("id", "learner", "course_id", "exam_id", "status", "smoothed_score", "frame_count",
                    "started_at", "ended_at")
    list_filter = ("status", "course_id", "exam_id")
    search_fields = ("learner__username", "course_id", "exam_id", "attempt_id")
    readonly_fields = ("id", "created_at", "started_at", "ended_at", "rule_state", "smoothed_score", "last_status",
                       "last_emotion", "last_frame_at", "frame_count", "summary", "join_token_used_at")
    inlines = [AlertInline]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    """All alerts, filterable by kind and review."""

    list_display = ("session", "kind", "severity", "opened_at", "closed_at", "frame_count", "reviewed_by")
    list_filter = ("kind", "severity", ("reviewed_by", admin.EmptyFieldListFilter))
    readonly_fields = ("session", "kind", "severity", "message", "opened_at", "closed_at", "frame_count")
