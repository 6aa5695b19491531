"""App settings: defaults without the project's block, the project's values over them, bad values refused."""
import pytest
from django.core.exceptions import ImproperlyConfigured

from engagement.conf import engagement_settings
from monitor.conf import monitor_settings, retention_days, webhook_settings


def test_without_the_projects_blocks_the_apps_run_on_their_defaults(settings):
    del settings.ENGAGEMENT, settings.MONITOR, settings.WEBHOOKS, settings.RETENTION_DAYS
    assert engagement_settings["ENGINE"] == "engagement.engines.bundled.BundledEngine"
    assert engagement_settings["MAX_REQUEST_BYTES"] == 10 * 1024 * 1024
    assert monitor_settings["ABSENT_SECONDS"] == 10 and monitor_settings["COURSE_SOURCES"] == []
    assert webhook_settings["MAX_ATTEMPTS"] == 6 and retention_days() == 365
    for app_settings in (engagement_settings, monitor_settings, webhook_settings):
        app_settings.validate()  # nothing to refuse


def test_the_project_sets_only_what_it_changes(settings):
    settings.ENGAGEMENT = {"BATCH_MAX_FRAMES": 7}
    settings.MONITOR = {"ABSENT_SECONDS": 3}
    assert engagement_settings["BATCH_MAX_FRAMES"] == 7 and engagement_settings["MAX_IMAGE_PIXELS"] == 4096 * 4096
    assert monitor_settings["ABSENT_SECONDS"] == 3 and monitor_settings["FRAME_INTERVAL"] == 5.0
    assert dict(engagement_settings)["BATCH_MAX_FRAMES"] == 7 and len(engagement_settings) == len(
        engagement_settings.defaults)
    engagement_settings.validate()
    monitor_settings.validate()


def test_the_projects_real_blocks_are_valid():
    engagement_settings.validate()
    monitor_settings.validate()
    webhook_settings.validate()


@pytest.mark.parametrize("block, message", [
    ({"MAX_REQUEST_BYTE": 1}, "unknown keys ['MAX_REQUEST_BYTE']"),
    ({"MAX_REQUEST_BYTES": "10 MB"}, "must be int, not str"),
    ({"WARM_UP": 1}, "must be bool, not int"),
])
def test_a_misspelt_or_mistyped_key_is_refused(settings, block, message):
    settings.ENGAGEMENT = block
    with pytest.raises(ImproperlyConfigured, match=message.replace("[", r"\[").replace("]", r"\]")):
        engagement_settings.validate()


def test_a_block_that_is_not_a_dict_is_refused(settings):
    settings.MONITOR = [("ABSENT_SECONDS", 3)]
    with pytest.raises(ImproperlyConfigured, match="MONITOR must be a dict"):
        monitor_settings.validate()
