"""App configuration for monitor."""
from django.apps import AppConfig


class MonitorConfig(AppConfig):
    """Proctored exam sessions app."""

    name = "monitor"
    default_auto_field = "django.db.models.BigAutoField"
