"""Time from "Start the camera and begin" to the first answer on the exam page, in Chromium with a fake camera.

Starts its own server (python -m proctoring.serve, a throwaway SQLite file), opens the exam page through a
one-time link as a learner does, clicks start, and measures in the page: the click to the camera's first picture,
and that picture to the first answer shown (the first frame goes as soon as the camera gives a picture, not one
frame interval later). Two webcams: a face, and an empty room. Prints medians; never asserts.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import ROOT, cpu_model
from _server import django_setup, migrate, server_env, server_start

sys.path.insert(0, str(ROOT))
from tests import images  # noqa: E402  (the test images: packages' photos, composed as webcam frames)
from tests.browser import chromium_context, y4m_write  # noqa: E402

# In the page: stamps of the click, the video's first picture and the first status the server's answer set.
PROBE = """() => {
  window.firstFrame = {};
  document.getElementById("start").addEventListener("click", () => { firstFrame.click = performance.now(); });
  document.getElementById("video").addEventListener("loadeddata", () => { firstFrame.video = performance.now(); });
  new MutationObserver(() => { if (!firstFrame.answer) { firstFrame.answer = performance.now(); } })
    .observe(document.getElementById("status"), { childList: true, characterData: true, subtree: true });
}"""


def webcam(kind: str, folder: Path) -> Path:
    frame = images.webcam_face() if kind == "face" else np.ascontiguousarray(
        np.pad(np.asarray(images.no_face_images()["coffee"]), ((40, 40), (20, 20), (0, 0)), mode="edge")[:480, :640])
    return y4m_write(path=folder / f"{kind}.y4m", frames=[frame] * 10, fps=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        database_url = f"sqlite:///{tmp / 'db.sqlite3'}"
        env = server_env(database_url)
        migrate(env)
        os.environ["DJANGO_SECRET_KEY"] = env["DJANGO_SECRET_KEY"]  # exam links are signed with the server's key
        django_setup(database_url)
        from django.contrib.auth import get_user_model

        from monitor import services

        server, command = server_start(env, tmp, argparse.Namespace(instrument=False, profile=None))
        print(f"machine: {cpu_model()}; server: {' '.join(command[1:])}; {args.repeats} runs per webcam, "
              "frame interval 5 s")
        try:
            for kind in ("face", "empty room"):
                camera, answer = [], []
                # Made before the browser starts: Playwright's event loop runs in this thread from then on.
                links = [services.session_join_token(session=services.session_create(
                    learner=get_user_model().objects.create_user(f"bench-{kind.split()[0]}-{run}"),
                    course_id="bench", exam_id="first-frame")) for run in range(args.repeats + 1)]
                with chromium_context(video=webcam(kind.split()[0], tmp)) as context:
                    for run, link in enumerate(links):  # the first run loads the models: not counted
                        own = context.browser.new_context()  # a browser of its own: one login per learner
                        page = own.new_page()
                        page.goto(f"{server.url}/monitor/join/{link}/")
                        if not page.locator("#start").count():
                            sys.exit(f"no exam page at {page.url}: {page.inner_text('body')[:300]}")
                        page.evaluate(PROBE)
                        page.click("#start")
                        page.wait_for_function("() => window.firstFrame.answer", timeout=120_000)
                        stamps = page.evaluate("window.firstFrame")
                        own.close()
                        if run:
                            camera.append(stamps["video"] - stamps["click"])
                            answer.append(stamps["answer"] - stamps["video"])
                print(f"{kind:11} click -> camera picture p50 {statistics.median(camera):6.0f} ms;"
                      f" picture -> first answer p50 {statistics.median(answer):6.0f} ms"
                      f" (max {max(answer):.0f} ms); total p50 {statistics.median(c + a for c, a in zip(camera, answer)):6.0f} ms")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
