"""Alert rules: thresholds, one alert per run, hysteresis."""
from datetime import datetime, timedelta, timezone

import pytest

from monitor.alerts import Observation, rules_evaluate

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def thresholds(settings):
    settings.MONITOR = {**settings.MONITOR, "ABSENT_SECONDS": 10, "MULTIPLE_FACES_FRAMES": 2,
                        "LOW_ENGAGEMENT_SCORE": 30, "LOW_ENGAGEMENT_SECONDS": 20, "LOW_ENGAGEMENT_MARGIN": 5,
                        "STRUGGLING_SECONDS": 10, "EMA_ALPHA": 0.5}


def run(observations):
    """Feed observations (seconds, face_count, score, status); return the open kinds after each."""
    state, open_kinds, history = {}, set(), []
    for seconds, faces, score, status in observations:
        obs = Observation(at=T0 + timedelta(seconds=seconds), face_count=faces, score=score, status=status)
        state, wanted = rules_evaluate(state=state, observation=obs, open_kinds=open_kinds)
        open_kinds = set(wanted)
        history.append(sorted(open_kinds))
    return history, state


def test_low_engagement_needs_time_and_closes_with_a_margin():
    frames = [(0, 1, 10, "bored"), (10, 1, 10, "bored"), (20, 1, 10, "bored"),  # low for 20 s: opens
              (25, 1, 50, "neutral"),  # ema 30: not yet above 30 + 5
              (30, 1, 50, "neutral"),  # ema 40: closes
              (35, 1, 25, "distracted")]  # ema 32.5: above 30, no new alert
    history, state = run(frames)
    assert history == [[], [], ["low_engagement"], ["low_engagement"], [], []]
    assert state["ema"] == 32.5


def test_struggling_opens_after_its_time_and_closes_at_once():
    frames = [(0, 1, 25, "confused"), (5, 1, 15, "frustrated"), (10, 1, 25, "confused"), (15, 1, 80, "engaged")]
    history, _ = run(frames)
    assert history == [[], [], ["struggling"], []]


def test_frames_without_a_face_keep_engagement_alerts_as_they_are():
    frames = [(0, 1, 25, "confused"), (10, 1, 25, "confused"), (12, 0, None, None), (14, 1, 25, "confused")]
    history, _ = run(frames)
    assert history == [[], ["struggling"], ["struggling"], ["struggling"]]


def test_multiple_faces_need_consecutive_frames():
    history, _ = run([(0, 2, 80, "engaged"), (5, 1, 80, "engaged"), (10, 3, 80, "engaged"), (15, 2, 80, "engaged"),
                      (20, 1, 80, "engaged")])
    assert history == [[], [], [], ["multiple_faces"], []]


def test_absence_is_timed_from_the_first_empty_frame():
    history, _ = run([(0, 0, None, None), (9, 0, None, None), (10, 0, None, None), (11, 1, 80, "engaged"),
                      (12, 0, None, None)])
    assert history == [[], [], ["absent"], [], []]
