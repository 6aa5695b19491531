"""Forms of the lti app: the settings an instructor gives a link added through Deep Linking."""
from django import forms

from monitor.api import NOTICE_TEXT_MAX_LENGTH, AlertKind, identity_check_validate, monitor_settings

from .services import FRAME_INTERVAL_RANGE


class LinkSettingsForm(forms.Form):
    """One proctored exam's settings, sent back to the LMS as the link's custom parameters."""

    title = forms.CharField(max_length=200, initial="Proctored exam", help_text="The name learners see in the course.")
    frame_interval = forms.FloatField(min_value=FRAME_INTERVAL_RANGE[0], max_value=FRAME_INTERVAL_RANGE[1],
                                      help_text="Seconds between two camera pictures analysed.")
    identity_check = forms.BooleanField(required=False, label="Check that the same person stays in view",
                                        validators=[identity_check_validate])
    evidence = forms.BooleanField(required=False, label="Keep a small encrypted picture with each alert")
    alerts = forms.MultipleChoiceField(choices=AlertKind.choices, required=False, widget=forms.CheckboxSelectMultiple,
                                       initial=AlertKind.values, label="Alerts that are on",
                                       help_text="Those left unticked are never raised in this exam.")
    notice_text = forms.CharField(required=False, max_length=NOTICE_TEXT_MAX_LENGTH, widget=forms.Textarea(
        attrs={"rows": 4}), label="Retention notice", help_text="Your words on what is kept and for how long, shown "
                                  "to learners in the monitoring notice before the camera starts (optional).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["frame_interval"].initial = monitor_settings["FRAME_INTERVAL"]
        self.fields["identity_check"].initial = monitor_settings["IDENTITY_CHECK"]

    def alerts_off(self) -> list[str]:
        """The alert kinds left unticked, in the registry's order (for a valid form)."""
        return [kind for kind in AlertKind.values if kind not in self.cleaned_data["alerts"]]
