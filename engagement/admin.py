"""Admin for engagement logs: read-only, filtered by status, emotion and date."""
from django.contrib import admin

from .models import EngagementLog


@admin.register(EngagementLog)
class EngagementLogAdmin(admin.ModelAdmin):
    """Logs are evidence: they are viewed and filtered, never edited."""

    list_display = ("frame_time", "session_key", "user", "engagement_status", "dominant_emotion",
                    "engagement_score", "face_count", "error", "processing_ms")
    list_filter = ("engagement_status", "dominant_emotion", ("frame_time", admin.DateFieldListFilter), "error", "engine")
    search_fields = ("session_key", "user__username")
    date_hierarchy = "frame_time"
    list_select_related = ("user",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
