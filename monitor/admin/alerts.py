"""Alerts in the admin: listed by the courses a user may review, reviewed one by one or in bulk."""
from django.contrib import admin, messages
from django.utils.html import format_html

from engagement.admin import DateSafeChangeList, cell_short, cell_time

from .. import reviews, selectors
from ..choices import Severity
from ..models import Alert
from .filters import ReviewedFilter
from .forms import AlertReviewForm
from .sessions import ALERT_FIELDS, may_review, without_review_box



@admin.register(Alert)
class AlertAdmin(DateSafeChangeList, admin.ModelAdmin):
    """Alerts of the user's courses, to review one by one or in bulk."""

    form = AlertReviewForm
    list_display = ("learner", "course", "kind", "severity", "opened", "closed", "frame_count", "reviewed_by",
                    "reviewed")
    list_filter = (ReviewedFilter, "review_outcome", "kind", "severity")
    list_select_related = ("session", "session__learner", "reviewed_by")
    fields = ("session", *ALERT_FIELDS, "mark_reviewed")
    readonly_fields = ("session", *ALERT_FIELDS)
    actions = ["review_selected"]

    def get_queryset(self, request):
        return selectors.alerts_visible(user=request.user, alerts=super().get_queryset(request))

    def get_list_display(self, request):
        """The list's columns; a critical alert's kind carries the attempt's control link (as in the report) for
        those who may use it, in the kind's cell so that the list keeps its width."""
        user = request.user
        controlled = selectors.courses_controlled(user=user)

        @admin.display(description="kind", ordering="kind")
        def kind(alert):
            session = alert.session
            # Critical alerts of a running attempt that an integration (lti's ACS) lets this user pause or end.
            may_control = selectors.control_allowed(user=user, session=session, controlled=controlled)
            if alert.severity != Severity.CRITICAL or not session.control_url or session.has_ended or not may_control:
                return alert.get_kind_display()
            return format_html('{}<br><a class="alert-control" href="{}">Pause or end</a>', alert.get_kind_display(),
                               session.control_url)

        return tuple(kind if column == "kind" else column for column in super().get_list_display(request))

    def get_fields(self, request, obj=None):
        return without_review_box(super().get_fields(request, obj), self.has_change_permission(request, obj))

    @admin.display(description="learner", ordering="session__learner__username")
    def learner(self, alert):
        return cell_short(alert.session.learner.get_username(), 32)

    @admin.display(description="course", ordering="session__course_id")
    def course(self, alert):
        return cell_short(alert.session.course_id)

    @admin.display(description="opened", ordering="opened_at")
    def opened(self, alert):
        return cell_time(alert.opened_at)

    @admin.display(description="closed", ordering="closed_at")
    def closed(self, alert):
        return cell_time(alert.closed_at)

    @admin.display(description="reviewed", ordering="reviewed_at")
    def reviewed(self, alert):
        return cell_time(alert.reviewed_at)

    def has_add_permission(self, request):
        return False  # alerts are raised by the rules, not typed in

    def has_change_permission(self, request, obj=None):
        return may_review(request, obj.session if obj else None)

    def save_model(self, request, obj, form, change):
        # The box is the only input: nothing else of the alert is written (see ExamSessionAdmin.save_formset).
        if form.cleaned_data.get("mark_reviewed") and not obj.reviewed_at:
            reviews.alert_review(alert=obj, reviewer=request.user)

    @admin.action(description="Mark selected alerts reviewed", permissions=["change"])
    def review_selected(self, request, queryset):
        """Review the selected alerts; those already reviewed keep their first review."""
        count = reviews.alerts_review(alerts=queryset, reviewer=request.user)
        self.message_user(request, f"{count} alert(s) marked reviewed.", messages.SUCCESS)
