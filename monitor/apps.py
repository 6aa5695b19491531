"""App configuration for monitor."""
from django.apps import AppConfig


class MonitorConfig(AppConfig):
    """Proctored exam sessions app."""

    name = "monitor"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.conf import settings
        from django.db.models.signals import pre_save

        from .conf import monitor_settings, webhook_settings
        from .evidence import evidence_configuration_check
        from .identity import identity_configuration_check
        from .services import api_tokens_revoke_on_change

        pre_save.connect(api_tokens_revoke_on_change, sender=settings.AUTH_USER_MODEL, dispatch_uid="monitor.tokens")

        monitor_settings.validate()  # a misspelt or mistyped MONITOR or WEBHOOKS key stops the start
        webhook_settings.validate()

        evidence_configuration_check()  # no evidence pictures without their key: refuse to start
        identity_configuration_check()  # no identity check promised by the settings that cannot be made
