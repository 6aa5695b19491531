"""App configuration for lti."""
from django.apps import AppConfig


class LtiConfig(AppConfig):
    """LTI 1.3 launches and LTI Proctoring Services: any LMS plugs the product in."""

    name = "lti"
    verbose_name = "LTI"
    default_auto_field = "django.db.models.BigAutoField"
