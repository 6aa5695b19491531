"""Who sees what in the admin: course assignments, tenants and their learners, exam logs by course, evidence views."""
from django.contrib import admin

from engagement.admin import DateSafeChangeList, EngagementLogAdmin, cell_time
from engagement.api import EngagementLog

from .. import selectors
from ..models import CourseAssignment, EvidenceAccess, Tenant, TenantLearner
from .forms import CourseAssignmentForm


@admin.register(CourseAssignment)
class CourseAssignmentAdmin(admin.ModelAdmin):
    """Who teaches which course; only superusers change it, since it decides what instructors see."""

    form = CourseAssignmentForm
    list_display = ("instructor", "course_id")
    list_filter = ("course_id",)
    search_fields = ("instructor__username", "course_id")

    def get_queryset(self, request):
        assignments = super().get_queryset(request).select_related("instructor")
        return assignments if request.user.is_superuser else assignments.filter(instructor=request.user)

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


# Engagement's log admin knows nothing of exams; here it is narrowed to the sessions the user may review.
admin.site.unregister(EngagementLog)


@admin.register(EngagementLog)
class SessionEngagementLogAdmin(EngagementLogAdmin):
    """Engagement logs, limited to those of the sessions the user may review."""

    def get_queryset(self, request):
        return selectors.engagement_logs_visible(user=request.user, logs=super().get_queryset(request))


class TenantLearnerInline(admin.TabularInline):
    """The learners of a tenant."""

    model = TenantLearner
    extra = 0
    raw_id_fields = ("learner",)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    """Tenants (LMS accounts and LTI platforms) and their learners: superusers move a learner between them here."""

    list_display = ("name", "account", "lti_issuer", "created_at")
    search_fields = ("name", "lti_issuer", "account__username")
    raw_id_fields = ("account",)
    inlines = [TenantLearnerInline]


@admin.register(EvidenceAccess)
class EvidenceAccessAdmin(DateSafeChangeList, admin.ModelAdmin):
    """Who looked at which evidence picture, and when: read-only, for administrators."""

    list_display = ("at_time", "username", "alert_id", "session_id")
    list_filter = ("username",)
    search_fields = ("username", "=alert_id", "=session_id")

    @admin.display(description="at", ordering="at")
    def at_time(self, access):
        return cell_time(access.at)

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return False
