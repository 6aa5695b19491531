"""The prototype's engagement formula, status table and recommendations."""
from __future__ import annotations

from django.db import models


class Emotion(models.TextChoices):
    """The seven FER2013 classes."""

    ANGRY = "angry"  # anger
    DISGUST = "disgust"  # disgust
    FEAR = "fear"  # fear or anxiety
    HAPPY = "happy"  # happiness, smiling
    SAD = "sad"  # sadness
    SURPRISE = "surprise"  # surprise
    NEUTRAL = "neutral"  # no marked expression


class EngagementStatus(models.TextChoices):
    """Status bands of the engagement score, refined by the dominant emotion."""

    HIGHLY_ENGAGED = "highly_engaged", "Highly engaged"  # 70-100 and happy or surprised
    ENGAGED = "engaged", "Engaged"  # 70-100 otherwise
    NEUTRAL = "neutral", "Neutral"  # 40-69 and neutral
    PARTIALLY_ENGAGED = "partially_engaged", "Partly engaged"  # 40-69 otherwise
    CONFUSED = "confused", "Confused"  # 20-39 and sad or afraid
    DISTRACTED = "distracted", "Distracted"  # 20-39 otherwise
    FRUSTRATED = "frustrated", "Frustrated"  # 0-19 and sad or angry
    BORED = "bored", "Bored"  # 0-19 otherwise


class FrameError(models.TextChoices):
    """Why a frame with a readable image was not analysed (its status is then this instead)."""

    NO_FACE = "no_face", "No face in view"  # the detector found no face
    FACE_TOO_SMALL = "face_too_small", "Too far from the camera"  # the face is narrower than min_face_size


RECOMMENDATIONS: dict[str, list[str]] = {
    EngagementStatus.HIGHLY_ENGAGED: [
        "Excellent focus! Keep up the great work!",
        "You're doing fantastic! Stay on track.",
    ],
    EngagementStatus.ENGAGED: [
        "Good focus! You're learning well.",
        "Keep going at this pace.",
    ],
    EngagementStatus.NEUTRAL: [
        "Try to stay more engaged with content.",
        "Take notes to keep your mind active.",
    ],
    EngagementStatus.PARTIALLY_ENGAGED: [
        "Your attention seems drifting. Refocus.",
        "Try summarising the last point in your own words.",
    ],
    EngagementStatus.CONFUSED: [
        "Try rewatching this section.",
        "Write down the question you have and ask for help.",
    ],
    EngagementStatus.DISTRACTED: [
        "Remove distractions and refocus.",
        "Close other tabs and silence notifications.",
    ],
    EngagementStatus.FRUSTRATED: [
        "Take a short break if feeling frustrated.",
        "Break the problem into smaller steps.",
    ],
    EngagementStatus.BORED: [
        "Try changing your study environment.",
        "Set yourself a small goal for the next few minutes.",
    ],
}


def engagement_score(emotions: dict[str, float]) -> float:
    """Score 0-100 from emotion percentages: (happy + surprise + 0.7 neutral) - (sad + angry + fear + disgust)."""
    positive = emotions["happy"] + emotions["surprise"] + emotions["neutral"] * 0.7
    negative = emotions["sad"] + emotions["angry"] + emotions["fear"] + emotions["disgust"]
    return round(max(0.0, min(100.0, positive - negative)), 2)


def dominant_emotion(emotions: dict[str, float]) -> str:
    """The emotion with the highest percentage."""
    return max(emotions, key=emotions.__getitem__)


def engagement_status(score: float, dominant: str) -> EngagementStatus:
    """The status for a score band and the dominant emotion (the prototype's table)."""
    if score >= 70:
        return EngagementStatus.HIGHLY_ENGAGED if dominant in ("happy", "surprise") else EngagementStatus.ENGAGED
    if score >= 40:
        return EngagementStatus.NEUTRAL if dominant == "neutral" else EngagementStatus.PARTIALLY_ENGAGED
    if score >= 20:
        return EngagementStatus.CONFUSED if dominant in ("sad", "fear") else EngagementStatus.DISTRACTED
    return EngagementStatus.FRUSTRATED if dominant in ("sad", "angry") else EngagementStatus.BORED


def recommendations(status: str) -> list[str]:
    """Advice for the learner in this status."""
    return list(RECOMMENDATIONS[EngagementStatus(status)])
