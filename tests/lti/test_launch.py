"""LTI 1.3 launches from a real platform (lti1p3platform on loopback): learners, instructors, other roles, and
every kind of bad launch refused with a page and a 4xx, creating nothing."""
import re
import threading
import time
from urllib.parse import urlencode

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import call_command
from lti_tool.models import Key, LtiDeployment, LtiUser

from monitor import services as monitor_services
from monitor.models import CourseAssignment, ExamSession
from tests.lti.conftest import launch, proctoring_opened, tool_course
from tests.lti.platform import (AP, INSTRUCTOR, LEARNER, LTI, REMOVE, TEACHING_ASSISTANT, rsa_pem_pair)

pytestmark = pytest.mark.django_db(transaction=True)
COURSE = "course-v1:Uni+CS101+2026"
User = get_user_model()


def test_a_learner_launch_creates_the_user_and_the_session_once(platform, live_server):
    first = launch(platform, sub="learner-1", roles=LEARNER)
    session = ExamSession.objects.get()
    assert first.status == 200 and first.response.url == f"{live_server.url}/monitor/sessions/{session.id}/"
    assert "This exam is monitored through your webcam" in first.text
    assert (session.course_id, session.exam_id) == (tool_course(platform), "final-exam")
    assert session.course_id.startswith("lti:") and session.course_id.endswith(":" + COURSE)
    user = session.learner
    assert user.username.startswith("lea-martin-") and not user.has_usable_password()
    assert (user.get_full_name(), user.email, user.is_staff) == ("Lea Martin", "lea@uni.example", False)
    assert LtiUser.objects.get(sub="learner-1").auth_user == user
    # The same platform user again: the same local user and the running session resumed.
    again = launch(platform, sub="learner-1", roles=LEARNER)
    assert again.response.url == first.response.url and ExamSession.objects.count() == 1
    # The login opens that exam only.
    assert again.session.get(f"{live_server.url}/monitor/live/", timeout=30).status_code == 403


@pytest.mark.parametrize("roles", [INSTRUCTOR, TEACHING_ASSISTANT])
def test_an_instructor_launch_lands_on_the_live_view_of_that_course_only(platform, live_server, roles):
    lea = User.objects.create_user("lea")
    course = tool_course(platform)
    monitor_services.session_create(learner=lea, course_id=course, exam_id="final-exam")
    monitor_services.session_create(learner=lea, course_id="another-course", exam_id="quiz")
    # The same context id through the REST API, and through another deployment: other courses.
    monitor_services.session_create(learner=lea, course_id=COURSE, exam_id="api-exam")
    monitor_services.session_create(learner=lea, course_id=tool_course(platform, deployment_id="deployment-2"),
                                    exam_id="other-deployment-exam")
    answer = launch(platform, sub="teacher-1", roles=roles, name="Ines Dupont", email="ines@uni.example")
    assert answer.status == 200 and answer.response.url.endswith("/monitor/live/?" + urlencode({"course": course}))
    assert f"Live sessions of {course}" in answer.text
    assert "final-exam" in answer.text
    for other in ("another-course", "api-exam", "other-deployment-exam"):
        assert other not in answer.text
    ines = LtiUser.objects.get(sub="teacher-1").auth_user
    assert ines.is_staff and ines.groups.filter(name="Instructors").exists()
    assert list(CourseAssignment.objects.filter(instructor=ines).values_list("course_id", flat=True)) == [course]
    # Their reports: the admin lists that course's sessions, not the others'.
    sessions = answer.session.get(f"{live_server.url}/admin/monitor/examsession/", timeout=30)
    assert sessions.status_code == 200 and "final-exam" in sessions.text
    for other in ("another-course", "api-exam", "other-deployment-exam"):
        assert other not in sessions.text


def test_other_roles_get_a_page_saying_what_each_role_may_do(platform):
    answer = launch(platform, sub="admin-1", roles=["http://purl.imsglobal.org/vocab/lis/v2/membership#Administrator"])
    assert answer.status == 403 and "Nothing to open for your role" in answer.text
    assert "Learners" in answer.text and "Instructors and teaching assistants" in answer.text
    assert not User.objects.exists() and not LtiUser.objects.exists()


def nothing_created():
    return not (User.objects.exists() or LtiUser.objects.exists() or ExamSession.objects.exists())


@pytest.mark.parametrize("case, pending, reason", [
    ("unknown issuer", {"issuer": "http://localhost:1/other-platform"}, "Registration not found"),
    ("unknown deployment", {"deployment_id": "somebody-elses"}, "Unable to find deployment"),
    ("bad signature", {"sign_with": rsa_pem_pair()[0]}, "Signature verification failed"),
    ("expired token", {"expires_in": -60}, "Signature has expired"),
    ("wrong audience", {"client_id": "another-tool"}, "Registration not found"),
    ("no user", {"extra": {"sub": REMOVE}}, "Must have a user (sub)"),
    ("no roles", {"extra": {LTI + "roles": REMOVE}}, "Missing Roles Claim"),
    ("no resource link", {"extra": {LTI + "resource_link": REMOVE}}, "Missing Resource Link Id"),
    ("wrong version", {"extra": {LTI + "version": "1.1"}}, "Incorrect version"),
    ("no course", {"context_id": None}, "names no course"),
    ("unknown message type", {"message_type": "LtiMadeUpRequest"}, "Unrecognized message type"),
    ("a user that is not a string", {"extra": {"sub": {"id": 1}}}, "must be a string"),
    ("a course that is not an object", {"extra": {LTI + "context": "CS101"}}, "names no course"),
    ("roles that are not strings", {"extra": {LTI + "roles": [{"role": "Learner"}]}}, "Nothing to open"),
    ("a resource link that is not an object", {"message_type": "LtiStartProctoring",
                                               "extra": {LTI + "resource_link": "exam"}}, "Missing Resource Link Id"),
    ("unsupported message type", {"message_type": "LtiSubmissionReviewRequest",
                                  "extra": {LTI + "for_user": {"user_id": "learner-1"},
                                            "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
                                                "scope": [], "lineitem": "http://localhost/lineitem"}}},
     "does not handle LtiSubmissionReviewRequest"),
    ("start proctoring without a start URL", {"message_type": "LtiStartProctoring",
                                               "extra": {AP + "attempt_number": 1}}, "start_assessment_url"),
    ("start proctoring without an attempt", {"message_type": "LtiStartProctoring",
                                              "extra": {AP + "start_assessment_url": "http://localhost/x"}},
     "attempt_number"),
])
def test_bad_launches_are_refused_with_a_page_and_create_nothing(platform, case, pending, reason):
    answer = launch(platform, sub="learner-1", roles=LEARNER, **pending)
    assert 400 <= answer.status < 500, (case, answer.status)
    assert "could not be accepted" in answer.text or "Nothing to open" in answer.text, case
    assert reason in answer.text, (case, answer.text[-600:])
    assert nothing_created(), case


def test_a_replayed_launch_is_refused(platform):
    first = launch(platform, sub="learner-1", roles=LEARNER)
    assert first.status == 200 and ExamSession.objects.count() == 1
    replay = launch(platform, replay=platform.id_tokens[-1])
    assert replay.status == 400 and "already used (replayed nonce)" in replay.text
    assert ExamSession.objects.count() == 1


def test_a_state_the_tool_did_not_issue_is_refused(platform):
    import requests

    browser = requests.Session()
    assert browser.get(platform.launch_url(sub="learner-1", roles=LEARNER), timeout=30).status_code == 200
    form = dict(platform.id_tokens[-1], state="state-made-up")
    answer = browser.post(f"{platform.tool_url}/lti/launch/", data=form, timeout=30)
    assert answer.status_code == 400 and "State not found" in answer.text and nothing_created()


def test_an_inactive_deployment_is_refused(platform):
    LtiDeployment.objects.update(is_active=False)
    answer = launch(platform, sub="learner-1", roles=LEARNER)
    assert answer.status == 403 and "not active" in answer.text and nothing_created()


def test_end_assessment_ends_the_attempts_session(platform):
    start = {AP + "start_assessment_url": f"{platform.url}/start-assessment", AP + "attempt_number": 2,
             AP + "session_data": "opaque-42"}
    started = launch(platform, sub="learner-1", roles=LEARNER, message_type="LtiStartProctoring", extra=start)
    session = ExamSession.objects.get()
    assert started.status == 200 and started.response.url.endswith(f"/lti/proctoring/{session.id}/")
    assert session.attempt_id == "2"
    ended = launch(platform, sub="learner-1", roles=LEARNER, message_type="LtiEndAssessment",
                   extra={AP + "attempt_number": 2,
                          LTI + "launch_presentation": {"return_url": f"{platform.url}/course"}})
    assert ended.status == 200 and "Monitoring of this attempt has ended" in ended.text
    assert f'href="{platform.url}/course"' in ended.text
    session.refresh_from_db()
    assert session.status == "ended" and session.summary is not None


def test_names_and_roles_sync_the_course_instructors(platform, live_server):
    members_url = f"{platform.url}/memberships/{COURSE}"
    nrps = {"https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
        "context_memberships_url": members_url, "service_versions": ["2.0"]}}
    assert launch(platform, sub="teacher-1", roles=INSTRUCTOR, extra=nrps).status == 200
    platform.members[COURSE] = [
        {"user_id": "teacher-1", "roles": INSTRUCTOR, "status": "Active", "name": "Ines Dupont"},
        {"user_id": "ta-2", "roles": TEACHING_ASSISTANT, "name": "Tom Ade", "email": "tom@uni.example"},
        {"user_id": "learner-3", "roles": LEARNER, "name": "Lea Martin"},
        {"user_id": "gone-4", "roles": INSTRUCTOR, "status": "Inactive", "name": "Old Prof"},
    ]
    call_command("lti_sync_instructors")
    course = tool_course(platform)
    assigned = {a.instructor.get_full_name() for a in CourseAssignment.objects.filter(course_id=course)}
    assert assigned == {"Ines Dupont", "Tom Ade"} and LtiUser.objects.get(sub="ta-2").auth_user.is_staff
    assert not LtiUser.objects.filter(sub="learner-3").exists()
    # Tom left the course: his assignment goes; one made by hand for a local account stays.
    local = User.objects.create_user("local-instructor")
    CourseAssignment.objects.create(instructor=local, course_id=course)
    platform.members[COURSE] = platform.members[COURSE][:1]
    call_command("lti_sync_instructors", course=course)  # the tool's course id, or the platform's context id
    kept = set(CourseAssignment.objects.filter(course_id=course).values_list("instructor__username", flat=True))
    assert kept == {LtiUser.objects.get(sub="teacher-1").auth_user.username, "local-instructor"}


def test_keys_rotate_and_the_set_up_page_gives_the_values_to_enter(platform, live_server, client):
    call_command("rotate_keys")
    jwks = client.get("/lti/jwks/").json()
    assert len(jwks["keys"]) == 2 and {k["alg"] for k in jwks["keys"]} == {"RS256"}
    call_command("rotate_keys", deactivate_after=0)
    assert Key.objects.active().count() == 1
    admin = User.objects.create_superuser("root", password="x" * 12)
    client.force_login(admin)
    page = client.get("/lti/setup/")
    text = page.content.decode()
    assert page.status_code == 200
    for value in ("http://testserver/lti/launch/", "http://testserver/lti/login/", "http://testserver/lti/jwks/",
                  platform.url, "deployment-1", tool_course(platform, context_id="")):
        assert value in text
    learner = User.objects.create_user("lea")
    client.force_login(learner)
    assert client.get("/lti/setup/").status_code == 403


def test_without_a_signing_key_the_login_says_what_to_do(platform):
    import requests

    Key.objects.all().delete()
    answer = requests.get(platform.launch_url(sub="learner-1", roles=LEARNER), timeout=30)
    assert answer.status_code == 503 and "manage.py rotate_keys" in answer.text and nothing_created()


def test_the_camera_check_answers_bad_input_in_json(platform, live_server):
    launched, session, url, headers = proctoring_opened(platform, live_server)
    token = headers["X-CSRFToken"]
    for body, error in ((b"{not json", "invalid_json"), (b'{"image": "not an image"}', None), (b"[]", None)):
        answer = launched.session.post(url, data=body, headers=headers, timeout=30)
        assert answer.status_code == 400 and answer.json()["ok"] is False, (body, answer.text)
        assert error is None or answer.json()["error"] == error
    # Starting without a passed check is refused; the platform hears nothing.
    refused = launched.session.post(f"{live_server.url}/lti/proctoring/{session.id}/start/",
                                    data={"csrfmiddlewaretoken": token}, headers={"Referer": launched.response.url},
                                    timeout=30)
    assert refused.status_code == 409 and platform.started == []


def test_an_instructor_launch_syncs_the_course_on_a_worker_when_scaled(platform, celery_workers):
    import time

    from lti_tool.models import LtiContext

    from lti.tasks import course_instructors_sync

    platform.members[COURSE] = [{"user_id": "teacher-1", "roles": INSTRUCTOR, "name": "Ines Dupont"},
                                {"user_id": "ta-2", "roles": TEACHING_ASSISTANT, "name": "Tom Ade"}]
    nrps = {"https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
        "context_memberships_url": f"{platform.url}/memberships/{COURSE}", "service_versions": ["2.0"]}}
    assert launch(platform, sub="teacher-1", roles=INSTRUCTOR, extra=nrps).status == 200
    if celery_workers is None:  # embedded: no broker, so the launch queued nothing; the task runs here
        course_instructors_sync.apply(kwargs={"context_id": LtiContext.objects.get().pk})
    deadline = time.monotonic() + 60
    course = tool_course(platform)
    while not LtiUser.objects.filter(sub="ta-2", auth_user__course_assignments__course_id=course).exists():
        assert time.monotonic() < deadline, "the worker did not sync the course's instructors"
        time.sleep(0.2)


def test_an_administrator_registers_a_platform_and_its_deployment_in_the_admin(client):
    from lti_tool.models import LtiRegistration

    client.force_login(User.objects.create_superuser("root", password="x" * 12))
    form = client.get("/admin/lti_tool/ltiregistration/add/")
    assert form.status_code == 200 and "Deployment ID" in form.content.decode()
    answer = client.post("/admin/lti_tool/ltiregistration/add/", {
        "name": "Moodle", "uuid": "5b1d3c7e-0000-4000-8000-000000000001", "issuer": "https://moodle.uni.example",
        "client_id": "Abc123", "audience": "", "auth_url": "https://moodle.uni.example/mod/lti/auth.php",
        "token_url": "https://moodle.uni.example/mod/lti/token.php",
        "keyset_url": "https://moodle.uni.example/mod/lti/certs.php", "is_active": "on",
        "public_key": "", "private_key": "",
        "deployments-TOTAL_FORMS": "1", "deployments-INITIAL_FORMS": "0", "deployments-MIN_NUM_FORMS": "0",
        "deployments-MAX_NUM_FORMS": "1000", "deployments-0-deployment_id": "3", "deployments-0-is_active": "on",
        "deployments-0-pns_url": ""})
    assert answer.status_code == 302, answer.content.decode()[-2000:]
    registration = LtiRegistration.objects.get(client_id="Abc123")
    assert [(d.deployment_id, d.is_active) for d in registration.deployments.all()] == [("3", True)]
    assert "https://moodle.uni.example" in client.get("/lti/setup/").content.decode()


@pytest.mark.parametrize("kind", ["learner", "instructor", "proctoring"])
def test_a_framed_launch_offers_a_one_time_link_to_a_window_of_its_own(platform, live_server, kind):
    import requests

    pending = {"learner": {"roles": LEARNER}, "instructor": {"roles": INSTRUCTOR},
               "proctoring": {"roles": LEARNER, "message_type": "LtiStartProctoring", "extra": {
                   AP + "start_assessment_url": f"{platform.url}/start-assessment", AP + "attempt_number": 1}}}[kind]
    framed = launch(platform, sub="user-1", headers={"Sec-Fetch-Dest": "iframe"}, **pending)
    assert framed.status == 200 and "opens in a window of its own" in framed.text
    # Only the platform may frame it (its issuer's and login URL's origin).
    ancestors = re.search(r"frame-ancestors ([^;]*)", framed.response.headers["Content-Security-Policy"]).group(1)
    assert ancestors == platform.url
    assert "X-Frame-Options" not in framed.response.headers
    link = re.search(r'href="(/lti/continue/[^"]+)"', framed.text).group(1)
    window = requests.Session()  # a new window: none of the frame's cookies
    opened = window.get(live_server.url + link, timeout=30)
    expected = {"learner": "/monitor/sessions/", "instructor": "/monitor/live/?course=",
                "proctoring": "/lti/proctoring/"}[kind]
    assert opened.status_code == 200 and expected in opened.url, (opened.status_code, opened.url)
    again = requests.get(live_server.url + link, timeout=30)
    assert again.status_code == 403 and "already used" in again.text
    forged = requests.get(live_server.url + link[:-3] + "abc/", timeout=30)
    assert forged.status_code == 403 and "not valid" in forged.text


def test_a_disabled_account_is_refused(platform):
    assert launch(platform, sub="learner-1", roles=LEARNER).status == 200
    User.objects.filter(lti_users__sub="learner-1").update(is_active=False)
    again = launch(platform, sub="learner-1", roles=LEARNER)
    assert again.status == 403 and "disabled" in again.text


def test_an_end_assessment_return_url_other_than_http_is_not_linked(platform):
    ended = launch(platform, sub="learner-1", roles=LEARNER, message_type="LtiEndAssessment",
                   extra={AP + "attempt_number": 1,
                          LTI + "launch_presentation": {"return_url": "javascript:alert(1)"}})
    assert ended.status == 200 and "javascript:" not in ended.text and 'id="return"' not in ended.text


def test_a_teaching_assistant_in_one_course_sits_an_exam_in_another(platform, live_server):
    browser = requests.Session()
    assert launch(platform, browser=browser, sub="student-ta", roles=TEACHING_ASSISTANT).status == 200
    exam = launch(platform, browser=browser, sub="student-ta", roles=LEARNER, context_id="MATH201")
    session = ExamSession.objects.get()
    assert exam.status == 200 and exam.response.url == f"{live_server.url}/monitor/sessions/{session.id}/"
    assert session.course_id == tool_course(platform, context_id="MATH201") and session.learner.is_staff
    # Logged in for that exam only, as any learner: not the live view, not the admin.
    assert browser.get(f"{live_server.url}/monitor/live/", timeout=30).status_code == 403
    assert browser.get(f"{live_server.url}/admin/", timeout=30).status_code == 403
    # The REST API and exam links still refuse the staff account.
    api = User.objects.create_user("lms")
    from django.contrib.auth.models import Permission

    api.user_permissions.add(Permission.objects.get(codename="add_examsession"))
    with pytest.raises(monitor_services.InvalidInput):
        monitor_services.session_create(learner=session.learner, course_id="c", exam_id="e", requested_by=api)


def test_an_account_with_more_than_the_instructors_powers_cannot_sit_an_exam_through_lti(platform):
    from django.contrib.auth.models import Permission

    assert launch(platform, sub="teacher-1", roles=INSTRUCTOR).status == 200
    teacher = LtiUser.objects.get(sub="teacher-1").auth_user
    teacher.user_permissions.add(Permission.objects.get(codename="change_examsession"))
    refused = launch(platform, sub="teacher-1", roles=LEARNER, context_id="MATH201")
    assert refused.status == 403 and "exam sessions are for learner accounts only" in refused.text
    assert not ExamSession.objects.exists()


def test_an_instructor_launch_after_a_learner_launch_lifts_the_exam_confinement(platform, live_server):
    browser = requests.Session()
    assert launch(platform, browser=browser, sub="user-1", roles=LEARNER, context_id="MATH201").status == 200
    assert browser.get(f"{live_server.url}/monitor/live/", timeout=30).status_code == 403
    teaching = launch(platform, browser=browser, sub="user-1", roles=INSTRUCTOR)
    assert teaching.status == 200 and "/monitor/live/?course=" in teaching.response.url
    assert browser.get(f"{live_server.url}/monitor/live/", timeout=30).status_code == 200
    assert browser.get(f"{live_server.url}/admin/monitor/examsession/", timeout=30).status_code == 200


def test_a_launch_after_the_exam_ended_opens_the_next_one(platform, live_server):
    browser = requests.Session()
    assert launch(platform, browser=browser, sub="learner-1", roles=LEARNER).status == 200
    monitor_services.session_end(session=ExamSession.objects.get())
    again = launch(platform, browser=browser, sub="learner-1", roles=LEARNER)
    running = ExamSession.objects.exclude(status="ended").get()
    assert again.status == 200 and again.response.url == f"{live_server.url}/monitor/sessions/{running.id}/"
    assert ExamSession.objects.count() == 2


def test_two_launches_of_one_exam_at_once_open_one_session(platform, live_server, monkeypatch):
    # Each launch is authorized by the platform (its own login, state and nonce), then both are posted at once.
    forms = []
    for _ in range(2):
        browser = requests.Session()
        authorized = browser.get(platform.launch_url(sub="learner-1", roles=LEARNER), timeout=30)
        forms.append((browser, re.search(r'action="([^"]*)"', authorized.text).group(1), platform.id_tokens[-1]))
    # The session is made slowly, so that without the lock both launches would find none and each open one.
    create = monitor_services.session_create

    def slow_create(**kwargs):
        time.sleep(0.5)
        return create(**kwargs)

    monkeypatch.setattr(monitor_services, "session_create", slow_create)
    barrier, answers = threading.Barrier(2), []

    def post(browser, action, form):
        barrier.wait()
        answers.append(browser.post(action, data=form, timeout=60))

    threads = [threading.Thread(target=post, args=form) for form in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    session = ExamSession.objects.get()
    assert [a.status_code for a in answers] == [200, 200]
    assert {a.url for a in answers} == {f"{live_server.url}/monitor/sessions/{session.id}/"}


def test_a_plain_http_start_assessment_url_is_refused_unless_allowed(platform, settings):
    settings.LTI = {**settings.LTI, "HTTP_HOSTS": []}
    start = {AP + "start_assessment_url": f"{platform.url}/start-assessment", AP + "attempt_number": 1}
    refused = launch(platform, sub="learner-1", roles=LEARNER, message_type="LtiStartProctoring", extra=start)
    assert refused.status == 400 and "start_assessment_url must be https" in refused.text and nothing_created()


def test_an_instructor_of_the_course_cannot_sit_its_exam(platform):
    assert launch(platform, sub="teacher-1", roles=INSTRUCTOR).status == 200
    refused = launch(platform, sub="teacher-1", roles=LEARNER)
    assert refused.status == 403 and "instructor of this course" in refused.text
    assert not ExamSession.objects.exists()


def test_a_running_session_is_not_resumed_for_an_account_made_administrator(platform):
    assert launch(platform, sub="learner-1", roles=LEARNER).status == 200
    User.objects.filter(lti_users__sub="learner-1").update(is_superuser=True)
    refused = launch(platform, sub="learner-1", roles=LEARNER)
    assert refused.status == 403 and "exam sessions are for learner accounts only" in refused.text
