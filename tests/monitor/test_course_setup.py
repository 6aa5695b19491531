"""Instructor set-up: courses assigned from the known ones, staff accounts only, and an empty live view that says why."""
import pytest
from django.contrib.auth import get_user_model
from lti_tool.models import LtiContext, LtiDeployment, LtiRegistration

from lti.services import context_course_id
from monitor import services
from monitor.models import CourseAssignment
from tests.monitor.test_admin import make_instructor
from tests.monitor.test_exam_page import asgi_server  # noqa: F401

pytestmark = pytest.mark.django_db
User = get_user_model()
ADD = "/admin/monitor/courseassignment/add/"


@pytest.fixture
def known(client):
    """A superuser logged in; a course known from a session, one from an LTI launch; a learner and an instructor."""
    User.objects.create_superuser("root", password="root-password")
    learner = User.objects.create_user("lea", password="x" * 12)
    services.session_create(learner=learner, course_id="c1", exam_id="e1")
    registration = LtiRegistration.objects.create(name="Moodle", issuer="https://moodle.example", client_id="c1",
                                                  auth_url="https://moodle.example/auth",
                                                  token_url="https://moodle.example/token",
                                                  keyset_url="https://moodle.example/certs")
    deployment = LtiDeployment.objects.create(registration=registration, deployment_id="3", is_active=True)
    context = LtiContext.objects.create(deployment=deployment, id_on_platform="7", title="Physics 101")
    make_instructor("ines")
    client.login(username="root", password="root-password")
    return {"lti_course": context_course_id(context=context), "learner": learner, "client": client}


def test_the_course_is_picked_from_the_known_courses(known):
    page = known["client"].get(ADD).content.decode()
    assert '<select name="course_id"' in page
    assert '<option value="c1">c1</option>' in page
    assert f'<option value="{known["lti_course"]}">Physics 101 ({known["lti_course"]})</option>' in page
    refused = known["client"].post(ADD, {"instructor": User.objects.get(username="ines").pk, "course_id": "c1 "})
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert not CourseAssignment.objects.exists()
    done = known["client"].post(ADD, {"instructor": User.objects.get(username="ines").pk,
                                      "course_id": known["lti_course"]})
    assert done.status_code == 302
    assert CourseAssignment.objects.get().course_id == known["lti_course"]


def test_only_staff_accounts_are_offered_as_instructors(known):
    page = known["client"].get(ADD).content.decode()
    ines = User.objects.get(username="ines")
    assert f'<option value="{ines.pk}">ines</option>' in page
    assert f'<option value="{known["learner"].pk}">' not in page  # a learner cannot open the live view
    refused = known["client"].post(ADD, {"instructor": known["learner"].pk, "course_id": "c1"})
    assert "Select a valid choice" in refused.content.decode() and not CourseAssignment.objects.exists()


def test_an_empty_live_view_says_why(client, known):
    make_instructor("otto")
    client.login(username="otto", password="otto-password")
    assert "You are not assigned to any course yet" in client.get("/monitor/live/").content.decode()
    CourseAssignment.objects.create(instructor=User.objects.get(username="otto"), course_id="c9")
    text = client.get("/monitor/live/").content.decode()
    assert "No exam session is in progress or waiting to start in your courses" in text
    assert "You are not an instructor of the course c1" in client.get("/monitor/live/?course=c1").content.decode()
    CourseAssignment.objects.create(instructor=User.objects.get(username="otto"), course_id="c1")
    assert "No exam session" in client.get("/monitor/live/?course=c1").content.decode()  # one row: hidden by JS


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_set_up_pages_in_a_browser(asgi_server, request):
    from playwright.sync_api import expect

    from tests.browser import chromium_context, page_login, page_screenshot

    make_instructor("otto")
    User.objects.create_superuser("root", password="root-password")
    services.session_create(learner=User.objects.create_user("lea", password="x" * 12), course_id="c1", exam_id="e1")
    with chromium_context() as context:
        page = context.new_page()
        page_login(page=page, base_url=asgi_server.url, username="otto", password="otto-password",
                   next_path="/monitor/live/")
        expect(page.locator("#connection")).to_have_text("live")
        expect(page.locator("#empty")).to_be_visible()
        expect(page.locator("#empty")).to_contain_text("You are not assigned to any course yet")
        page_screenshot(page=page, name=f"{request.node.name}-empty-live-view")
        admin = context.browser.new_context().new_page()
        page_login(page=admin, base_url=asgi_server.url, username="root", password="root-password")
        admin.goto(f"{asgi_server.url}{ADD}")
        expect(admin.locator("select[name=course_id] option")).to_have_text(["---------", "c1"])
        expect(admin.locator("select[name=instructor] option")).to_have_text(["---------", "otto", "root"])
        page_screenshot(page=admin, name=f"{request.node.name}-assignment")
