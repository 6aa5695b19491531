"""Exam sessions in the admin: a session's page is its report, with its alerts to review."""
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from engagement.admin import DateSafeChangeList, cell_short, cell_time
from engagement.api import EngagementError

from .. import reviews, selectors, services
from ..identity import identity_check_validate
from ..models import Alert, AlertKind, ExamSession, ReviewOutcome
from .csv_export import csv_chunks, csv_streamed
from .filters import LowScoreFilter, UnreviewedAlertsFilter
from .forms import AlertReviewForm
from ..conf import monitor_settings
from ..conf import monitor_settings

ALERT_FIELDS = ("kind", "severity", "message", "opened_at", "closed_at", "frame_count", "reviewed_by", "reviewed_at")


def _duration(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def may_review(request, session) -> bool:
    """Whether the user may review alerts, of this session when one is given."""
    return request.user.has_perm("monitor.change_alert") and (
        session is None or selectors.user_can_review(user=request.user, session=session))


def without_review_box(fields, can_change: bool):
    """The fields, without the review box for a user who may not change alerts."""
    # Without the change permission admin shows every field read-only, and a form-only field has nothing to show.
    return fields if can_change else tuple(f for f in fields if f != "mark_reviewed")


class AlertInline(admin.TabularInline):
    """A session's alerts, each with a "Mark reviewed" button (and a box, to review several with one save)."""

    model = Alert
    form = AlertReviewForm
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (*ALERT_FIELDS, "review", "mark_reviewed")
    readonly_fields = (*ALERT_FIELDS, "review")

    def get_fields(self, request, obj=None):
        fields = without_review_box(super().get_fields(request, obj), self.has_change_permission(request, obj))
        return fields if self.has_change_permission(request, obj) else tuple(f for f in fields if f != "review")

    @admin.display(description="review")
    def review(self, alert):
        """A button that reviews this alert alone: it posts the page's form (and its CSRF token) to its own URL."""
        if alert.pk is None or alert.reviewed_at:
            return "-"
        url = reverse("admin:monitor_examsession_alert_review", args=[alert.session_id, alert.pk])
        return format_html('<button type="submit" class="button" formaction="{}" formmethod="post" '
                           'data-alert="{}">Mark reviewed</button>', url, alert.pk)

    def has_add_permission(self, request, obj=None):
        return False  # alerts are raised by the rules, not typed in

    def has_change_permission(self, request, obj=None):
        return may_review(request, obj)  # obj is the session


@admin.register(ExamSession)
class ExamSessionAdmin(DateSafeChangeList, admin.ModelAdmin):
    """Sessions of the user's courses; a session's page is its report, with its alerts to review."""

    # Short columns (long LMS ids cut in the middle, short times) so that the list fits 1280 px with its filters.
    list_display = ("learner_name", "course", "exam", "status", "average_score", "unreviewed_alert_count",
                    "started", "ended")
    list_filter = ("course_id", "exam_id", "status", UnreviewedAlertsFilter, LowScoreFilter)
    list_select_related = ("learner",)
    autocomplete_fields = ("learner",)
    search_fields = ("learner__username", "course_id", "exam_id", "attempt_id")
    date_hierarchy = "created_at"
    actions = ["export_logs_csv", "end_sessions"]
    fieldsets = (
        (None, {"fields": ("learner", "course_id", "exam_id", "attempt_id", "status", "frame_interval",
                           "identity_check", "alerts_off", "notice_text")}),
        ("Times", {"fields": ("id", "created_at", "join_token_used_at", "started_at", "last_frame_at", "ended_at"),
                   "classes": ("collapse",)}),
        ("Live state", {"fields": ("frame_count", "analyzed_count", "average_score", "smoothed_score",
                                   "last_status", "last_emotion", "rule_state", "summary"),
                        "classes": ("collapse",)}),
    )
    # The status changes only through the session's life (frames, "End session"), never by editing it.
    readonly_fields = ("id", "status", "created_at", "started_at", "ended_at", "rule_state", "smoothed_score",
                       "last_status",
                       "last_emotion", "last_frame_at", "frame_count", "analyzed_count", "average_score", "summary",
                       "join_token_used_at")
    inlines = [AlertInline]

    def get_queryset(self, request):
        sessions = super().get_queryset(request)
        if not request.user.is_superuser:
            sessions = sessions.filter(pk__in=selectors.sessions_visible(user=request.user).values("pk"))
        return selectors.sessions_annotate_unreviewed(sessions=sessions)

    def get_urls(self):
        review = path("<uuid:session_id>/alerts/<int:alert_id>/review/",
                      self.admin_site.admin_view(self.alert_review_view), name="monitor_examsession_alert_review")
        return [review, *super().get_urls()]

    def alert_review_view(self, request, session_id, alert_id):
        """Review one alert (the report's "Mark reviewed" button), then back to the report with a message."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        alert = Alert.objects.filter(pk=alert_id, session_id=session_id).first()
        if alert is None:
            raise PermissionDenied("No such alert in this session.")
        # The report's decision buttons send the outcome; the alert's own note box is note-<alert id>.
        outcome, note = request.POST.get("outcome", ""), request.POST.get(f"note-{alert.pk}", "")
        try:
            alert = reviews.alert_review(alert=alert, reviewer=request.user, outcome=outcome, note=note)
        except reviews.ReviewNotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except EngagementError as exc:  # a bad outcome or note, or a decision already final
            self.message_user(request, f"Alert \u201c{alert}\u201d: {exc.message}", messages.ERROR)
            return redirect("admin:monitor_examsession_change", session_id)
        reviewer = alert.reviewed_by.get_username() if alert.reviewed_by else "-"
        done = f"recorded as {alert.get_review_outcome_display().lower()}" if outcome else "marked reviewed"
        self.message_user(request, f"Alert \u201c{alert}\u201d {done} (by {reviewer}).", messages.SUCCESS)
        return redirect(f"{reverse('admin:monitor_examsession_change', args=[session_id])}#alert-{alert.pk}")

    @admin.action(description="End the selected sessions", permissions=["end"])
    def end_sessions(self, request, queryset):
        """End each session as the API does: alerts closed, summary stored, socket and live view told."""
        running = [s for s in queryset if s.status != "ended"]
        for session in running:
            services.session_end_announced(session=session)
        self.message_user(request, f"{len(running)} session(s) ended; {len(queryset) - len(running)} had ended "
                          "already.", messages.SUCCESS)

    def has_end_permission(self, request):
        user = request.user
        return user.is_superuser or user.has_perm("monitor.add_examsession") or user.has_perm(
            "monitor.change_examsession")

    @admin.display(description="learner", ordering="learner__username")
    def learner_name(self, session):
        return cell_short(session.learner.get_username(), 32)

    @admin.display(description="course", ordering="course_id")
    def course(self, session):
        return cell_short(session.course_id)

    @admin.display(description="exam", ordering="exam_id")
    def exam(self, session):
        return cell_short(session.exam_id)

    @admin.display(description="started", ordering="started_at")
    def started(self, session):
        return cell_time(session.started_at)

    @admin.display(description="ended", ordering="ended_at")
    def ended(self, session):
        return cell_time(session.ended_at)

    @admin.display(description="unreviewed alerts", ordering="unreviewed_alert_count")
    def unreviewed_alert_count(self, session):
        return session.unreviewed_alert_count

    def has_change_permission(self, request, obj=None):
        # Reviewing alerts on the session's page is a POST to that page, which admin allows only with the
        # change permission; a reviewer gets the page but none of the session's fields (get_readonly_fields).
        return super().has_change_permission(request, obj) or may_review(request, obj)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "alerts_off":  # ticked from the registry's kinds rather than typed as JSON
            return forms.TypedMultipleChoiceField(choices=AlertKind.choices, required=False, label="Alerts off",
                                                  widget=forms.CheckboxSelectMultiple, help_text=db_field.help_text)
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "identity_check":
            field.validators.append(identity_check_validate)
        return field

    def get_readonly_fields(self, request, obj=None):
        if request.user.has_perm("monitor.change_examsession"):
            return self.readonly_fields
        return tuple(field for _, options in self.fieldsets for field in options["fields"])

    def response_add(self, request, obj, post_url_continue=None):
        """After adding a session, give the learner's one-time exam link (the LMS's exam_url, made here)."""
        link = request.build_absolute_uri(reverse("monitor:join", args=[services.session_join_token(session=obj)]))
        minutes = round(monitor_settings["JOIN_LINK_MAX_AGE"] / 60)
        self.message_user(request, format_html(
            'The learner\u2019s exam link (it works once, for {} minutes): <a href="{}" id="exam-link">{}</a>',
            minutes, link, link), messages.SUCCESS)
        return super().response_add(request, obj, post_url_continue)

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Only what was edited: a full save would overwrite the live state a running session writes meanwhile.
        columns = {f.name for f in obj._meta.concrete_fields}
        edited = [name for name in form.changed_data if name in columns]
        if edited:
            obj.save(update_fields=edited)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Alert:
            return super().save_formset(request, form, formset, change)
        # A posted id that is not one of this session's alerts (a tampered form) becomes an unsaved instance here.
        if any(f.instance.pk is None or f.instance.session_id != form.instance.pk for f in formset.forms):
            raise PermissionDenied("The form names alerts that are not this session's.")
        try:
            reviewed = [reviews.alert_review(alert=alert_form.instance, reviewer=request.user)
                        for alert_form in formset.forms
                        if alert_form.cleaned_data.get("mark_reviewed") and not alert_form.instance.reviewed_at]
        except reviews.ReviewNotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        # The review is the only edit an alert takes here, so the formset is not saved (a full save would
        # overwrite frame counts and closing times); admin's change message reads these three lists.
        formset.new_objects, formset.deleted_objects = [], []
        formset.changed_objects = [(alert, ["reviewed_by", "reviewed_at"]) for alert in reviewed]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {"title": "Exam session report", **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            from .. import charts  # loads matplotlib on the first report only

            report = selectors.session_report(session=obj)
            summary = report["summary"]
            context["report"] = {
                **report,
                "summary_is_stored": obj.summary is not None,
                "emotion_rows": sorted(report["emotion_shares"].items(), key=lambda item: -item[1]),
                "duration": _duration(summary.get("duration_seconds") or 0),
                "alert_count": sum((summary.get("alerts_by_kind") or {}).values()),
                "alerts_by_kind": [(AlertKind(kind).label if kind in AlertKind.values else kind, count)
                                   for kind, count in sorted((summary.get("alerts_by_kind") or {}).items())],
                "timeline_svg": charts.timeline_render(
                    points=report["timeline"], alerts=report["alerts"], frame_interval=obj.frame_interval,
                    low_score=monitor_settings["LOW_ENGAGEMENT_SCORE"]) if report["timeline"] else None,
                "status_svg": charts.status_bars_render(seconds_by_status=summary["seconds_by_status"])
                if summary.get("seconds_by_status") else None,
                "alert_rows": selectors.report_alert_rows(report=report, user=request.user),
                "may_decide": may_review(request, obj),
                # An integration's page to pause or end the attempt (lti's ACS), for those who may use it.
                "control_url": obj.control_url if obj.control_url and selectors.user_can_control(
                    user=request.user, session=obj) else "",
                "outcomes": ReviewOutcome.choices,
            }
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.action(description="Export logs as CSV", permissions=["view"])
    def export_logs_csv(self, request, queryset):
        """Stream the selected sessions' frame logs as one CSV file."""
        chunks = csv_chunks(selectors.engagement_log_rows(sessions=queryset))
        response = StreamingHttpResponse(csv_streamed(chunks, request), content_type="text/csv; charset=utf-8")
        name = f"engagement-logs-{timezone.now():%Y%m%d-%H%M%S}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
