"""Role-aware pages: the home page per role, styled 403/404/500 pages, one-line 403 logs, the API docs' tags."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from monitor import services
from tests.monitor.test_admin import make_instructor

pytestmark = pytest.mark.django_db
User = get_user_model()
LINKS = {"try": "/engagement/try/", "live": "/monitor/live/", "reports": "/admin/monitor/examsession/",
         "admin": 'href="/admin/"', "docs": "/api/docs/", "login": "/accounts/login/"}


def links_on_home(client, user=None):
    if user is not None:
        client.force_login(user)
    page = client.get("/").content.decode()
    return {name for name, href in LINKS.items() if href in page}, page


def lms_account():
    lms = User.objects.create_user("lms", password="x" * 12)
    lms.user_permissions.add(Permission.objects.get(codename="add_examsession"))
    return lms


def test_each_role_sees_only_what_it_may_open(client):
    assert links_on_home(client)[0] == {"login"}
    lea = User.objects.create_user("lea", password="x" * 12)
    exam = services.session_create(learner=lea, course_id="c1", exam_id="midterm")
    links, page = links_on_home(client, lea)
    assert links == {"try"} and f"/monitor/sessions/{exam.id}/" in page and "midterm" in page
    assert links_on_home(client, make_instructor("ines", "c1"))[0] == {"try", "live", "reports"}
    assert links_on_home(client, lms_account())[0] == {"try", "docs"}
    root = User.objects.create_superuser("root", password="x" * 12)
    assert links_on_home(client, root)[0] == {"try", "live", "reports", "docs"}
    assert "Token &lt;key&gt;" in links_on_home(client, root)[1]


def test_a_learner_refused_a_page_gets_a_page_that_leads_home(client):
    client.force_login(User.objects.create_user("lea", password="x" * 12))
    refused = client.get("/monitor/live/")
    assert refused.status_code == 403
    html = refused.content.decode()
    assert "<h1>Not allowed</h1>" in html and 'href="/"' in html and "engagement/style.css" in html


def test_missing_pages_are_styled_and_api_errors_stay_json(client):
    missing = client.get("/no/such/page/")
    assert missing.status_code == 404 and "<h1>Page not found</h1>" in missing.content.decode()
    api = client.get("/api/v1/nothing-here/")
    assert api.status_code == 404 and api.json()["error"] == "not_found"


def test_server_errors_are_a_plain_page_or_json(rf):
    from proctoring.views import server_error

    page = server_error(rf.get("/monitor/live/"))
    assert page.status_code == 500 and "Something went wrong" in page.content.decode()
    api = server_error(rf.get("/api/v1/sessions/"))
    assert api.status_code == 500 and api["Content-Type"] == "application/json"


def test_a_403_is_logged_as_one_line(client):
    import io
    import logging

    from proctoring.log import OneLineForbidden

    [console] = [h for h in logging.getLogger().handlers if any(isinstance(f, OneLineForbidden) for f in h.filters)]
    written = io.StringIO()
    previous = console.setStream(written)  # the configured console handler, writing here for this test
    try:
        client.force_login(User.objects.create_user("lea", password="x" * 12))
        assert client.get("/monitor/live/").status_code == 403
    finally:
        console.setStream(previous)
    logged = written.getvalue()
    assert "Forbidden" in logged and "/monitor/live/" in logged and "Traceback" not in logged
    assert len(logged.strip().splitlines()) == 1


def test_the_api_docs_group_endpoints_by_tag_and_show_the_token_header(client):
    client.force_login(User.objects.create_superuser("root", password="x" * 12))
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert "`Authorization: Token <key>`" in schema["info"]["description"]
    tags = {path: {tag for operation in item.values() if isinstance(operation, dict)
                   for tag in operation.get("tags", [])} for path, item in schema["paths"].items()}
    assert tags["/analyze-mood/"] == {"engagement"} and tags["/api/v1/sessions/"] == {"sessions"}
    assert tags["/api/v1/sessions/{session_id}/report/"] == {"reports"}
    assert tags["/api/v1/alerts/"] == {"alerts"} and tags["/api/v1/webhooks/"] == {"webhooks"}
    assert tags["/api/v1/learners/{learner_id}/erase/"] == {"learners"}
    assert set().union(*tags.values()) == {"engagement", "sessions", "reports", "alerts", "webhooks", "learners"}
