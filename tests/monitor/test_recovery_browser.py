"""Recovery in a real Chromium: a learner who loses the browser gets back in; outages are shown on both pages."""
import re

import pytest
import requests
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from monitor import services
from tests.browser import chromium_context, page_screenshot
from tests.monitor.test_exam_page import asgi_server, face_then_empty, fast_presence, lms_token, live_view, start  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_learner_who_loses_the_browser_gets_back_with_a_fresh_link(asgi_server, fast_presence, tmp_path, request):
    learner = get_user_model().objects.create_user("lea", password="lea-password")
    get_user_model().objects.create_superuser("ines", password="ines-password")
    token = lms_token()
    created = requests.post(f"{asgi_server.url}/api/v1/sessions/", timeout=30,
                            json={"learner": "lea", "course_id": "c1", "exam_id": "e1", "frame_interval": 0.5},
                            headers={"Authorization": f"Token {token}"}).json()
    video = face_then_empty(tmp_path, 30, 1)
    with chromium_context(video=video) as context:
        live = live_view(context, asgi_server.url)
        row = live.locator(f'tr[data-session="{created["id"]}"]')
        lost = context.browser.new_context()  # the learner's browser, soon lost
        page = lost.new_page()
        page.goto(created["exam_url"])
        start(page)
        expect(page.locator("#connection")).to_have_text("connected")
        expect(page.locator("#rejoin-help")).to_contain_text("open the exam again from your course page")
        page_screenshot(page=page, name=f"{request.node.name}-exam")
        lost.close()  # the browser crashes: its login is gone with it
        expect(row.locator("td.presence-cell")).to_contain_text("Disconnected")

        again = context.browser.new_context()  # a new browser
        page = again.new_page()
        page.goto(created["exam_url"])  # the old link: used
        expect(page.locator("#rejoin-help")).to_contain_text("open the exam again from your course page")
        page_screenshot(page=page, name=f"{request.node.name}-used-link")
        # Reopened from the course: the LMS asks for a fresh link to the same session.
        fresh = requests.post(f"{asgi_server.url}/api/v1/sessions/{created['id']}/join-link/", timeout=30,
                              headers={"Authorization": f"Token {token}"})
        assert fresh.status_code == 201, fresh.content
        page.goto(fresh.json()["exam_url"])
        assert page.url.endswith(f"/monitor/sessions/{created['id']}/")
        start(page)
        expect(page.locator("#connection")).to_have_text("connected")
        expect(page.locator("#status")).to_have_text("Camera OK: face in view")
        # The instructor sees the learner back, and that this is a rejoin.
        expect(row.locator("td.presence-cell")).to_contain_text("Connected")
        expect(row.locator("td.presence-cell .rejoined")).to_contain_text(re.compile(r"Rejoined 1\u00d7"))
        page_screenshot(page=live, name=f"{request.node.name}-live")
        again.close()
