"""The identity check in a real Chromium whose fake camera shows the learner, then someone else halfway."""
import re

import numpy as np
import pytest
import requests
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from monitor import services
from monitor.models import Alert, AlertKind, IdentityReference
from tests import images
from tests.browser import chromium_context, page_screenshot, y4m_write
from tests.monitor.test_exam_page import asgi_server, live_view, lms_tenant, lms_token  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
FPS = 5


def learner_then_someone_else(tmp_path, learner_seconds=8, other_seconds=60):
    """A webcam video: the learner (the astronaut, in two framings), then Grace Hopper in the same seat."""
    learner = [images.webcam_face(), images.composed_face(150, "grey", (330, 230))]
    frames = [learner[(i // FPS) % 2] for i in range(learner_seconds * FPS)]
    frames += [images.webcam_hopper()] * (other_seconds * FPS)
    return y4m_write(path=tmp_path / "webcam.y4m", frames=[np.ascontiguousarray(f) for f in frames], fps=FPS)


@pytest.mark.embedded_only  # the cadence is shortened in this process's settings; Celery workers keep their own
def test_someone_else_taking_over_halfway_opens_identity_changed(asgi_server, settings, tmp_path, request):
    settings.MONITOR = {**settings.MONITOR, "RATE_LIMIT_FRAMES": 100, "IDENTITY_REFERENCE_FRAMES": 3,
                        "IDENTITY_CHECK_SECONDS": 2}
    learner = get_user_model().objects.create_user("lea", password="lea-password")
    get_user_model().objects.create_superuser("ines", password="ines-password")
    token = lms_token()
    session = services.session_create(learner=learner, course_id="c1", exam_id="e1", frame_interval=0.5,
                                      identity_check=True, tenant=lms_tenant())
    with chromium_context(video=learner_then_someone_else(tmp_path)) as context:
        live = live_view(context, asgi_server.url)
        row = live.locator(f'tr[data-session="{session.id}"]')
        page = context.new_page()
        page.goto(f"{asgi_server.url}/monitor/join/{services.session_join_token(session=session)}/")
        expect(page.locator("#identity-notice")).to_contain_text("compared with your face at the start of this exam")
        page_screenshot(page=page, name=f"{request.node.name}-notice")
        page.locator("#start").click()
        expect(page.locator("#connection")).to_have_text("connected")
        # The learner's face is taken as the reference first, while the video still shows her.
        expect(page.locator("#alerts li[data-kind=identity_changed]")).to_be_visible(timeout=60_000)
        expect(row.locator("span[data-kind=identity_changed]")).to_be_visible()
        expect(row).to_have_class(re.compile(r"\bhas-critical\b"))
        page_screenshot(page=page, name=f"{request.node.name}-learner")
        page_screenshot(page=live, name=f"{request.node.name}-instructor")
        assert IdentityReference.objects.filter(session=session).exists()
        ended = requests.post(f"{asgi_server.url}/api/v1/sessions/{session.id}/end/",
                              headers={"Authorization": f"Token {token}"}, timeout=30)
        assert ended.status_code == 200
        expect(page.locator("#ended-banner")).to_be_visible()
    alert = Alert.objects.get(session=session, kind=AlertKind.IDENTITY_CHANGED)
    assert alert.severity == "critical" and alert.closed_at is not None
    assert ended.json()["summary"]["alerts_by_kind"] == {"identity_changed": 1}
    assert not IdentityReference.objects.exists()  # the reference face is gone with the session's end
