"""Fixtures for LTI: a real platform on loopback registered in the tool, and a browser-less launch helper."""
import html
import re
from urllib.parse import urljoin

import pytest
import requests
from lti_tool.models import Key, LtiDeployment, LtiRegistration

from tests.lti.platform import DEPLOYMENT_ID, Platform


def platform_registered(tool_url: str) -> Platform:
    """A platform for the tool at `tool_url`, registered in it (registration, active deployment), and a key."""
    platform = Platform(tool_url)
    registration = LtiRegistration.objects.create(**platform.tool_registration())
    LtiDeployment.objects.create(registration=registration, deployment_id=DEPLOYMENT_ID, is_active=True)
    Key.objects.generate()
    return platform


@pytest.fixture
def platform(live_server):
    """A platform registered in the tool served by pytest-django's live server."""
    platform = platform_registered(live_server.url)
    yield platform
    platform.stop()


class Launched:
    """Where a browser-less launch ended: the tool's last answer and the session that made it."""

    def __init__(self, response, session):
        self.response, self.session = response, session

    @property
    def status(self):
        return self.response.status_code

    @property
    def text(self):
        return self.response.text


def tool_course(platform, context_id: str = "course-v1:Uni+CS101+2026", deployment_id: str = DEPLOYMENT_ID) -> str:
    """The tool's course id for a context of the test platform (lti:<platform>:<context id>)."""
    from lti.services import lti_course_id

    return lti_course_id(issuer=platform.url, deployment_id=deployment_id, context_id=context_id)


def launch(platform, *, replay=None, headers=None, browser=None, **pending) -> Launched:
    """Launch the tool as a browser would, without running scripts: login, authorization, then the launch form.

    `replay` posts a form the platform sent before ({"id_token", "state"}) instead of a new one; `headers` go with
    the launch's POST (a framed launch sends Sec-Fetch-Dest: iframe); `browser` is a requests session to launch in
    (the cookies of earlier launches), a new one by default.
    """
    session = browser or requests.Session()
    if replay is None:
        authorized = session.get(platform.launch_url(**pending), timeout=30)
        assert authorized.status_code == 200, authorized.text[:500]
        action = html.unescape(re.search(r'action="([^"]*)"', authorized.text).group(1))
        form = platform.id_tokens[-1]
    else:
        action, form = urljoin(platform.tool_url, "/lti/launch/"), replay
    answer = session.post(action, data=form, headers=headers or {}, timeout=30)
    return Launched(answer, session)


def proctoring_opened(platform, live_server):
    """A learner's LtiStartProctoring launch: (the launch, its session, the camera check's URL, the headers to post)."""
    import re

    from monitor.models import ExamSession
    from tests.lti.platform import AP, LEARNER

    start = {AP + "start_assessment_url": f"{platform.url}/start-assessment", AP + "attempt_number": 1}
    launched = launch(platform, sub="learner-1", roles=LEARNER, message_type="LtiStartProctoring", extra=start)
    session = ExamSession.objects.get()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', launched.text).group(1)
    headers = {"X-CSRFToken": token, "Referer": launched.response.url}
    return launched, session, f"{live_server.url}/lti/proctoring/{session.id}/check/", headers


def spec_platform_registered(tool_url: str, shape: str):
    """A platform written from the 1EdTech specifications, shaped as `shape` sends claims, registered in the tool."""
    from tests.lti.spec_platform import SpecPlatform

    platform = SpecPlatform(tool_url, shape=shape)
    registration = LtiRegistration.objects.create(**platform.tool_registration())
    LtiDeployment.objects.create(registration=registration, deployment_id=platform.deployment_id, is_active=True)
    Key.objects.generate()
    return platform


@pytest.fixture
def openedx(live_server):
    """A platform that sends claims as Open edX's exam service and lti-consumer-xblock do."""
    platform = spec_platform_registered(live_server.url, "openedx")
    yield platform
    platform.stop()


@pytest.fixture
def moodle(live_server):
    """A platform that sends claims as Moodle 4.x does (small integer ids, full role URIs)."""
    platform = spec_platform_registered(live_server.url, "moodle")
    yield platform
    platform.stop()


@pytest.fixture
def canvas(live_server):
    """A platform that sends claims as Canvas does (null-valued claims, a storage target at login)."""
    platform = spec_platform_registered(live_server.url, "canvas")
    yield platform
    platform.stop()


def spec_launch(platform, *, browser=None, headers=None, **launch) -> Launched:
    """Launch from a spec platform as a browser would, without running scripts (login, authorization, launch)."""
    session = browser or requests.Session()
    authorized = session.get(platform.launch_url(**launch), timeout=30)
    if authorized.status_code != 200 or "/auth" not in authorized.url:
        return Launched(authorized, session)  # refused at login (or a page of the tool's own)
    action = html.unescape(re.search(r'action="([^"]*)"', authorized.text).group(1))
    answer = session.post(action, data=platform.id_tokens[-1], headers=headers or {}, timeout=30)
    return Launched(answer, session)
