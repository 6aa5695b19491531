"""Real-browser helpers: a fake webcam from numpy frames (.y4m) and Debian's Chromium driven by Playwright."""
from __future__ import annotations

import os
import re
import time
from urllib.parse import urlencode
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from playwright.sync_api import BrowserContext, Error as PlaywrightError, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
OUTPUT_DIR = Path(__file__).resolve().parent.parent / "test-output"
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
TIMEOUT_MS = 30_000  # the first analysis loads the engine's models in the live server
expect.set_options(timeout=TIMEOUT_MS)

# The machine is offline: these switches stop Chromium from phoning home and hanging on it.
BASE_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
FAKE_DEVICE = "--use-fake-device-for-media-stream"
# Chromium's fake device factory with no device: "no camera" even on a machine that has a real one.
NO_DEVICE = "--use-fake-device-for-media-stream=device-count=0"
ALLOW_CAMERA = "--use-fake-ui-for-media-stream"  # answers every camera prompt with "allow"
DENY_CAMERA = "--deny-permission-prompts"  # answers every permission prompt with "block"
# Frames from other sites in the page's own renderer process. With site isolation (the default), Playwright was
# seen to miss a frame's navigation after it changed sites several times on a loaded machine (about 1 run in 4),
# and its waits on that frame then hang. Cookies, storage partitioning and postMessage are the same either way.
SAME_PROCESS_FRAMES = ("--disable-site-isolation-trials", "--disable-features=IsolateOrigins,site-per-process")


def y4m_write(*, path: Path, frames: Iterable[np.ndarray], fps: int = 30) -> Path:
    """Write RGB uint8 frames (H, W, 3; even sizes) as a YUV4MPEG2 4:2:0 file Chromium can use as a webcam."""
    frames = [np.ascontiguousarray(frame, dtype=np.uint8) for frame in frames]
    if not frames:
        raise ValueError("a video needs at least one frame")
    height, width = frames[0].shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"4:2:0 needs even sizes, got {width}x{height}")
    path = Path(path)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            if frame.shape != (height, width, 3):
                raise ValueError(f"every frame must be {width}x{height} RGB, got {frame.shape}")
            out.write(b"FRAME\n")
            # I420: the Y plane, then the quarter-size U and V planes, exactly the y4m frame layout.
            out.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def chromium_args(*, video: Path | None = None, allow_camera: bool = True, extra: Sequence[str] = ()) -> list[str]:
    """Chromium switches: offline-safe defaults, a webcam playing `video` (no camera at all when None),
    and the answer to the camera prompt (`allow_camera`)."""
    args = list(BASE_ARGS)
    if video is None:
        args.append(NO_DEVICE)
    else:
        args += [FAKE_DEVICE, f"--use-file-for-fake-video-capture={Path(video).resolve()}"]
    args.append(ALLOW_CAMERA if allow_camera else DENY_CAMERA)
    return args + list(extra)


@contextmanager
def _orm_allowed() -> Iterator[None]:
    # Playwright's sync API keeps its event loop running in this thread, so Django would refuse ORM calls
    # made by the test inside the block (SynchronousOnlyOperation). Nothing runs concurrently: the test
    # and the loop take turns (greenlets), so lifting the check is safe, and only while the browser is up.
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@contextmanager
def chromium_context(
    *, video: Path | None = None, allow_camera: bool = True, extra_args: Sequence[str] = (), **context_options
) -> Iterator[BrowserContext]:
    """A headless Chromium context whose webcam plays `video` (see `chromium_args`), closed on exit.

    Use it with pytest-django's `live_server` and `transactional_db` (so the server's threads see the test's
    users); the Django ORM stays usable inside the block. `context_options` go to `Browser.new_context`.
    """
    with _orm_allowed(), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=chromium_args(video=video, allow_camera=allow_camera, extra=extra_args),
            timeout=TIMEOUT_MS,
        )
        try:
            context = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, **context_options})
            context.set_default_timeout(TIMEOUT_MS)
            yield context
            context.close()
        finally:
            browser.close()


def page_login(*, page: Page, base_url: str, username: str, password: str, next_path: str = "") -> None:
    """Log in through the project's login form, as a person would."""
    page.goto(f"{base_url}/accounts/login/" + (f"?{urlencode({'next': next_path})}" if next_path else ""))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("form.login button[type=submit]")


def page_screenshot(*, page: Page, name: str) -> Path:
    """Save a full-page screenshot as test-output/<name>.png (the folder is git-ignored)."""
    OUTPUT_DIR.mkdir(exist_ok=True)
    path = OUTPUT_DIR / (re.sub(r"[^\w.-]+", "_", name).strip("_") + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path


def frame_text(*, page: Page, frame: str, selector: str, until, timeout_ms: int = TIMEOUT_MS) -> str:
    """The text of the first `selector` in the page's frame named `frame` once `until(text)` holds (AssertionError
    after `timeout_ms`). Every read has its own short timeout: Playwright's waiting on a frame that changed sites
    several times (frame locators, expect) was seen to hang for good on a loaded machine."""
    deadline = time.monotonic() + timeout_ms / 1000
    text = ""
    while time.monotonic() < deadline:
        found = page.frame(name=frame)  # the page's own list of frames: no round trip that could hang
        try:
            text = found.locator(selector).first.inner_text(timeout=1000) if found else ""
        except PlaywrightError:  # not there yet, or the frame navigated while it was read: read it again
            text = ""
        if until(text):
            return text
        page.wait_for_timeout(250)
    raise AssertionError(f"{selector!r} in frame {frame!r} read {text!r} after {timeout_ms} ms; the page's frames: "
                         f"{[(f.name, f.url) for f in page.frames]}")
