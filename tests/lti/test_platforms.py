"""Launches from a platform written from the 1EdTech specifications, with the claims Open edX, Moodle 4.x and Canvas
send: empty roles in proctoring messages, end_assessment_return, key rotation, opaque NRPS cursors, logins without
client_id, `aud` arrays, required `exp`/`iat`, and targets on other hosts refused."""
import html
import re
import time

import pytest
import requests
from django.contrib.auth import get_user_model
from lti_tool.models import LtiContext, LtiRegistration, LtiUser

from lti import services
from monitor.models import CourseAssignment, ExamSession
from tests.images import data_url, webcam_face
from tests.lti.conftest import spec_launch
from tests.lti.spec_platform import (AP, CLIENT_ID, INSTITUTION, LTI, MEMBERSHIP, NRPS, REMOVE, SYSTEM)

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()
OPENEDX_LEARNER = [INSTITUTION + "Student", MEMBERSHIP + "Learner"]  # lti-consumer-xblock's "student"
MOODLE_LEARNER = [MEMBERSHIP + "Learner"]
MOODLE_TEACHER = [INSTITUTION + "Instructor", MEMBERSHIP + "Instructor"]
CANVAS_LEARNER = [INSTITUTION + "Student", MEMBERSHIP + "Learner", SYSTEM + "User"]
CANVAS_TEACHER = [INSTITUTION + "Instructor", MEMBERSHIP + "Instructor", SYSTEM + "User"]


def nothing_created():
    return not (User.objects.exists() or LtiUser.objects.exists() or ExamSession.objects.exists())


def proctoring_claims(platform, attempt=1):
    return {AP + "start_assessment_url": f"{platform.url}/start-assessment", AP + "attempt_number": attempt}


def test_openedx_start_proctoring_with_no_roles_checks_the_camera_and_asks_for_end_assessment(openedx, live_server):
    # edx-exams builds LtiStartProctoring and LtiEndAssessment with `roles: []`.
    started = spec_launch(openedx, sub="8c1e5fb0a3", roles=[], message_type="LtiStartProctoring",
                          extra=proctoring_claims(openedx, attempt=2))
    session = ExamSession.objects.get()
    assert started.status == 200 and started.response.url.endswith(f"/lti/proctoring/{session.id}/"), started.text
    assert session.attempt_id == "2"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', started.text).group(1)
    headers = {"X-CSRFToken": token, "Referer": started.response.url}
    check = started.session.post(f"{live_server.url}/lti/proctoring/{session.id}/check/",
                                 json={"image": data_url(webcam_face())}, headers=headers, timeout=60)
    assert check.status_code == 200 and check.json()["ok"] is True, check.text
    form = started.session.post(f"{live_server.url}/lti/proctoring/{session.id}/start/",
                                data={"csrfmiddlewaretoken": token}, headers=headers, timeout=30)
    assert form.status_code == 200, form.text
    action = html.unescape(re.search(r'id="start-assessment" method="post" action="([^"]+)"', form.text).group(1))
    jwt_value = html.unescape(re.search(r'name="JWT" value="([^"]+)"', form.text).group(1))
    posted = requests.post(action, data={"JWT": jwt_value}, timeout=30)
    assert posted.status_code == 200 and "Assessment started" in posted.text, posted.text
    [claims] = openedx.started
    assert claims[AP + "end_assessment_return"] is True and claims[AP + "attempt_number"] == 2
    # The platform therefore sends LtiEndAssessment, again with no roles: the attempt's monitoring ends.
    ended = spec_launch(openedx, sub="8c1e5fb0a3", roles=[], message_type="LtiEndAssessment",
                        extra={AP + "attempt_number": 2, AP + "session_data": None})
    assert ended.status == 200 and "Monitoring of this attempt has ended" in ended.text, ended.text
    session.refresh_from_db()
    assert session.status == "ended"


def test_openedx_resource_link_with_no_roles_still_opens_nothing(openedx):
    # Only the proctoring messages are the learner's without a role; a plain launch with none says what roles do.
    answer = spec_launch(openedx, sub="8c1e5fb0a3", roles=[])
    assert answer.status == 403 and "Nothing to open" in html.unescape(answer.text) and nothing_created()


def test_openedx_start_proctoring_by_an_instructor_is_still_refused(openedx):
    answer = spec_launch(openedx, sub="staff-1", roles=[MEMBERSHIP + "Instructor"],
                         message_type="LtiStartProctoring", extra=proctoring_claims(openedx))
    assert answer.status == 403 and nothing_created()


def test_moodle_key_rotation_fetches_the_key_set_once_then_launches_go_on(moodle, live_server):
    assert spec_launch(moodle, sub="5", roles=MOODLE_LEARNER, context_id="2", resource_link_id="3").status == 200
    assert moodle.jwks_requests == 1
    moodle.rotate(keep_old=False)  # a new kid signs from now on; the cached key set does not have it
    rotated = spec_launch(moodle, sub="5", roles=MOODLE_LEARNER, context_id="2", resource_link_id="3")
    assert rotated.status == 200, rotated.text
    assert moodle.jwks_requests == 2
    # A made-up kid right after: refused without fetching the key set again (rate-limited).
    made_up = spec_launch(moodle, sub="6", roles=MOODLE_LEARNER, context_id="2", resource_link_id="3",
                          kid="no-such-kid")
    assert made_up.status == 400 and "Unable to find public key" in made_up.text
    assert moodle.jwks_requests == 2
    # And launches signed with the new key go on from the refreshed cache.
    assert spec_launch(moodle, sub="5", roles=MOODLE_LEARNER, context_id="2", resource_link_id="3").status == 200
    assert moodle.jwks_requests == 2


def test_moodle_launches_with_small_integer_ids_reach_the_exam_and_the_live_view(moodle, live_server):
    learner = spec_launch(moodle, sub="5", roles=MOODLE_LEARNER, context_id="2", resource_link_id="3")
    session = ExamSession.objects.get()
    assert learner.status == 200 and learner.response.url.endswith(f"/monitor/sessions/{session.id}/")
    assert session.course_id.endswith(":2") and session.exam_id == "3"
    assert session.learner.get_full_name() == "Lea Martin"
    teacher = spec_launch(moodle, sub="2", roles=MOODLE_TEACHER, context_id="2", resource_link_id="3")
    assert teacher.status == 200 and "/monitor/live/?course=" in teacher.response.url
    assert CourseAssignment.objects.filter(course_id=session.course_id).count() == 1


@pytest.mark.parametrize("roles, page", [(CANVAS_LEARNER, "/monitor/sessions/"),
                                         (CANVAS_TEACHER, "/monitor/live/?course=")])
def test_canvas_launches_with_null_valued_claims_reach_the_right_page(canvas, roles, page):
    answer = spec_launch(canvas, sub="535fa085f22b4655f48cd5a36a9215f64c062838", roles=roles,
                         context_id="4dde05e8ca1973bcca9bffc13e1548820eee93a3",
                         login={"lti_storage_target": REMOVE})
    assert answer.status == 200 and page in answer.response.url, (answer.status, answer.text[-500:])


@pytest.mark.parametrize("roles, page", [(["Learner"], "/monitor/sessions/"), (["Instructor"], "/monitor/live/")])
def test_short_role_names_of_lti_core_reach_the_right_page(moodle, roles, page):
    answer = spec_launch(moodle, sub="7", roles=roles, context_id="2", resource_link_id="3")
    assert answer.status == 200 and page in answer.response.url


def test_canvas_member_list_with_opaque_cursors_is_read_page_after_page(canvas):
    course = "4dde05e8ca1973bcca9bffc13e1548820eee93a3"
    nrps = {NRPS: {"context_memberships_url": f"{canvas.url}/nrps/{course}", "service_versions": ["2.0"]}}
    assert spec_launch(canvas, sub="t-1", roles=CANVAS_TEACHER, context_id=course, extra=nrps,
                       login={"lti_storage_target": REMOVE}).status == 200
    canvas.members[course] = [
        {"user_id": "t-1", "roles": [MEMBERSHIP + "Instructor"], "name": "Ines Dupont", "status": "Active"},
        {"user_id": "s-2", "roles": [MEMBERSHIP + "Learner"], "name": "Lea Martin"},
        {"user_id": "s-3", "roles": [MEMBERSHIP + "Learner"], "name": "Tom Ade"},
        {"user_id": "ta-4", "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"],
         "name": "Ana Ruiz", "email": None},
        {"user_id": "t-5", "roles": [MEMBERSHIP + "Instructor"], "name": "Bo Chen"},
    ]
    result = services.course_instructors_sync(context=LtiContext.objects.get())
    assert result["instructors"] == 3, (result, canvas.member_requests)
    # Three pages, each cursor requested exactly as the Link header gave it (and never otherwise). With Celery
    # workers the launch's own sync reads the pages too, so requests are compared as a set.
    cursors = {path.rsplit("?", 1)[-1] for path in canvas.member_requests if "?" in path}
    assert cursors == {"cursor=Pg1_AbC7x", "cursor=Pg2_AbC14x"}, canvas.member_requests
    names = {a.instructor.get_full_name() for a in CourseAssignment.objects.all()}
    assert names == {"Ines Dupont", "Ana Ruiz", "Bo Chen"}


@pytest.mark.parametrize("login_path", ["registration", "tool"])
def test_moodle_login_without_client_id_is_accepted(moodle, login_path):
    if login_path == "registration":  # the registration's own login URL names it
        moodle.login_path = f"/lti/login/{LtiRegistration.objects.get().uuid}/"
    answer = spec_launch(moodle, sub="5", roles=MOODLE_LEARNER, context_id="2", login={"client_id": REMOVE})
    assert answer.status == 200 and "/monitor/sessions/" in answer.response.url, answer.text[-500:]


def test_a_login_without_client_id_for_an_issuer_with_two_registrations_is_refused(moodle):
    LtiRegistration.objects.create(**{**moodle.tool_registration(), "client_id": "another-client"})
    answer = spec_launch(moodle, sub="5", roles=MOODLE_LEARNER, login={"client_id": REMOVE})
    assert answer.status == 400 and "registration" in html.unescape(answer.text) and nothing_created()


@pytest.mark.parametrize("aud, azp", [(["https://other.example/client", CLIENT_ID], CLIENT_ID),
                                      ([CLIENT_ID], REMOVE), (CLIENT_ID, REMOVE)])
def test_openedx_id_token_audiences_naming_this_tool_are_accepted(openedx, aud, azp):
    answer = spec_launch(openedx, sub="u-1", roles=OPENEDX_LEARNER, extra={"aud": aud, "azp": azp})
    assert answer.status == 200 and "/monitor/sessions/" in answer.response.url, answer.text[-500:]


@pytest.mark.parametrize("aud, azp, reason", [
    (["https://other.example/client", CLIENT_ID], REMOVE, "must name this tool's client id in azp"),
    (["https://other.example/client", CLIENT_ID], "https://other.example/client", "Registration not found"),
    (CLIENT_ID, "someone-else", "azp claim is not the audience"),
    ([], REMOVE, "Missing or invalid aud"),
])
def test_openedx_id_token_audiences_not_for_this_tool_are_refused(openedx, aud, azp, reason):
    answer = spec_launch(openedx, sub="u-1", roles=OPENEDX_LEARNER, extra={"aud": aud, "azp": azp})
    assert answer.status == 400 and reason in html.unescape(answer.text) and nothing_created(), answer.text[-500:]


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_moodle_id_token_without_exp_or_iat_is_refused(moodle, claim):
    answer = spec_launch(moodle, sub="5", roles=MOODLE_LEARNER, extra={claim: REMOVE})
    assert answer.status == 400 and f'missing the "{claim}" claim' in html.unescape(answer.text) and nothing_created()


def test_a_target_link_uri_on_another_host_is_refused_at_login(moodle):
    answer = spec_launch(moodle, sub="5", roles=MOODLE_LEARNER,
                         login={"target_link_uri": "https://other-tool.example/lti/launch/"})
    assert answer.status == 400 and "target_link_uri is not on this tool's host" in html.unescape(answer.text)
    assert "frame-ancestors *" in answer.response.headers["Content-Security-Policy"]  # readable in an LMS frame
    assert nothing_created()


@pytest.mark.parametrize("target", ["https://other-tool.example/lti/launch/", REMOVE])
def test_a_target_link_uri_on_another_host_or_none_is_refused_in_the_id_token(moodle, target):
    answer = spec_launch(moodle, sub="5", roles=MOODLE_LEARNER, extra={LTI + "target_link_uri": target})
    assert answer.status == 400 and "target_link_uri is not on this tool's host" in html.unescape(answer.text)
    assert nothing_created()


@pytest.mark.parametrize("ahead", [2, 10, 50])
def test_a_moodle_clock_a_few_seconds_ahead_still_launches(moodle, ahead):
    # Platforms' clocks drift: RFC 7519 4.1.4-4.1.6 expects a small leeway (LTI_CLOCK_SKEW_SECONDS, 60 s).
    now = int(time.time()) + ahead
    answer = spec_launch(moodle, sub="5", roles=MOODLE_LEARNER, extra={"iat": now, "nbf": now})
    assert answer.status == 200, answer.text[-500:]


@pytest.mark.parametrize("claims", [{"iat": 7200}, {"nbf": 7200}, {"exp": -120}])
def test_a_moodle_id_token_far_outside_its_times_is_refused(moodle, claims):
    now = int(time.time())
    answer = spec_launch(moodle, sub="5", roles=MOODLE_LEARNER, extra={k: now + v for k, v in claims.items()})
    assert answer.status == 400 and "Can't decode id_token" in html.unescape(answer.text) and nothing_created()


@pytest.mark.parametrize("session_data", [REMOVE, None, 42])
def test_openedx_start_proctoring_without_session_data_is_refused(openedx, session_data):
    # Proctoring Services 1.0: LtiStartProctoring carries the platform's session_data, which the start message
    # returns unchanged (lti-consumer-xblock always sends one: a random anti-CSRF token).
    answer = spec_launch(openedx, sub="8c1e5fb0a3", roles=[], message_type="LtiStartProctoring",
                         extra={**proctoring_claims(openedx), AP + "session_data": session_data})
    assert answer.status == 400 and "Missing or invalid session_data" in html.unescape(answer.text)
    assert nothing_created()


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_an_unsigned_or_symmetrically_signed_id_token_is_refused_saying_so(moodle, alg):
    answer = spec_launch(moodle, sub="5", roles=MOODLE_LEARNER, forged_alg=alg)
    assert answer.status == 400 and f"signed with '{alg}'" in html.unescape(answer.text) and nothing_created()


def test_a_canvas_tool_platform_without_its_guid_is_refused_naming_the_field(canvas):
    platform_claim = {"name": "Uni", "version": "cloud", "product_family_code": "canvas"}
    answer = spec_launch(canvas, sub="u-1", roles=CANVAS_LEARNER, extra={LTI + "tool_platform": platform_claim},
                         login={"lti_storage_target": REMOVE})
    assert answer.status == 400 and "required field 'guid' is missing" in html.unescape(answer.text)
    assert not ExamSession.objects.exists()
