"""LTI Dynamic Registration 1.0: an LMS administrator pastes the tool's registration URL, the tool reads the
platform's OpenID configuration and registers itself; the rows stay inactive until the tool's administrator
approves them."""
import pytest
from django.contrib.auth import get_user_model
from lti_tool.models import Key, LtiDeployment, LtiRegistration

from tests.lti.conftest import spec_launch
from tests.lti.spec_platform import CLIENT_ID, MEMBERSHIP, SpecPlatform

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()


@pytest.fixture
def unregistered(live_server):
    """A Moodle-shaped platform the tool does not know yet."""
    Key.objects.generate()
    platform = SpecPlatform(live_server.url, shape="moodle")
    yield platform
    platform.stop()


class Answer:
    """A live server's answer with the test client's names (status_code, content, headers)."""

    def __init__(self, response):
        self.status_code, self.content, self.headers = response.status_code, response.content, response.headers


def register(platform, **params):
    """The LMS administrator's browser opens the tool's registration URL (on the live server, whose URLs the
    platform checks)."""
    import requests

    query = {"openid_configuration": f"{platform.url}/.well-known/openid-configuration",
             "registration_token": platform.registration_token, **params}
    return Answer(requests.get(f"{platform.tool_url}/lti/register/", params=query, timeout=30))


def test_moodle_dynamic_registration_waits_for_the_tools_administrator(unregistered, client, live_server):
    answer = register(unregistered)
    assert answer.status_code == 200 and "waits for approval" in answer.content.decode()
    assert "frame-ancestors *" in answer.headers["Content-Security-Policy"]  # Moodle opens it in a frame
    [metadata] = unregistered.registered
    tool = metadata["https://purl.imsglobal.org/spec/lti-tool-configuration"]
    assert [m["type"] for m in tool["messages"]] == ["LtiDeepLinkingRequest"]  # what this Moodle supports
    assert metadata["scope"] == "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
    registration = LtiRegistration.objects.get()
    assert (registration.issuer, registration.client_id, registration.is_active) == (unregistered.url, CLIENT_ID,
                                                                                      False)
    assert registration.keyset_url == unregistered.jwks_url
    assert list(LtiDeployment.objects.values_list("deployment_id", "is_active")) == [("1", False)]
    # Until approved, launches are refused and make nothing.
    refused = spec_launch(unregistered, sub="5", roles=[MEMBERSHIP + "Learner"])
    assert refused.status == 400 and not User.objects.exists()
    # The tool's administrator approves it on the registrations page.
    client.force_login(User.objects.create_superuser("root", password="x" * 12))
    page = client.get("/lti/registrations/")
    assert page.status_code == 200 and f'id="approve-{registration.pk}"' in page.content.decode()
    assert client.post("/lti/registrations/", {"registration": registration.pk}).status_code == 302
    assert LtiRegistration.objects.get().is_active and LtiDeployment.objects.get().is_active
    launched = spec_launch(unregistered, sub="5", roles=[MEMBERSHIP + "Learner"])
    assert launched.status == 200 and "/monitor/sessions/" in launched.response.url


@pytest.mark.parametrize("case, params, reason", [
    ("no configuration URL", {"openid_configuration": ""}, "must be an https URL"),
    ("plain http to another host", {"openid_configuration": "http://lms.example/.well-known/openid-configuration"},
     "must be an https URL"),
    ("nothing there", {"openid_configuration": "{url}/nothing-here"}, "could not be read (HTTPError)"),
    ("issuer of another URL", {"openid_configuration": "{url}/.well-known/openid-configuration?x=1",
                               "issuer": "https://other.example"}, "issuer does not match"),
    ("a wrong registration token", {"registration_token": "stolen"}, "refused the registration (HTTP 401)"),
])
def test_dynamic_registrations_that_cannot_be_trusted_are_refused(unregistered, client, case, params, reason,
                                                                    monkeypatch):
    if "issuer" in params:
        config = unregistered.openid_configuration()
        monkeypatch.setattr(unregistered, "openid_configuration", lambda: {**config, "issuer": params.pop("issuer")})
    params = {k: v.format(url=unregistered.url) for k, v in params.items()}
    answer = register(unregistered, **params)
    assert 400 <= answer.status_code < 500 and reason in answer.content.decode(), (case, answer.content[-500:])
    assert not LtiRegistration.objects.exists()


def test_the_same_registration_twice_is_refused(unregistered, client):
    assert register(unregistered).status_code == 200
    again = register(unregistered)
    assert again.status_code == 409 and "already registered" in again.content.decode()
    assert LtiRegistration.objects.count() == 1


def test_only_administrators_approve_registrations(unregistered, client):
    assert register(unregistered).status_code == 200
    client.force_login(User.objects.create_user("lea"))
    assert client.get("/lti/registrations/").status_code == 403
    assert client.post("/lti/registrations/", {"registration": LtiRegistration.objects.get().pk}).status_code == 403
    assert not LtiRegistration.objects.get().is_active
    client.force_login(User.objects.create_superuser("root", password="x" * 12))
    for number in ("999999", "abc", ""):
        assert client.post("/lti/registrations/", {"registration": number}).status_code == 404
