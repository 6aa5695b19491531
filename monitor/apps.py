"""App configuration for monitor."""
from django.apps import AppConfig


class MonitorConfig(AppConfig):
    """Proctored exam sessions app."""

    name = "monitor"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .evidence import evidence_configuration_check

        evidence_configuration_check()  # no evidence pictures without their key: refuse to start
