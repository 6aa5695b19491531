"""Admin forms: an alert's review box, a course assignment's choices, a webhook's URL and secret."""
from django import forms

from .. import selectors, webhooks
from ..models import Alert, CourseAssignment, Webhook



class AlertReviewForm(forms.ModelForm):
    """An alert whose only input is "mark reviewed": the reviewer and time are recorded, never typed."""

    mark_reviewed = forms.BooleanField(required=False, label="Mark reviewed")

    class Meta:
        model = Alert
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.reviewed_at:
            self.fields["mark_reviewed"].initial = True
            self.fields["mark_reviewed"].disabled = True


class CourseAssignmentForm(forms.ModelForm):
    """An assignment picked from lists: a course the tool knows (no typo can assign a course that does not exist)
    and a staff account (only staff can open the live view and the reports)."""

    course_id = forms.ChoiceField(label="Course", help_text=(
        "A course is known once the LMS has created an exam session in it or launched the tool from it."))

    class Meta:
        model = CourseAssignment
        fields = ("instructor", "course_id")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        known = selectors.courses_known()
        self.fields["course_id"].choices = [("", "---------")] + [
            (course, f"{label} ({course})" if label else course) for course, label in known]
        self.fields["instructor"].queryset = selectors.instructor_candidates()
        self.fields["instructor"].help_text = ("Staff accounts only: make the user staff and add them to the "
                                               "Instructors group first.")


class WebhookAdminForm(forms.ModelForm):
    """The webhook form: the same URL check as the API (no internal hosts, no credentials)."""

    url = forms.URLField(max_length=500, assume_scheme="https")
    # Never shown back: the form asks for a new secret and keeps the stored one when left empty.
    secret = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False, min_length=16,
                             max_length=200, help_text="Shared signing secret. Leave empty to keep the current one.")

    class Meta:
        model = Webhook
        fields = "__all__"

    def clean_secret(self):
        secret = self.cleaned_data.get("secret")
        if secret:
            return secret
        if self.instance.pk:
            return self.instance.secret
        raise forms.ValidationError("A new webhook needs a secret (16 characters at least).")

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            webhooks.webhook_url_check(url=url)
        except webhooks.UnsafeWebhookUrl as exc:
            raise forms.ValidationError(str(exc)) from None
        return url
