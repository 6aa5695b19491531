"""The try page in a real headless Chromium whose fake webcam plays frames made from scikit-image photos."""
import json
import re
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser import chromium_context, page_login, page_screenshot, y4m_write
from tests.images import no_face_images, webcam_face

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TRY_PATH = "/engagement/try/"
EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
PASSWORD = "alice-password"  # the `user` fixture's (tests/conftest.py)


@pytest.fixture
def face_video(tmp_path):
    """A webcam that shows the smiling astronaut."""
    return y4m_write(path=tmp_path / "face.y4m", frames=[webcam_face()])


def coffee() -> np.ndarray:
    """scikit-image's cup of coffee as a 640x480 webcam frame: no face."""
    return np.asarray(Image.fromarray(no_face_images()["coffee"]).resize((640, 480), Image.Resampling.LANCZOS))


@pytest.fixture
def coffee_video(tmp_path):
    """A webcam that shows a cup of coffee and no face."""
    return y4m_write(path=tmp_path / "coffee.y4m", frames=[coffee()])


@pytest.fixture
def face_then_coffee_video(tmp_path):
    """A webcam that shows the astronaut for two seconds, then the coffee for two, and loops."""
    return y4m_write(path=tmp_path / "face-coffee.y4m", frames=[webcam_face()] * 2 + [coffee()] * 2, fps=1)


# Waits until the top-left corner of the live video is bright (the astronaut's backdrop, mean ~180) or dark
# (the coffee's table, mean ~22), then clicks Analyse in the same task, so the frame sent is the one checked.
CAPTURE_WHEN = """async (wantBright) => {
  const video = document.getElementById("video");
  const probe = document.createElement("canvas");
  probe.width = probe.height = 80;
  const g = probe.getContext("2d", { willReadFrequently: true });
  for (let i = 0; i < 200; i++) {
    g.drawImage(video, 0, 0, 80, 80, 0, 0, 80, 80);
    const d = g.getImageData(0, 0, 80, 80).data;
    let sum = 0;
    for (let k = 0; k < d.length; k += 4) { sum += d[k] + d[k + 1] + d[k + 2]; }
    if ((sum / (d.length * 3 / 4) > 100) === wantBright) { document.getElementById("capture").click(); return; }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the camera never showed the expected frame");
}"""


def open_try_page(*, context, live_server, user):
    """Log the learner in through the login form, then open the try page."""
    page = context.new_page()
    page_login(page=page, base_url=live_server.url, username=user.username, password=PASSWORD)
    expect(page.locator("header nav")).to_contain_text(user.username)
    page.goto(live_server.url + TRY_PATH)
    return page


def percent(text: str) -> float:
    """The number in a bar's "12.3%" label."""
    return float(text.rstrip("%"))


def test_smiling_learner_is_highly_engaged(live_server, user, face_video, request):
    with chromium_context(video=face_video) as context:
        page = open_try_page(context=context, live_server=live_server, user=user)
        capture = page.locator("#capture")
        expect(capture).to_be_enabled()  # the camera started
        assert page.evaluate("(v => [v.videoWidth, v.videoHeight])(document.getElementById('video'))") == [640, 480]
        expect(page.locator("#camera-message")).to_be_hidden()
        page_screenshot(page=page, name=f"{request.node.name}-camera")

        with page.expect_response(lambda r: r.url.endswith("/analyze-mood")) as answer:
            capture.click()
        response = answer.value
        sent = response.request
        assert response.status == 200
        assert sent.method == "POST"
        assert sent.headers["content-type"] == "application/json"
        assert sent.headers["x-csrftoken"]
        body = json.loads(sent.post_data)
        assert body["image"].startswith("data:image/jpeg;base64,")
        assert re.match(r"\d{4}-\d\d-\d\dT", body["timestamp"])

        status = page.locator("#status")
        expect(status).to_have_class(re.compile(r"\bstatus-highly_engaged\b"))
        expect(status).to_have_text("highly engaged")
        expect(page.locator("#error")).to_be_hidden()
        assert float(page.locator("#score").inner_text()) >= 70
        expect(page.locator("#dominant")).to_have_text("happy")

        bars = page.locator("#emotions .bar")
        expect(bars).to_have_count(len(EMOTIONS))
        shares = {
            name: percent(page.locator(f'#emotions .bar[data-emotion="{name}"] > span:last-child').inner_text())
            for name in EMOTIONS
        }
        assert max(shares, key=shares.get) == "happy"
        happy_fill = page.locator('#emotions .bar[data-emotion="happy"] .fill')
        expect(happy_fill).to_be_visible()
        sad_fill = page.locator('#emotions .bar[data-emotion="sad"] .fill')
        assert happy_fill.bounding_box()["width"] > sad_fill.bounding_box()["width"]

        recommendations = page.locator("#recommendations li")
        assert recommendations.count() >= 1
        assert all(text.strip() for text in recommendations.all_inner_texts())
        page_screenshot(page=page, name=request.node.name)


def test_anonymous_visitor_is_sent_to_the_login_form_and_back(live_server, user):
    with chromium_context() as context:
        page = context.new_page()
        page.goto(live_server.url + TRY_PATH)
        url = urlsplit(page.url)
        assert url.path == "/accounts/login/"
        assert parse_qs(url.query)["next"] == [TRY_PATH]
        expect(page.locator("#try")).to_have_count(0)

        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", PASSWORD)
        with page.expect_navigation():
            page.click("form.login button[type=submit]")
        assert urlsplit(page.url).path == TRY_PATH
        expect(page.locator("#try")).to_be_visible()


@pytest.mark.parametrize(
    ("camera", "message"),
    [
        pytest.param("denied", "Camera access was denied", id="denied"),
        pytest.param("missing", "No camera was found", id="missing"),
    ],
)
def test_camera_problem_is_explained(live_server, user, face_video, camera, message, request):
    if camera == "denied":
        options = {"video": face_video, "allow_camera": False}  # a camera is there; the prompt is refused
    else:
        options = {"video": None}  # no camera at all, and the prompt would be accepted
    with chromium_context(**options) as context:
        page = open_try_page(context=context, live_server=live_server, user=user)
        camera_message = page.locator("#camera-message")
        expect(camera_message).to_be_visible()
        expect(camera_message).to_contain_text(message)
        expect(page.locator("#capture")).to_be_disabled()
        expect(page.locator("#status")).to_have_class(re.compile(r"\bstatus-none\b"))
        page_screenshot(page=page, name=request.node.name)


def test_frame_without_a_face_says_so(live_server, user, coffee_video, request):
    with chromium_context(video=coffee_video) as context:
        page = open_try_page(context=context, live_server=live_server, user=user)
        expect(page.locator("#capture")).to_be_enabled()
        with page.expect_response(lambda r: r.url.endswith("/analyze-mood")) as answer:
            page.locator("#capture").click()
        assert answer.value.status == 200

        # One message, and what to do about it (not the same words twice).
        status = page.locator("#status")
        expect(status).to_have_text("No face in view")
        expect(status).to_have_class(re.compile(r"\bstatus-none\b"))
        expect(page.locator("#error")).to_be_hidden()
        expect(page.locator("#tip")).to_contain_text("sit facing the camera")
        expect(page.locator("#score")).to_have_text("-")
        expect(page.locator("#emotions .bar")).to_have_count(0)
        # The site's one time format: 24-hour clock time, the zone named (not the browser's 12-hour "5:32:30 PM").
        expect(page.locator("#last")).to_contain_text(re.compile(r"Last analysed at \d\d:\d\d:\d\d \w+"))
        expect(page.locator("#capture")).to_have_text("Analyse a frame")  # not busy any more
        page_screenshot(page=page, name=request.node.name)


def test_the_button_is_busy_while_a_frame_is_analysed_and_auto_mode_shows_itself(live_server, user, coffee_video,
                                                                                  request):
    with chromium_context(video=coffee_video) as context:
        page = open_try_page(context=context, live_server=live_server, user=user)
        capture = page.locator("#capture")
        expect(capture).to_be_enabled()
        # Hold the answer back, so that the busy state can be seen.
        release = []
        page.route("**/analyze-mood", lambda route: release.append(route))
        capture.click()
        expect(capture).to_have_text("Analysing\u2026")
        expect(capture).to_be_disabled()
        expect(capture).to_have_attribute("aria-busy", "true")
        page_screenshot(page=page, name=request.node.name + "-busy")
        release[0].continue_()
        page.unroute("**/analyze-mood")
        expect(capture).to_have_text("Analyse a frame")
        expect(capture).to_be_enabled()

        page.locator("#auto").check()
        expect(page.locator("#auto-state")).to_contain_text("a frame every 3 s")
        with page.expect_response(lambda r: r.url.endswith("/analyze-mood")):
            pass  # the first automatic frame goes at once
        page.locator("#auto").uncheck()
        expect(page.locator("#auto-state")).to_be_hidden()


def test_frame_without_a_face_clears_the_previous_result(live_server, user, face_then_coffee_video, request):
    with chromium_context(video=face_then_coffee_video) as context:
        page = open_try_page(context=context, live_server=live_server, user=user)
        expect(page.locator("#capture")).to_be_enabled()
        page.evaluate(CAPTURE_WHEN, True)
        expect(page.locator("#status")).to_have_text("highly engaged")
        expect(page.locator("#emotions .bar")).to_have_count(len(EMOTIONS))
        expect(page.locator("#recommendations li")).not_to_have_count(0)

        page.evaluate(CAPTURE_WHEN, False)
        expect(page.locator("#status")).to_have_text("No face in view")
        expect(page.locator("#tip")).to_be_visible()
        # Nothing of the smiling frame may stay on screen next to "No face in view".
        for field in ("#score", "#dominant", "#age", "#gender"):
            expect(page.locator(field)).to_have_text("-")
        expect(page.locator("#emotions .bar")).to_have_count(0)
        expect(page.locator("#recommendations li")).to_have_count(0)
        page_screenshot(page=page, name=request.node.name)
