"""Request parsing for the engagement API, and the request and answer shapes its OpenAPI schema shows."""
from __future__ import annotations

import base64
from typing import Any

from rest_framework import serializers as drf

from .engines.base import DETECTORS, EMOTIONS
from .exceptions import InvalidInput, PayloadTooLarge
from .scoring import EngagementStatus, FrameError
from .conf import engagement_settings


def body_size_check(*, request: Any, limit: int) -> None:
    """Refuse a body over `limit` bytes with 413 before it is read."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise InvalidInput("Invalid Content-Length header.", code="invalid_request") from None
    if length > limit:
        raise PayloadTooLarge(f"The request body is {length} bytes; the limit is {limit}.")


def json_object(data: Any) -> dict:
    """The request body as a dict, or a 400 naming what is wrong."""
    if not hasattr(data, "get"):
        raise InvalidInput("The request body must be a JSON object.", code="invalid_request")
    return data


def session_id_parse(value: Any) -> str | None:
    """An optional session id: a non-empty string of at most 128 characters."""
    if value in (None, ""):
        return None
    if (not isinstance(value, (str, int)) or isinstance(value, bool) or len(str(value)) > 128
            or "\x00" in str(value)  # PostgreSQL refuses NUL characters in text
            or not text_storable(str(value))):
        raise InvalidInput("'session_id' must be a string of at most 128 characters (no NUL, no lone surrogate).",
                           code="invalid_session_id")
    return str(value)


def text_storable(value: str) -> bool:
    """Whether a string can be stored as text: JSON may carry lone surrogates ("\\ud800") that UTF-8 cannot."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def frame_from_request(*, request: Any) -> dict:
    """The frame of an /analyze-mood request, {"image", "timestamp"}: a multipart file or base64 / data URL text."""
    data = json_object(request.data)
    upload = request.FILES.get("image") if hasattr(request, "FILES") else None
    if upload is not None:
        limit = engagement_settings["MAX_REQUEST_BYTES"]
        if upload.size > limit:
            raise PayloadTooLarge(f"The uploaded image is {upload.size} bytes; the limit is {limit}.")
        # As base64 text, like JSON clients send it, so that the frame can travel to a worker.
        return {"image": base64.b64encode(upload.read()).decode("ascii"), "timestamp": data.get("timestamp")}
    return {"image": data.get("image"), "timestamp": data.get("timestamp")}


def frames_from_request(*, request: Any) -> list:
    """The frames of a batch request, as sent; non-object items are kept so that they fail alone."""
    data = json_object(request.data)
    frames = data.get("frames")
    if not isinstance(frames, list) or not frames:
        raise InvalidInput("'frames' must be a non-empty list of {image, timestamp} objects.", code="invalid_frames")
    limit = engagement_settings["BATCH_MAX_FRAMES"]
    if len(frames) > limit:
        raise InvalidInput(f"A batch holds at most {limit} frames; got {len(frames)}.", code="batch_too_large")
    return frames


# -- Shapes of the API for its OpenAPI description (the views parse requests themselves, to name each problem).


class AnalyzeMoodRequest(drf.Serializer):
    """JSON body of /analyze-mood."""

    image = drf.CharField(help_text="A data URL (data:image/jpeg;base64,...) or bare base64 of a JPEG, PNG, WebP, "
                                    "BMP or GIF.")
    timestamp = drf.DateTimeField(required=False, help_text="When the frame was captured (ISO 8601).")
    detector_backend = drf.ChoiceField(choices=DETECTORS, required=False,
                                       help_text="'skip' takes the whole image as the face.")
    session_id = drf.CharField(required=False, max_length=128, help_text="Store the frame's metrics under this id.")


class AnalyzeMoodUpload(drf.Serializer):
    """Multipart body of /analyze-mood."""

    image = drf.FileField()
    timestamp = drf.DateTimeField(required=False)
    detector_backend = drf.ChoiceField(choices=DETECTORS, required=False)
    session_id = drf.CharField(required=False, max_length=128)


class Region(drf.Serializer):
    """A face box."""

    x = drf.IntegerField()
    y = drf.IntegerField()
    w = drf.IntegerField()
    h = drf.IntegerField()


class HeadPose(drf.Serializer):
    """A coarse head pose in degrees: yaw positive toward the image's right, pitch positive looking down."""

    yaw = drf.FloatField()
    pitch = drf.FloatField()


class AnalysisResult(drf.Serializer):
    """One frame's answer; on no_face / face_too_small only success, error, message and the counts are set."""

    success = drf.BooleanField()
    error = drf.CharField(required=False)
    message = drf.CharField(required=False)
    dominant_emotion = drf.ChoiceField(choices=EMOTIONS, required=False)
    emotions = drf.DictField(child=drf.FloatField(), required=False)
    engagement_score = drf.FloatField(required=False)
    engagement_status = drf.ChoiceField(choices=EngagementStatus.choices, required=False)
    recommendations = drf.ListField(child=drf.CharField(), required=False)
    age = drf.IntegerField(allow_null=True, required=False)
    gender = drf.CharField(allow_null=True, required=False)
    timestamp = drf.DateTimeField(required=False)
    face_count = drf.IntegerField(required=False)
    region = Region(allow_null=True, required=False)
    head_pose = HeadPose(allow_null=True, required=False)
    looking_away = drf.BooleanField(allow_null=True, required=False)
    engine = drf.CharField(required=False)
    processing_ms = drf.FloatField(required=False)
    timings_ms = drf.DictField(child=drf.FloatField(), required=False)
    index = drf.IntegerField(required=False, help_text="In a batch: the position of the frame this answers.")


class BatchFrame(drf.Serializer):
    """One frame of a batch."""

    image = drf.CharField()
    timestamp = drf.DateTimeField(required=False)


class BatchRequest(drf.Serializer):
    """JSON body of /batch-analyze-mood."""

    frames = BatchFrame(many=True)
    detector_backend = drf.ChoiceField(choices=DETECTORS, required=False)
    session_id = drf.CharField(required=False, max_length=128)


class BatchSummary(drf.Serializer):
    """The batch's summary."""

    total_frames = drf.IntegerField()
    analyzed_frames = drf.IntegerField()
    failed_frames = drf.IntegerField()
    average_engagement_score = drf.FloatField(allow_null=True)
    engagement_status = drf.CharField(allow_null=True)
    dominant_emotion = drf.CharField(allow_null=True)
    status_counts = drf.DictField(child=drf.IntegerField())
    emotion_averages = drf.DictField(child=drf.FloatField())


class BatchResult(drf.Serializer):
    """Answer of /batch-analyze-mood."""

    success = drf.BooleanField()
    summary = BatchSummary()
    results = AnalysisResult(many=True)


class VerifyFacesRequest(drf.Serializer):
    """JSON body of /verify-faces."""

    img1 = drf.CharField(help_text="The first image: a data URL or bare base64 of a JPEG, PNG, WebP, BMP or GIF.")
    img2 = drf.CharField(help_text="The second image, as img1.")
    detector_backend = drf.ChoiceField(choices=DETECTORS, required=False,
                                       help_text="'skip' takes each whole image as the face.")


class VerifiedFace(drf.Serializer):
    """The face compared in one image (the largest), and how many faces that image has."""

    region = Region(allow_null=True)
    face_count = drf.IntegerField()


class VerifyFacesResult(drf.Serializer):
    """Answer of /verify-faces; when an image has no usable face, success is false and error/image say which."""

    success = drf.BooleanField()
    verified = drf.BooleanField(required=False, help_text="distance < threshold: the same person.")
    distance = drf.FloatField(required=False, help_text="Euclidean distance of the two faces' descriptors.")
    threshold = drf.FloatField(required=False, help_text="ENGAGEMENT_VERIFICATION_THRESHOLD.")
    error = drf.ChoiceField(choices=FrameError.values, required=False)
    image = drf.ChoiceField(choices=("img1", "img2"), required=False, help_text="The image that has no usable face.")
    message = drf.CharField(required=False)
    model = drf.CharField(help_text="The descriptor model.")
    faces = VerifiedFace(many=True, help_text="img1's face, then img2's.")
    processing_ms = drf.FloatField()
    timings_ms = drf.DictField(child=drf.FloatField())


class ErrorResponse(drf.Serializer):
    """Every error's body."""

    success = drf.BooleanField(default=False)
    error = drf.CharField()
    message = drf.CharField()
