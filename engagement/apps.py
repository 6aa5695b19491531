"""App configuration for engagement."""
from django.apps import AppConfig


class EngagementConfig(AppConfig):
    """Engagement analysis app."""

    name = "engagement"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .conf import engagement_settings

        engagement_settings.validate()  # a misspelt or mistyped ENGAGEMENT key stops the start, not a request
