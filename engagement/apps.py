"""App configuration for engagement."""
from django.apps import AppConfig


class EngagementConfig(AppConfig):
    """Engagement analysis app."""

    name = "engagement"
    default_auto_field = "django.db.models.BigAutoField"
