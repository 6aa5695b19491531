"""The Assessment Control Service from the live view, in Chromium: an attempt whose launch offered it links to its
control page, a critical alert links there too, and the instructor pauses the attempt on the platform from it."""
import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from monitor import services
from tests import images
from tests.browser import chromium_context, page_screenshot, y4m_write
from tests.lti.test_assessment_control import ACS_OFFERED, start
from tests.monitor.test_admin import make_instructor
from tests.monitor.test_exam_page import asgi_server, live_view  # noqa: F401
from tests.monitor.test_exam_page import start as notice_agreed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_openedx_attempt_paused_from_the_live_views_critical_alert(openedx, asgi_server, tmp_path, request):  # noqa: F811
    controlled = start(openedx, {**ACS_OFFERED, "assessment_control_url": f"{openedx.url}/acs"})
    plain = services.session_create(learner=get_user_model().objects.create_user("leo", password="x" * 12),
                                    course_id=controlled.course_id, exam_id="without-acs")
    make_instructor("ines", controlled.course_id)  # an instructor of the course (password ines-password)
    url = f"/lti/control/{controlled.id}/"
    video = y4m_write(path=tmp_path / "two.y4m", frames=[images.two_faces()] * 10, fps=5)
    with chromium_context(video=video) as context:
        live = live_view(context, asgi_server.url)
        row = live.locator(f'tr[data-session="{controlled.id}"]')
        expect(row.locator("a.control-link")).to_have_attribute("href", url)
        expect(row.locator("a.control-link")).to_have_attribute("target", "engagement-review")  # beside the view
        expect(live.locator(f'tr[data-session="{plain.id}"]')).to_be_visible()
        expect(live.locator(f'tr[data-session="{plain.id}"] a')).to_have_count(1)  # the report only
        # Two faces in the learner's camera open a critical alert, which comes over the socket with the link.
        learner = context.new_page()
        learner.goto(f"{asgi_server.url}/monitor/join/{services.session_join_token(session=controlled)}/")
        notice_agreed(learner)
        act = row.locator('span.alert-critical[data-kind="multiple_faces"] a.alert-control')
        expect(act).to_have_attribute("href", url)
        page_screenshot(page=live, name=f"{request.node.name}-live")
        with live.context.expect_page() as opened:
            act.click()
        control = opened.value
        control.locator("#action-pause").click()
        expect(control.locator("#sent")).to_contain_text("status: paused")
        assert live.url.endswith("/monitor/live/")  # the live view stays where it was
        page_screenshot(page=control, name=f"{request.node.name}-control")
    assert [sent["action"] for sent in openedx.controls] == ["pause"]
