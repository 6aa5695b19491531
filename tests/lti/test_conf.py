"""lti's settings: its defaults without the project's LTI block, read at use time, bad values refused at start-up."""
import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from lti.conf import lti_settings, lti_settings_check


def test_without_the_projects_block_lti_runs_on_its_defaults(settings):
    del settings.LTI
    assert lti_settings["CONTINUE_SECONDS"] == 300 and lti_settings["HTTP_HOSTS"] == []
    assert "frame-ancestors 'none'" in lti_settings["CONTENT_SECURITY_POLICY"]
    lti_settings_check()  # nothing to refuse


def test_the_projects_real_block_is_valid():
    lti_settings_check()


@pytest.mark.django_db
def test_a_framed_page_takes_lti_s_own_policy_at_use_time(settings):
    settings.LTI = {**settings.LTI, "CONTENT_SECURITY_POLICY": "default-src 'self'; form-action 'self'; "
                                                              "frame-ancestors 'none'; img-src 'self'"}
    answer = Client().get("/lti/login/")  # no target_link_uri: the page that says why, which any LMS may frame
    assert answer.status_code == 400
    assert answer["Content-Security-Policy"] == ("default-src 'self'; form-action 'self'; frame-ancestors *; "
                                                 "img-src 'self'")


@pytest.mark.parametrize("block, message", [
    ({"CONTINUE_SECOND": 300}, "unknown keys ['CONTINUE_SECOND']"),
    ({"HTTP_HOSTS": "localhost"}, "must be list, not str"),
    ({"CONTENT_SECURITY_POLICY": "default-src 'self'"}, "must contain \"frame-ancestors 'none'\""),
    ({"CONTENT_SECURITY_POLICY": "frame-ancestors 'none'"}, "must contain \"form-action 'self'\""),
])
def test_a_misspelt_mistyped_or_unusable_key_is_refused(settings, block, message):
    settings.LTI = block
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        lti_settings_check()
