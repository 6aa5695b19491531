"""What a platform's launch may make the tool do: its member list URL must be https on a public address, and a member
list that names no instructor removes no one."""
import pytest
import requests
from lti_tool.models import LtiContext, LtiUser
from pylti1p3.exception import LtiException

from lti import services
from monitor.models import CourseAssignment
from tests.lti.conftest import launch, tool_course
from tests.lti.platform import INSTRUCTOR

pytestmark = pytest.mark.django_db(transaction=True)
COURSE = "course-v1:Uni+CS101+2026"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
# A list served apart from the course's own: on the scaled set-up the launch queues a sync of the course's list on a
# worker, which could read members a test adds after the launch.
LATER = "listed-after-launch"


def instructor_launched(platform):
    """teacher-1's launch offering the platform's member list; the course's one assignment (theirs)."""
    nrps = {NRPS: {"context_memberships_url": f"{platform.url}/memberships/{COURSE}", "service_versions": ["2.0"]}}
    assert launch(platform, sub="teacher-1", roles=INSTRUCTOR, extra=nrps).status == 200
    teacher = LtiUser.objects.get(sub="teacher-1").auth_user
    assert CourseAssignment.objects.filter(course_id=tool_course(platform), instructor=teacher).exists()
    return teacher


def test_a_member_list_on_an_internal_address_or_over_http_is_refused(platform, live_server, settings):
    teacher = instructor_launched(platform)
    platform.members[LATER] = [{"user_id": "ta-2", "roles": INSTRUCTOR, "name": "Tom Ade"}]
    context = LtiContext.objects.get()
    context.memberships_url = f"{platform.url}/memberships/{LATER}"
    context.save()
    # The test platform listens on loopback: only the setting the tests set lets the tool ask it.
    settings.LTI = {**settings.LTI, "INTERNAL_HOSTS": []}
    with pytest.raises(LtiException, match="not a public address"):
        services.course_instructors_sync(context=context)
    context.memberships_url = "http://lms.example.org/api/memberships"
    context.save()
    with pytest.raises(LtiException, match="https://"):
        services.course_instructors_sync(context=context)
    assigned = set(CourseAssignment.objects.filter(course_id=tool_course(platform)).values_list("instructor", flat=True))
    assert assigned == {teacher.pk} and not LtiUser.objects.filter(sub="ta-2").exists()


def test_a_member_list_without_instructors_removes_no_one(platform, live_server):
    teacher = instructor_launched(platform)
    context = LtiContext.objects.get()
    platform.members[COURSE] = []
    assert services.course_instructors_sync(context=context)["removed"] == 0
    platform.members[COURSE] = [{"user_id": "learner-3", "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
                                 "name": "Lea Martin"}]
    assert services.course_instructors_sync(context=context)["removed"] == 0
    assert CourseAssignment.objects.filter(course_id=tool_course(platform), instructor=teacher).exists()
    # The sync still works: a list naming the instructor keeps them and adds the one it adds.
    platform.members[COURSE] = [{"user_id": "teacher-1", "roles": INSTRUCTOR, "name": "Ines Dupont"},
                                {"user_id": "ta-2", "roles": INSTRUCTOR, "name": "Tom Ade"}]
    assert services.course_instructors_sync(context=context)["added"] == 1


def test_only_the_platform_frames_a_launch_and_its_link_asks_before_replacing_a_login(platform, live_server, client):
    import re

    import requests
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from tests.lti.platform import LEARNER, LTI

    framed = launch(platform, sub="learner-1", roles=LEARNER, headers={"Sec-Fetch-Dest": "iframe"},
                    extra={LTI + "launch_presentation": {"return_url": "https://lms.uni.example/course/7"}})
    ancestors = re.search(r"frame-ancestors ([^;]*)", framed.response.headers["Content-Security-Policy"]).group(1)
    assert ancestors == f"{platform.url} https://lms.uni.example"  # the issuer's and the launch's return URL's
    link = live_server.url + re.search(r'href="(/lti/continue/[^"]+)"', framed.text).group(1)
    # An administrator's browser opens the link: it asks first, and the administrator stays logged in.
    admin = get_user_model().objects.create_superuser("root", password="x" * 12)
    client.force_login(admin)
    browser = requests.Session()
    browser.cookies.set(settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value)
    asked = browser.get(link, timeout=30)
    assert asked.status_code == 200 and "Log out root and continue" in asked.text
    assert browser.get(f"{live_server.url}/admin/", timeout=30, allow_redirects=False).status_code == 200
    # Confirmed (a POST with the page's CSRF token): the learner's exam opens, once.
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', asked.text).group(1)
    confirmed = browser.post(link, data={"csrfmiddlewaretoken": token}, headers={"Referer": link}, timeout=30)
    assert confirmed.status_code == 200 and "/monitor/sessions/" in confirmed.url
    assert browser.get(f"{live_server.url}/admin/", timeout=30, allow_redirects=False).status_code != 200  # replaced
    assert requests.get(link, timeout=30).status_code == 403


def test_consent_to_monitoring_is_a_post_with_csrf_not_a_link(platform, live_server):
    import json

    from tests import images
    from tests.lti.conftest import proctoring_opened

    launched, session, check_url, headers = proctoring_opened(platform, live_server)
    checked = launched.session.post(check_url, data=json.dumps({"image": images.data_url(images.webcam_face())}),
                                    headers={**headers, "Content-Type": "application/json"}, timeout=60)
    assert checked.json()["ok"] is True, checked.text
    monitor_url = f"{live_server.url}/lti/proctoring/{session.id}/monitor/"
    assert f'action="/lti/proctoring/{session.id}/monitor/"' in launched.text  # the page's button posts a form
    # A link another site makes the learner's browser open shows the exam page, which still asks for consent.
    linked = launched.session.get(monitor_url, headers={"Referer": "https://evil.example/", "Sec-Fetch-Site":
                                                        "cross-site"}, timeout=30)
    assert linked.status_code == 200 and linked.url.endswith(f"/monitor/sessions/{session.id}/")
    assert 'data-consented="1"' not in linked.text
    # A cross-site POST without the page's CSRF token is refused.
    forged = launched.session.post(monitor_url, headers={"Referer": "https://evil.example/"}, timeout=30)
    assert forged.status_code == 403
    assert 'data-consented="1"' not in launched.session.get(linked.url, timeout=30).text
    # The page's form (its CSRF token): consent recorded, the exam page starts at once.
    agreed = launched.session.post(monitor_url, data={"csrfmiddlewaretoken": headers["X-CSRFToken"]},
                                   headers={"Referer": headers["Referer"]}, timeout=30)
    assert agreed.status_code == 200 and 'data-consented="1"' in agreed.text


def resolver(monkeypatch, answers: dict):
    """The DNS (outside the project): each name in `answers` resolves to its addresses' next one (the last one
    stays), with a TTL of zero; other names as usual."""
    import socket

    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host not in answers:
            return real(host, *args, **kwargs)
        queue = answers[host]
        return real(queue.pop(0) if len(queue) > 1 else queue[0], *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def test_the_member_list_is_fetched_from_the_address_checked_not_a_second_answer(platform, live_server, settings,
                                                                                  monkeypatch):
    """Low 8 (DNS rebinding): the list's host answers a public address when checked, then the platform's loopback
    one; the request goes to the address checked, so the platform never hears it."""
    teacher = instructor_launched(platform)
    platform.members[LATER] = [{"user_id": "ta-2", "roles": INSTRUCTOR, "name": "Tom Ade"}]
    context = LtiContext.objects.get()
    context.memberships_url = f"http://rebind.example:{platform.server.server_address[1]}/memberships/{LATER}"
    context.save()
    settings.LTI = {**settings.LTI, "HTTP_HOSTS": [*settings.LTI["HTTP_HOSTS"], "rebind.example"], "HTTP_TIMEOUT": 1}
    resolver(monkeypatch, {"rebind.example": ["93.184.215.14", "127.0.0.1"]})
    with pytest.raises(requests.RequestException):
        services.course_instructors_sync(context=context)
    assigned = set(CourseAssignment.objects.filter(course_id=tool_course(platform)).values_list("instructor", flat=True))
    assert assigned == {teacher.pk} and not LtiUser.objects.filter(sub="ta-2").exists()


def test_a_pinned_member_list_still_checks_the_certificate_for_its_host_name(platform, live_server, settings,
                                                                             monkeypatch, tmp_path):
    """The connection goes to the checked address, and TLS still names and checks the URL's host: a certificate
    for that name passes, one for another name is refused."""
    from tests.tls import TestAuthority

    instructor_launched(platform)
    platform.members[LATER] = [{"user_id": "ta-2", "roles": INSTRUCTOR, "name": "Tom Ade"}]
    authority = TestAuthority(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.bundle))
    settings.LTI = {**settings.LTI, "INTERNAL_HOSTS": [*settings.LTI["INTERNAL_HOSTS"], "members.example"]}
    resolver(monkeypatch, {"members.example": ["127.0.0.1"]})
    context = LtiContext.objects.get()
    servers = []
    try:
        for host_name in ("other.example", "members.example"):
            servers.append(authority.https_server(platform._handler(), host_name=host_name))
            context.memberships_url = f"https://members.example:{servers[-1].server_address[1]}/memberships/{LATER}"
            context.save()
            if host_name == "other.example":
                with pytest.raises(requests.exceptions.SSLError):
                    services.course_instructors_sync(context=context)
                assert not LtiUser.objects.filter(sub="ta-2").exists()
        assert services.course_instructors_sync(context=context)["added"] == 1
        assert LtiUser.objects.filter(sub="ta-2").exists()
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_a_member_list_that_redirects_is_refused_without_following(platform, live_server, settings, monkeypatch):
    """The address checked is the list's, not a redirect's: a platform answering 302 to an internal host must not
    get the tool to request it."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    heard = []

    class Internal(BaseHTTPRequestHandler):
        def do_GET(self):
            heard.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"members": []}')

        def log_message(self, *args):
            pass

    internal = ThreadingHTTPServer(("127.0.0.1", 0), Internal)

    class Redirecting(Internal):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", f"http://internal.example:{internal.server_address[1]}/metadata")
            self.end_headers()

    redirecting = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (internal, redirecting):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        teacher = instructor_launched(platform)
        context = LtiContext.objects.get()
        context.memberships_url = f"http://127.0.0.1:{redirecting.server_address[1]}/memberships/{LATER}"
        context.save()
        settings.LTI = {**settings.LTI, "HTTP_HOSTS": [*settings.LTI["HTTP_HOSTS"], "127.0.0.1"],
                        "INTERNAL_HOSTS": [*settings.LTI["INTERNAL_HOSTS"], "127.0.0.1"]}
        resolver(monkeypatch, {"internal.example": ["127.0.0.1"]})  # an internal host the check would refuse
        with pytest.raises(LtiException, match="redirect"):
            services.course_instructors_sync(context=context)
        assert heard == []
        assigned = set(CourseAssignment.objects.filter(course_id=tool_course(platform))
                       .values_list("instructor", flat=True))
        assert assigned == {teacher.pk}
    finally:
        for server in (internal, redirecting):
            server.shutdown()
            server.server_close()
