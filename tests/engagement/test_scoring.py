"""Every row and boundary of the prototype's scoring table."""
import pytest

from engagement import scoring
from engagement.scoring import EngagementStatus as S

ZERO = dict.fromkeys(("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"), 0.0)


def emotions(**values):
    return {**ZERO, **values}


@pytest.mark.parametrize(
    "values, expected",
    [
        ({"happy": 100}, 100.0),
        ({"neutral": 100}, 70.0),
        ({"sad": 100}, 0.0),  # clamped at 0
        ({"happy": 60, "surprise": 10, "neutral": 20, "sad": 10}, 60 + 10 + 14 - 10),
        ({"happy": 85, "neutral": 10, "surprise": 3, "sad": 1, "angry": 0.5, "fear": 0.3, "disgust": 0.2}, 93.0),
        ({"angry": 25, "disgust": 25, "fear": 25, "sad": 25}, 0.0),
        ({"happy": 50, "angry": 50}, 0.0),
    ],
)
def test_engagement_score(values, expected):
    assert scoring.engagement_score(emotions(**values)) == pytest.approx(expected)


@pytest.mark.parametrize(
    "score, dominant, status",
    [
        (100, "happy", S.HIGHLY_ENGAGED), (70, "surprise", S.HIGHLY_ENGAGED), (70, "neutral", S.ENGAGED),
        (85, "sad", S.ENGAGED),
        (69.99, "happy", S.PARTIALLY_ENGAGED), (69, "neutral", S.NEUTRAL), (40, "neutral", S.NEUTRAL),
        (40, "fear", S.PARTIALLY_ENGAGED),
        (39.99, "neutral", S.DISTRACTED), (39, "sad", S.CONFUSED), (20, "fear", S.CONFUSED), (20, "happy", S.DISTRACTED),
        (19.99, "sad", S.FRUSTRATED), (0, "angry", S.FRUSTRATED), (19, "fear", S.BORED), (0, "neutral", S.BORED),
        (10, "disgust", S.BORED),
    ],
)
def test_status_table(score, dominant, status):
    assert scoring.engagement_status(score, dominant) == status


@pytest.mark.parametrize(
    "status, expected",
    [
        (S.HIGHLY_ENGAGED, ["Excellent focus! Keep up the great work!", "You're doing fantastic! Stay on track."]),
        (S.ENGAGED, ["Good focus! You're learning well."]),
        (S.NEUTRAL, ["Try to stay more engaged with content."]),
        (S.PARTIALLY_ENGAGED, ["Your attention seems drifting. Refocus."]),
        (S.CONFUSED, ["Try rewatching this section."]),
        (S.DISTRACTED, ["Remove distractions and refocus."]),
        (S.FRUSTRATED, ["Take a short break if feeling frustrated."]),
        (S.BORED, ["Try changing your study environment."]),
    ],
)
def test_recommendations_include_the_prototypes(status, expected):
    advice = scoring.recommendations(status)
    for text in expected:
        assert text in advice


def test_dominant_emotion():
    assert scoring.dominant_emotion(emotions(fear=40, sad=30, neutral=30)) == "fear"
