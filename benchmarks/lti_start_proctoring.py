"""Time from an LtiStartProctoring launch to the LtiStartAssessment post, in Chromium with a fake camera.

Starts its own server (python -m proctoring.serve, a throwaway SQLite file) and an LTI platform written from the
1EdTech specifications (tests/lti/spec_platform.py, Open edX's claim shapes: roles []), registered in the tool.
Each run, in a browser of its own: the platform's launch (OIDC login, authorization, signed LtiStartProctoring),
the tool's notice and camera check (the page analyses camera pictures until one face is in view), the learner's
"I agree" click, and the signed LtiStartAssessment posted back to the platform, which verifies it with the tool's
key set. Prints medians of: launch -> check passed, click -> platform received the post, their sum, and the
server's CPU time per run. Never asserts.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, cpu_model
from _cpu import cpu_seconds
from _server import django_setup, migrate, server_env, server_start

sys.path.insert(0, str(ROOT))
from tests import images  # noqa: E402
from tests.browser import chromium_context, y4m_write  # noqa: E402
from tests.lti.spec_platform import AP, SpecPlatform  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--port", type=int, default=8150, help="the tool's port (the platform takes the next one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        database_url = f"sqlite:///{tmp / 'db.sqlite3'}"
        env = dict(server_env(database_url), LTI_HTTP_HOSTS="127.0.0.1,localhost")
        migrate(env)
        django_setup(database_url)
        from lti_tool.models import LtiDeployment, LtiRegistration

        server, command = server_start(env, tmp, argparse.Namespace(instrument=False, profile=None, port=args.port))
        platform = SpecPlatform(server.url, shape="openedx", port=args.port + 1)
        registration = LtiRegistration.objects.create(**platform.tool_registration())
        LtiDeployment.objects.create(registration=registration, deployment_id=platform.deployment_id, is_active=True)
        video = y4m_write(path=tmp / "face.y4m", frames=[images.webcam_face()] * 10, fps=5)
        print(f"machine: {cpu_model()}; server: {' '.join(command[1:])}; {args.repeats} runs (+1 warm-up), "
              f"Open edX-shaped platform on {platform.url}")
        to_check, to_post, server_cpu = [], [], []
        try:
            with chromium_context(video=video) as context:
                for run in range(args.repeats + 1):  # the first run loads the models: not counted
                    own = context.browser.new_context()  # one learner, one browser
                    page = own.new_page()
                    url = platform.launch_url(sub=f"learner-{run}", roles=[], message_type="LtiStartProctoring",
                                              extra={AP + "start_assessment_url": f"{platform.url}/start-assessment",
                                                     AP + "attempt_number": 1})
                    cpu = cpu_seconds(server.popen.pid)
                    started = time.perf_counter()
                    page.goto(url)
                    page.wait_for_function(
                        "() => document.getElementById('check-status')?.textContent.startsWith('Camera OK')",
                        timeout=120_000)
                    checked = time.perf_counter()
                    before = len(platform.started)
                    page.click("#start")
                    while len(platform.started) == before:
                        page.wait_for_timeout(5)
                        if time.perf_counter() - checked > 60:
                            sys.exit(f"no LtiStartAssessment reached the platform: {page.inner_text('body')[:300]}")
                    received = platform.started[-1]["received_at"]
                    cpu = cpu_seconds(server.popen.pid) - cpu
                    own.close()
                    if run:
                        server_cpu.append(cpu * 1000)
                        to_check.append((checked - started) * 1000)
                        to_post.append((received - checked) * 1000)
        finally:
            platform.stop()
            server.stop()
        total = [a + b for a, b in zip(to_check, to_post)]
        print(f"launch -> camera check passed p50 {statistics.median(to_check):6.0f} ms "
              f"(min {min(to_check):.0f}, max {max(to_check):.0f})")
        print(f"click  -> LtiStartAssessment received p50 {statistics.median(to_post):6.0f} ms "
              f"(min {min(to_post):.0f}, max {max(to_post):.0f})")
        print(f"total p50 {statistics.median(total):6.0f} ms; the server's CPU per run p50 "
              f"{statistics.median(server_cpu):.0f} ms (launch, camera-check analyses, start)")
        print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
