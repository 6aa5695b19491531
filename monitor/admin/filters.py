"""Admin list filters of sessions and alerts (yes/no questions)."""
from django.contrib import admin

from .. import selectors
from ..conf import monitor_settings



class YesNoFilter(admin.SimpleListFilter):
    """A yes/no filter; subclasses say how each answer filters."""

    def lookups(self, request, model_admin):
        return (("yes", "Yes"), ("no", "No"))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return self.answer(queryset, self.value() == "yes")
        return queryset

    def answer(self, queryset, yes: bool):
        raise NotImplementedError


class UnreviewedAlertsFilter(YesNoFilter):
    """Sessions with at least one alert nobody has reviewed."""

    title = "has unreviewed alerts"
    parameter_name = "unreviewed"

    def answer(self, queryset, yes):
        return selectors.sessions_filter(sessions=queryset, unreviewed_alerts=yes)


class LowScoreFilter(YesNoFilter):
    """Sessions whose average score is under the low-engagement threshold."""

    title = "low average score"
    parameter_name = "low_score"

    def lookups(self, request, model_admin):
        return (("yes", f"Yes (below {monitor_settings['LOW_ENGAGEMENT_SCORE']})"), ("no", "No"))

    def answer(self, queryset, yes):
        return selectors.sessions_filter(sessions=queryset, low_score=yes)


class ReviewedFilter(YesNoFilter):
    """Alerts somebody has reviewed, or not."""

    title = "reviewed"
    parameter_name = "reviewed"

    def answer(self, queryset, yes):
        return queryset.filter(reviewed_at__isnull=not yes)
