"""Request parsing helpers for the engagement API."""
from __future__ import annotations

from typing import Any

from django.conf import settings

from .exceptions import InvalidInput, PayloadTooLarge
from .services import Frame


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
    if not isinstance(value, (str, int)) or isinstance(value, bool) or len(str(value)) > 128:
        raise InvalidInput("'session_id' must be a string of at most 128 characters.", code="invalid_session_id")
    return str(value)


def frame_from_request(*, request: Any) -> Frame:
    """The frame of an /analyze-mood request: a multipart file or a base64 / data URL string."""
    data = json_object(request.data)
    upload = request.FILES.get("image") if hasattr(request, "FILES") else None
    if upload is not None:
        limit = settings.ENGAGEMENT["MAX_REQUEST_BYTES"]
        if upload.size > limit:
            raise PayloadTooLarge(f"The uploaded image is {upload.size} bytes; the limit is {limit}.")
        return Frame(image=upload.read(), timestamp=data.get("timestamp"))
    return Frame(image=data.get("image"), timestamp=data.get("timestamp"))


def frames_from_request(*, request: Any) -> list[Frame | Any]:
    """The frames of a batch request; non-object items are kept so that they fail alone."""
    data = json_object(request.data)
    frames = data.get("frames")
    if not isinstance(frames, list) or not frames:
        raise InvalidInput("'frames' must be a non-empty list of {image, timestamp} objects.", code="invalid_frames")
    limit = settings.ENGAGEMENT["BATCH_MAX_FRAMES"]
    if len(frames) > limit:
        raise InvalidInput(f"A batch holds at most {limit} frames; got {len(frames)}.", code="batch_too_large")
    return [Frame(image=f.get("image"), timestamp=f.get("timestamp")) if isinstance(f, dict) else f for f in frames]
