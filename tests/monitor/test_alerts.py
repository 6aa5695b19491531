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


def run_poses(frames, limits=None):
    """Feed (seconds, yaw, pitch, away) frames (yaw None: no face); return the open kinds after each."""
    limits = limits or {"yaw": 35.0, "pitch": 30.0}
    state, open_kinds, history = {}, set(), []
    for seconds, yaw, pitch, away in frames:
        pose = None if yaw is None else {"yaw": yaw, "pitch": pitch}
        obs = Observation(at=T0 + timedelta(seconds=seconds), face_count=0 if pose is None else 1,
                          score=None if pose is None else 80, status=None if pose is None else "engaged",
                          head_pose=pose, looking_away=None if pose is None else away, pose_limits=limits)
        state, wanted = rules_evaluate(state=state, observation=obs, open_kinds=open_kinds)
        open_kinds = set(wanted)
        history.append(sorted(open_kinds - {"absent"}))
    return history


@pytest.fixture
def looking_away_thresholds(settings):
    settings.MONITOR = {**settings.MONITOR, "LOOKING_AWAY_SECONDS": 10, "LOOKING_AWAY_MARGIN": 5}


def test_looking_away_opens_after_its_time_and_closes_with_a_margin(looking_away_thresholds):
    history = run_poses([(0, 50, 0, True), (5, 48, 0, True), (10, 45, 0, True),  # turned 10 s: opens
                         (15, 33, 0, False),  # inside the 35 degree limit but not by the 5 degree margin
                         (20, 10, 0, False),  # clearly back: closes
                         (25, 40, 0, True)])  # turned again: the time starts over
    assert history == [[], [], ["looking_away"], ["looking_away"], [], []]


def test_looking_down_counts_and_a_glance_does_not(looking_away_thresholds):
    history = run_poses([(0, 0, 40, True), (5, 0, 0, False), (10, 0, 40, True), (15, 0, 40, True),
                         (20, 0, 42, True)])
    assert history == [[], [], [], [], ["looking_away"]]


def test_frames_without_a_pose_leave_looking_away_as_it_is(looking_away_thresholds):
    history = run_poses([(0, 50, 0, True), (10, 50, 0, True), (12, None, None, None), (14, 50, 0, True),
                         (16, 0, 0, False)])
    assert history == [[], ["looking_away"], ["looking_away"], ["looking_away"], []]
