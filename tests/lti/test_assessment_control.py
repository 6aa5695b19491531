"""Assessment Control Service (LTI Proctoring Services 1.0, section 5): an instructor pauses or terminates an Open edX
attempt from the tool; the action goes to the platform with a client-credentials token and its answer is recorded."""
import pytest
from django.contrib.auth import get_user_model

from lti.models import ControlAction
from monitor.models import CourseAssignment, ExamSession
from tests.lti.conftest import spec_launch
from tests.lti.spec_platform import AP

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()
ACS = AP + "acs"


def start(platform, acs):
    extra = {AP + "start_assessment_url": f"{platform.url}/start-assessment", AP + "attempt_number": 3, ACS: acs}
    launched = spec_launch(platform, sub="8c1e5fb0a3", roles=[], message_type="LtiStartProctoring", extra=extra)
    assert launched.status == 200, launched.text[-500:]
    return ExamSession.objects.get()


def instructor_of(session, client):
    teacher = User.objects.create_user("teacher", is_staff=True)
    CourseAssignment.objects.create(instructor=teacher, course_id=session.course_id)
    client.force_login(teacher)
    return teacher


def test_openedx_attempt_paused_then_terminated_by_its_instructor(openedx, client):
    session = start(openedx, {"actions": ["pause", "resume", "terminate", "update"],
                              "assessment_control_url": f"{openedx.url}/acs"})
    teacher = instructor_of(session, client)
    page = client.get(f"/lti/control/{session.id}/")
    text = page.content.decode()
    assert page.status_code == 200 and 'id="action-pause"' in text and 'id="action-terminate"' in text
    assert client.post(f"/lti/control/{session.id}/", {"action": "pause"}).status_code == 302
    assert client.post(f"/lti/control/{session.id}/", {"action": "terminate"}).status_code == 302
    paused, terminated = openedx.controls
    assert paused == {"user": {"iss": openedx.url, "sub": "8c1e5fb0a3"},
                      "resource_link": {"id": "block-v1:edX+Proctor+2026+type@sequential+block@final"},
                      "attempt_number": 3, "action": "pause", "incident_time": paused["incident_time"]}
    assert terminated["action"] == "terminate"
    recorded = list(ControlAction.objects.order_by("requested_at").values_list("action", "http_status", "answer",
                                                                                "requested_by"))
    assert recorded == [("pause", 200, {"status": "paused"}, teacher.pk),
                        ("terminate", 200, {"status": "terminated"}, teacher.pk)]
    assert "status: terminated" in client.get(f"/lti/control/{session.id}/").content.decode()


def test_an_action_the_platform_did_not_offer_is_refused_and_nothing_sent(openedx, client):
    session = start(openedx, {"actions": ["pause"], "assessment_control_url": f"{openedx.url}/acs"})
    instructor_of(session, client)
    for action in ("terminate", "delete-everything", ""):
        answer = client.post(f"/lti/control/{session.id}/", {"action": action})
        assert answer.status_code == 400, action
    assert openedx.controls == [] and not ControlAction.objects.exists()


def test_a_refusing_platform_is_recorded_as_such(openedx, client):
    session = start(openedx, {"actions": ["pause"], "assessment_control_url": f"{openedx.url}/acs"})
    instructor_of(session, client)
    openedx.tokens.clear()
    from tests.lti import spec_platform

    # The platform grants tokens without the ACS scope: it answers 401, which the session's record keeps.
    original = spec_platform.ACS_SCOPE
    spec_platform.ACS_SCOPE = "https://purl.imsglobal.org/spec/lti-ap/scope/other"
    try:
        assert client.post(f"/lti/control/{session.id}/", {"action": "pause"}).status_code == 302
    finally:
        spec_platform.ACS_SCOPE = original
    [sent] = ControlAction.objects.all()
    assert (sent.http_status, sent.error) == (401, "The platform answered HTTP 401.")
    assert "The platform answered HTTP 401." in client.get(f"/lti/control/{session.id}/").content.decode()


@pytest.mark.parametrize("acs", [None, {"actions": ["pause"]}, {"actions": ["pause"],
                                                                  "assessment_control_url": "javascript:alert(1)"}])
def test_without_a_usable_acs_claim_the_page_says_to_use_the_lms(openedx, client, acs):
    session = start(openedx, acs)
    instructor_of(session, client)
    page = client.get(f"/lti/control/{session.id}/")
    assert page.status_code == 200 and 'id="no-control"' in page.content.decode()
    assert client.post(f"/lti/control/{session.id}/", {"action": "pause"}).status_code == 404


def test_only_the_courses_instructors_control_its_attempts(openedx, client):
    session = start(openedx, {"actions": ["pause"], "assessment_control_url": f"{openedx.url}/acs"})
    client.force_login(User.objects.create_user("other-teacher", is_staff=True))
    assert client.get(f"/lti/control/{session.id}/").status_code == 404
    assert client.post(f"/lti/control/{session.id}/", {"action": "pause"}).status_code == 404
    client.force_login(session.learner)
    assert client.post(f"/lti/control/{session.id}/", {"action": "pause"}).status_code in (403, 404)
    assert openedx.controls == []


ACS_OFFERED = {"actions": ["pause", "resume", "terminate"]}


@pytest.mark.parametrize("acs, linked", [
    (ACS_OFFERED, True),
    (None, False),  # no acs claim
    ({"actions": ["update"]}, False),  # nothing an instructor can send from the tool
])
def test_the_live_row_links_to_the_control_page_only_when_the_launch_offered_acs(openedx, acs, linked):
    from monitor.selectors import session_live_row

    session = start(openedx, acs and {**acs, "assessment_control_url": f"{openedx.url}/acs"})
    expected = f"/lti/control/{session.id}/" if linked else ""
    assert session.control_url == expected
    assert session_live_row(session=session)["control_url"] == (expected or None)


def report_of(client, session):
    page = client.get(f"/admin/monitor/examsession/{session.pk}/change/")
    assert page.status_code == 200
    return page.content.decode()


def test_the_report_and_its_critical_alerts_link_to_the_control_page_for_the_courses_instructors(openedx, client):
    from tests.monitor.test_admin import make_instructor, record

    session = start(openedx, {**ACS_OFFERED, "assessment_control_url": f"{openedx.url}/acs"})
    record(session, ["face", "two", "two", "face"])  # a critical alert (several faces), closed since
    client.force_login(make_instructor("ines", session.course_id))
    text = report_of(client, session)
    url = f"/lti/control/{session.id}/"
    assert f'<a id="control-link" href="{url}">Pause\n    or end this attempt</a>' in text
    critical = text[text.index('data-kind="multiple_faces"'):]
    assert f'<a class="alert-control" href="{url}">Pause or end the attempt</a>' in critical[:critical.index("</li>")]
    assert client.get(url).status_code == 200  # the link opens the page for them
    # An instructor of another course: neither the report nor the page.
    client.force_login(make_instructor("otto", "another-course"))
    assert client.get(f"/admin/monitor/examsession/{session.pk}/change/").status_code == 302
    assert client.get(url).status_code == 404


def test_a_report_without_acs_has_no_control_link(openedx, client):
    from tests.monitor.test_admin import make_instructor, record

    session = start(openedx, None)
    record(session, ["two", "two"])
    client.force_login(make_instructor("ines", session.course_id))
    text = report_of(client, session)
    assert 'data-kind="multiple_faces"' in text and "/lti/control/" not in text


def test_an_instructor_never_controls_their_own_attempt(openedx, client):
    from tests.monitor.test_admin import instructors_group

    session = start(openedx, {**ACS_OFFERED, "assessment_control_url": f"{openedx.url}/acs"})
    learner = session.learner
    learner.is_staff = True  # the learner became an instructor of the course meanwhile
    learner.save()
    learner.groups.add(instructors_group())
    CourseAssignment.objects.create(instructor=learner, course_id=session.course_id)
    client.force_login(learner)
    # They read their own report (as any learner may), without the link.
    text = report_of(client, session)
    assert "Exam session report" in text and "/lti/control/" not in text
    assert client.get(f"/lti/control/{session.id}/").status_code == 404
    assert client.post(f"/lti/control/{session.id}/", {"action": "pause"}).status_code == 404
    assert openedx.controls == []


def test_a_control_url_on_an_internal_address_is_refused_before_the_token(openedx, client, settings):
    """As a member list's (issue 25, low 8): the control URL the launch names must be https on a public address
    (the test platform is on loopback, allowed by the tests' LTI_INTERNAL_HOSTS); nothing is sent otherwise."""
    session = start(openedx, {"actions": ["pause"], "assessment_control_url": f"{openedx.url}/acs"})
    instructor_of(session, client)
    settings.LTI = {**settings.LTI, "INTERNAL_HOSTS": []}
    tokens = len(openedx.tokens)
    assert client.post(f"/lti/control/{session.id}/", {"action": "pause"}).status_code == 302
    [sent] = ControlAction.objects.all()
    assert sent.http_status is None and "not a public address" in sent.error, sent.error
    assert openedx.controls == [] and len(openedx.tokens) == tokens
