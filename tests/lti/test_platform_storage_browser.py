"""Canvas in a frame, in Chromium: the tool's cookie does not come back to a framed launch from another site, so
the login's state and nonce are kept in the LMS page's storage frame (LTI Client Side postMessages)."""
import pytest

from monitor.models import ExamSession
from tests.browser import SAME_PROCESS_FRAMES, chromium_context, frame_text, page_screenshot
from tests.lti.conftest import spec_platform_registered
from tests.lti.spec_platform import INSTITUTION, MEMBERSHIP, REMOVE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LEARNER = [INSTITUTION + "Student", MEMBERSHIP + "Learner"]


@pytest.fixture
def canvas(live_server):
    """A Canvas-shaped platform on 127.0.0.1 (another site than the tool on localhost)."""
    platform = spec_platform_registered(live_server.url, "canvas")
    yield platform
    platform.stop()


def test_canvas_framed_launch_keeps_state_in_platform_storage(canvas):
    with chromium_context(extra_args=SAME_PROCESS_FRAMES) as context:
        page = context.new_page()
        page.goto(canvas.course_url(sub="learner-1", roles=LEARNER))
        frame_text(page=page, frame="tool", selector="h1",
                   until=lambda text: text == "This activity opens in a window of its own")
        # No screenshot of this page: composing a frame that changed sites four times was seen to hang on a loaded
        # machine. Closed here, frames and all: a page with frames from two sites left to the browser's own close has
        # been seen to hang that close on a loaded machine.
        page.close()
    assert ExamSession.objects.count() == 1


def test_canvas_framed_launch_without_platform_storage_shows_a_readable_refusal(canvas, request):
    # Without the storage target the state cookie is all there is, and the browser does not send it back to a
    # framed launch from another site: the refusal is shown in the frame (not the browser's blocked-frame page).
    with chromium_context(extra_args=SAME_PROCESS_FRAMES) as context:
        page = context.new_page()
        page.goto(canvas.course_url(sub="learner-1", roles=LEARNER, login={"lti_storage_target": REMOVE}))
        frame_text(page=page, frame="tool", selector=".error", until=lambda text: "State not found" in text)
        page_screenshot(page=page, name=request.node.name)
        # Closed here, frames and all: a page with frames from two sites left to the browser's own close has
        # been seen to hang that close on a loaded machine.
        page.close()
    assert not ExamSession.objects.exists()


def test_canvas_framed_launch_whose_storage_frame_is_missing_offers_a_new_window(canvas, request):
    with chromium_context(extra_args=SAME_PROCESS_FRAMES) as context:
        page = context.new_page()
        page.goto(canvas.course_url(sub="learner-1", roles=LEARNER, login={"lti_storage_target": "no-such-frame"}))
        frame_text(page=page, frame="tool", selector="#open", until=bool)
        frame = page.frame(name="tool")
        href = frame.locator("#open").get_attribute("href", timeout=5000)
        assert href.startswith("/lti/login/?") and "lti_storage_target" not in href and "login_hint=" in href
        assert frame.locator("#open").get_attribute("target", timeout=5000) == "_blank"
        page_screenshot(page=page, name=request.node.name)
        # Closed here, frames and all: a page with frames from two sites left to the browser's own close has
        # been seen to hang that close on a loaded machine.
        page.close()
    assert not ExamSession.objects.exists()
