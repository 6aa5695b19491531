"""App configuration for lti."""
from django.apps import AppConfig


class LtiConfig(AppConfig):
    """LTI 1.3 launches and LTI Proctoring Services: any LMS plugs the product in."""

    name = "lti"
    verbose_name = "LTI"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        """Check the LTI settings; export and erase what LTI keeps about a learner with monitor's learner data."""
        from monitor import api as monitor_privacy

        from . import privacy
        from .conf import lti_settings_check

        lti_settings_check()  # a misspelt or mistyped LTI key stops the start, not a launch

        monitor_privacy.learner_exported.connect(privacy.lti_learner_export, dispatch_uid="lti.export")
        monitor_privacy.learner_erased.connect(privacy.lti_learner_erase, dispatch_uid="lti.erase")
