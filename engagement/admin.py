"""Admin for engagement logs: read-only, filtered by status, emotion and date."""
import logging

from django.contrib import admin
from django.contrib.admin.views.main import ERROR_FLAG
from django.http import HttpResponseRedirect
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from .models import EngagementLog
from .scoring import FrameError


def cell_short(value, limit: int = 28):
    """A long id for a list column: cut in the middle (LMS ids differ at both ends), whole in its tooltip."""
    value = "" if value is None else str(value)
    if len(value) <= limit:
        return value
    head = (limit - 1) // 2
    return format_html('<span title="{}">{}\u2026{}</span>', value, value[:head], value[head - limit + 1:])


def cell_time(value):
    """A date and time for a list column, short (2026-11-26 09:00:05) so that the columns fit."""
    return date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT") if value else None


class DateSafeChangeList:
    """A change list whose out-of-range date filters (the year-9999 drill-down, an offset past the calendar's end)
    answer as Django answers an invalid filter (the list again, with ?e=1), not a 500."""

    def changelist_view(self, request, extra_context=None):
        """The change list, rendered here so that the date hierarchy's errors are caught too."""
        try:
            response = super().changelist_view(request, extra_context)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
            return response
        except (OverflowError, ValueError):
            if not request.GET or ERROR_FLAG in request.GET:
                raise
            logging.getLogger(__name__).warning("out-of-range filter on %s: %s", request.path, request.GET.urlencode())
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")


class NotAnalysedFilter(admin.SimpleListFilter):
    """Frames not analysed, by the reason in words (FrameError's labels), filtering on the stored code."""

    title = "not analysed"
    parameter_name = "error"

    def lookups(self, request, model_admin):
        return FrameError.choices

    def queryset(self, request, queryset):
        return queryset.filter(error=self.value()) if self.value() else queryset


@admin.register(EngagementLog)
class EngagementLogAdmin(DateSafeChangeList, admin.ModelAdmin):
    """Logs are evidence: they are viewed and filtered, never edited."""

    # Short headers, so that the columns fit beside the filters at 1280 px.
    list_display = ("frame", "session", "user_name", "status", "emotion", "score", "faces", "why_not_analysed",
                    "ms")
    list_filter = ("engagement_status", "dominant_emotion", ("frame_time", admin.DateFieldListFilter), NotAnalysedFilter,
                   "engine")
    search_fields = ("session_key", "user__username")
    date_hierarchy = "frame_time"
    list_select_related = ("user",)

    @admin.display(description="frame time", ordering="frame_time")
    def frame(self, log):
        return cell_time(log.frame_time)

    @admin.display(description="session", ordering="session_key")
    def session(self, log):
        return cell_short(log.session_key, 13)

    @admin.display(description="user", ordering="user__username")
    def user_name(self, log):
        return cell_short(log.user.get_username(), 32) if log.user_id else None

    @admin.display(description="status", ordering="engagement_status")
    def status(self, log):
        return log.get_engagement_status_display() or None

    @admin.display(description="emotion", ordering="dominant_emotion")
    def emotion(self, log):
        return log.get_dominant_emotion_display() or None

    @admin.display(description="faces", ordering="face_count")
    def faces(self, log):
        return log.face_count

    @admin.display(description="ms", ordering="processing_ms")
    def ms(self, log):
        return round(log.processing_ms, 1)

    @admin.display(description="not analysed", ordering="error")
    def why_not_analysed(self, log):
        """The reason in words (FrameError's label), not its code."""
        return FrameError(log.error).label if log.error in FrameError.values else (log.error or None)

    @admin.display(description="score", ordering="engagement_score")
    def score(self, log):
        return log.engagement_score

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
