"""Domain errors with an HTTP status, and the one handler that turns every API error into JSON."""
from __future__ import annotations

import logging
import math

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class EngagementError(Exception):
    """Base of the app's errors: a machine-readable code, a message and an HTTP status."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def __reduce__(self):
        # Rebuilt with its message and attributes whatever the subclass's __init__ takes: errors cross processes
        # (an analysis process's answer), and one that could not be unpickled would break the pool.
        return (_error_rebuild, (type(self), self.message, self.__dict__))

    def as_dict(self) -> dict:
        """The JSON body for this error."""
        return {"success": False, "error": self.code, "message": self.message}

    def as_answer(self) -> dict:
        """This error as a Celery worker's answer, for `from_answer` in the process that waits for it."""
        return {"error": self.as_dict(), "status": self.status_code, "retry_after": getattr(self, "retry_after", None)}

    @classmethod
    def from_answer(cls, answer: dict) -> "EngagementError":
        """Rebuild an error that crossed a process boundary (a Celery worker's answer), its Retry-After too."""
        error = cls(answer["error"]["message"], code=answer["error"]["error"])
        error.status_code = answer["status"]
        if answer.get("retry_after"):
            error.retry_after = answer["retry_after"]
        return error


def _error_rebuild(cls: type, message: str, state: dict) -> EngagementError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class InvalidInput(EngagementError):
    """Missing or malformed input (no image, bad base64, not an image, bad timestamp)."""

    status_code = 400
    code = "invalid_input"


class PayloadTooLarge(EngagementError):
    """A request body over the byte limit."""

    status_code = 413
    code = "payload_too_large"


class TooManyRequests(EngagementError):
    """Too many requests in analysis at once: 429, with the seconds to wait in Retry-After."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class NotSupported(EngagementError):
    """The configured engine cannot do what was asked (face verification with an engine that has no descriptor)."""

    status_code = 501
    code = "not_supported"


class EngineUnavailable(EngagementError):
    """The analysis engine failed; the client may retry later."""

    status_code = 503
    code = "engine_unavailable"


def api_exception_handler(exc, context):
    """DRF exception handler: every error is {"success": false, "error", "message"} JSON."""
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(str(exc))
    if isinstance(exc, EngagementError):
        if exc.status_code >= 500:
            logger.error("engagement API error: %s", exc.message)
        retry_after = getattr(exc, "retry_after", None)
        return Response(exc.as_dict(), status=exc.status_code,
                        headers={"Retry-After": str(retry_after)} if retry_after else None)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    if isinstance(exc, drf_exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))
        detail = exc.detail
        message = detail if isinstance(detail, str) else "Invalid request."
        body = {"success": False, "error": exc.get_codes() if isinstance(exc.get_codes(), str) else "invalid",
                "message": str(message)}
        if not isinstance(detail, str):
            body["errors"] = detail
        return Response(body, status=exc.status_code, headers=headers)
    return None
