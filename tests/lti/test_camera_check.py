"""The LTI camera check's limits: throttled per user, analysed on the shared analysis threads, no age or gender."""
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


def test_the_camera_check_infers_no_age_or_gender(platform, live_server, monkeypatch):
    """Issue 22: the check only counts faces, so it never pays for (nor infers) age and gender, as exams do not."""
    from engagement import services

    asked = []
    real = services._engine_run

    def spy(images, detector, age_gender):
        asked.append(age_gender)
        return real(images, detector, age_gender)

    monkeypatch.setattr(services, "_engine_run", spy)
    launched, _, url, headers = proctoring_opened(platform, live_server)
    answer = launched.session.post(url, json={"image": images.data_url(images.webcam_face())}, headers=headers,
                                   timeout=60)
    assert answer.status_code == 200 and answer.json()["ok"] is True, answer.text
    assert asked == [False]
