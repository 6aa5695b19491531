"""Models of the lti app: the Assessment Control Service a proctored attempt's platform offers, and the actions sent."""
from django.conf import settings
from django.db import models
from lti_tool.models import LtiRegistration


class AssessmentControl(models.Model):
    """Where to send control actions for one proctored attempt (LTI Proctoring Services 1.0, the acs claim)."""

    session = models.OneToOneField("monitor.ExamSession", on_delete=models.CASCADE,
                                   related_name="assessment_control")
    registration = models.ForeignKey(LtiRegistration, on_delete=models.CASCADE, related_name="+")
    issuer = models.CharField(max_length=255)
    sub = models.CharField(max_length=255, help_text="The learner on the platform.")
    resource_link_id = models.CharField(max_length=255)
    attempt_number = models.PositiveIntegerField()
    url = models.URLField(max_length=1000, help_text="The platform's assessment_control_url.")
    actions = models.JSONField(default=list, help_text="The actions the platform accepts.")


class ControlAction(models.Model):
    """One action an instructor sent to the platform about an attempt, and what the platform answered."""

    control = models.ForeignKey(AssessmentControl, on_delete=models.CASCADE, related_name="sent")
    action = models.CharField(max_length=16)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    answer = models.JSONField(null=True, blank=True, help_text="The platform's answer (its status of the attempt).")
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-requested_at"]
