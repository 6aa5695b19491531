"""This project shows the apps' pages in its own frame (menu, login) by overriding their base templates."""
import pytest
from django.contrib.auth import get_user_model
from django.template import Context, Engine
from django.test import Client

from monitor.api import session_create

pytestmark = pytest.mark.django_db
MENU = 'class="brand"'


def test_monitor_and_lti_pages_carry_the_projects_menu():
    learner = get_user_model().objects.create_user("frame-learner")
    session = session_create(learner=learner, course_id="frames", exam_id="frame-exam")
    client = Client()
    client.force_login(learner)
    exam = client.get(f"/monitor/sessions/{session.id}/")
    refused = client.get("/lti/login/")
    assert exam.status_code == 200 and MENU in exam.content.decode() and "Log out" in exam.content.decode()
    assert refused.status_code == 400 and MENU in refused.content.decode()


def test_without_the_override_the_apps_pages_render_in_their_own_frame():
    """The apps' templates alone (no project folder): monitor's and lti's pages need nothing of the project."""
    apps_only = Engine(app_dirs=True, libraries={"static": "django.templatetags.static"})
    for name in ("monitor/link_error.html", "lti/error.html"):
        html = apps_only.get_template(name).render(Context({"message": "Nothing here."}))
        assert "Nothing here." in html and "engagement/style.css" in html and MENU not in html
