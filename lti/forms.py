"""Forms of the lti app: the settings an instructor gives a link added through Deep Linking."""
from django import forms

from monitor.api import monitor_settings

from .services import FRAME_INTERVAL_RANGE


class LinkSettingsForm(forms.Form):
    """One proctored exam's settings, sent back to the LMS as the link's custom parameters."""

    title = forms.CharField(max_length=200, initial="Proctored exam", help_text="The name learners see in the course.")
    frame_interval = forms.FloatField(min_value=FRAME_INTERVAL_RANGE[0], max_value=FRAME_INTERVAL_RANGE[1],
                                      help_text="Seconds between two camera pictures analysed.")
    identity_check = forms.BooleanField(required=False, label="Check that the same person stays in view")
    evidence = forms.BooleanField(required=False, label="Keep a small encrypted picture with each alert")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["frame_interval"].initial = monitor_settings["FRAME_INTERVAL"]
        self.fields["identity_check"].initial = monitor_settings["IDENTITY_CHECK"]
