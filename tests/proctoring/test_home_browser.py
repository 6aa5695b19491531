"""The home page per role, in Chromium: a learner sees their exam and no staff links; an instructor the live view."""
import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from monitor import services
from tests.browser import chromium_context, page_login, page_screenshot
from tests.monitor.test_admin import make_instructor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_home_page_per_role(live_server):
    lea = get_user_model().objects.create_user("lea", password="lea-password")
    services.session_create(learner=lea, course_id="c1", exam_id="midterm")
    make_instructor("ines", "c1")
    with chromium_context() as context:
        page = context.new_page()
        page_login(page=page, base_url=live_server.url, username="lea", password="lea-password")
        page.goto(live_server.url + "/")
        expect(page.get_by_role("link", name="c1 / midterm")).to_be_visible()
        expect(page.get_by_role("link", name="Try the analysis with your webcam")).to_be_visible()
        for hidden in ("Live sessions of your courses", "Session reports and alerts", "API documentation",
                       "Register this tool in an LMS (LTI 1.3)"):
            expect(page.get_by_role("link", name=hidden)).to_have_count(0)
        page_screenshot(page=page, name="home-learner")
        page.goto(live_server.url + "/monitor/live/")
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        page_screenshot(page=page, name="403-learner")
        page.get_by_role("link", name="Back to the home page").click()
        expect(page.get_by_role("link", name="c1 / midterm")).to_be_visible()

    with chromium_context() as context:
        page = context.new_page()
        page_login(page=page, base_url=live_server.url, username="ines", password="ines-password")
        page.goto(live_server.url + "/")
        expect(page.get_by_role("link", name="Live sessions of your courses")).to_be_visible()
        expect(page.get_by_role("link", name="Session reports and alerts")).to_be_visible()
        expect(page.get_by_role("link", name="API documentation")).to_have_count(0)
        expect(page.get_by_role("link", name="Register this tool in an LMS (LTI 1.3)")).to_have_count(0)
        page_screenshot(page=page, name="home-instructor")
