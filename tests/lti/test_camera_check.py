"""The LTI camera check's limits: throttled per user, analysed on the shared analysis threads."""
import threading

import pytest

from tests import images
from tests.lti.conftest import proctoring_opened

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.embedded_only
def test_the_camera_check_is_throttled_and_runs_on_the_analysis_threads(platform, live_server, settings,
                                                                         monkeypatch):
    from engagement import services

    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "camera_check": "2/minute"}
    threads = []
    real = services._frames_results

    def spy(frames, *args):
        threads.append(threading.current_thread().name)
        return real(frames, *args)

    monkeypatch.setattr(services, "_frames_results", spy)
    launched, _, url, headers = proctoring_opened(platform, live_server)
    face = {"image": images.data_url(images.webcam_face())}
    answers = [launched.session.post(url, json=face, headers=headers, timeout=60) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429], [a.text for a in answers]
    assert answers[0].json()["ok"] is True
    assert answers[2].json()["error"] == "throttled" and answers[2].json()["ok"] is False
    assert len(threads) == 2 and all(name.startswith("analysis") for name in threads), threads
