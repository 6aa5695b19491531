"""Project middleware: 503 while the database is unreachable, security headers, socket origins, request bodies."""
import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "5"
# Everything is served from this origin (no CDN); sockets are same-origin; camera frames are blob/data URLs.
# Inline styles stay allowed: the admin report's bars and matplotlib's SVG charts use them. No inline scripts.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
                           "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; form-action 'self'; "
                           "frame-ancestors 'none'")
PERMISSIONS_POLICY = "camera=(self), microphone=(), geolocation=(), payment=(), usb=()"


def is_api_request(request) -> bool:
    """Whether a request is an API client's (JSON errors), not a person's page."""
    return request.path.startswith("/api/") or request.path.rstrip("/").endswith(("analyze-mood", "verify-faces"))


class SecurityHeadersMiddleware:
    """A Content-Security-Policy and a Permissions-Policy (the camera for this origin only) on every answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response



class DatabaseUnavailableMiddleware:
    """Turns database connection errors anywhere in a request into 503 Service Unavailable."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        except (OperationalError, InterfaceError) as exc:  # raised by middleware before any view ran
            return self.unavailable(request, exc)

    def process_exception(self, request, exception):
        """Views' database errors."""
        if isinstance(exception, (OperationalError, InterfaceError)):
            return self.unavailable(request, exception)
        return None

    @staticmethod
    def unavailable(request, exc) -> HttpResponse:
        """The 503 answer."""
        logger.error("database unavailable: %s", exc)
        message = "The database is unavailable; try again shortly."
        if is_api_request(request):
            response = JsonResponse({"success": False, "error": "database_unavailable", "message": message},
                                    status=503)
        else:
            response = HttpResponse(message, status=503, content_type="text/plain")
        response["Retry-After"] = RETRY_AFTER_SECONDS
        return response


def same_origin(scope) -> bool:
    """A socket handshake's Origin is this site: scheme, host and port as the client reached us, or a trusted one.

    The host must also be in ALLOWED_HOSTS; CSRF_TRUSTED_ORIGINS lists other origins that may open sockets.
    """
    from urllib.parse import urlsplit

    from django.conf import settings
    from django.http.request import validate_host

    headers = dict(scope.get("headers", []))
    try:
        origin = urlsplit(headers.get(b"origin", b"").decode("latin1"))
        host = urlsplit("//" + headers.get(b"host", b"").decode("latin1"))
        origin_port, host_port = origin.port, host.port
    except (UnicodeDecodeError, ValueError):
        return False
    if not origin.scheme or not origin.hostname:
        return False
    if f"{origin.scheme}://{origin.netloc}" in settings.CSRF_TRUSTED_ORIGINS:
        return True
    if origin.scheme not in ("http", "https") or not validate_host(origin.hostname, settings.ALLOWED_HOSTS):
        return False
    proxy = settings.SECURE_PROXY_SSL_HEADER
    forwarded = headers.get(b"x-forwarded-proto", b"").decode("latin1").lower() if proxy else ""
    scheme = "https" if scope.get("scheme") == "wss" or forwarded == "https" else "http"
    default = {"http": 80, "https": 443}
    if origin.scheme != scheme:
        return False
    if not host.hostname:
        return True  # no Host header (in-process test clients): the host check above is all there is
    return origin.hostname == host.hostname and (origin_port or default[scheme]) == (host_port or default[scheme])


class SameOriginValidator:
    """Accept a WebSocket only from this site's own origin (see same_origin); deny it otherwise."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if same_origin(scope):
            return await self.application(scope, receive, send)
        from channels.security.websocket import WebsocketDenier

        return await WebsocketDenier()(scope, receive, send)


LARGE_BODY_BYTES = 1024 * 1024  # a body above this (or a chunked one) counts against MAX_CONCURRENT_BODIES


class RequestBodyGuard:
    """ASGI: bounds what request bodies may cost before Django reads them.

    A declared Content-Length over ENGAGEMENT_MAX_BATCH_REQUEST_BYTES (the largest body any view accepts) is
    answered 413 unread; a body without one is cut there (413 as well); at most ENGAGEMENT_MAX_CONCURRENT_BODIES
    large bodies are in a process at once (429 with Retry-After), so that parallel uploads cannot exhaust its
    memory. Django keeps accepted bodies in memory (FILE_UPLOAD_MAX_MEMORY_SIZE): frames never reach the disk.
    """

    def __init__(self, application):
        self.application = application
        self.large_in_flight = 0  # one event loop per process: no lock needed

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.application(scope, receive, send)
        from django.conf import settings

        limit = settings.ENGAGEMENT["MAX_BATCH_REQUEST_BYTES"]
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        try:
            length = int(length) if length is not None else None
        except ValueError:
            return await _refuse(send, 400, "invalid_request", "Invalid Content-Length header.")
        if length is not None and length > limit:
            return await _refuse(send, 413, "payload_too_large",
                                 f"The request body is {length} bytes; the limit is {limit}.")
        large = chunked if length is None else length > LARGE_BODY_BYTES
        if large and self.large_in_flight >= settings.ENGAGEMENT["MAX_CONCURRENT_BODIES"]:
            return await _refuse(send, 429, "server_busy", "The server is reading other large requests: retry "
                                 "shortly.", retry_after=RETRY_AFTER_SECONDS)
        received, cut, answered = 0, False, False

        async def bounded_receive():
            nonlocal received, cut
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # only a body of undeclared length gets here
                    cut = True
                    return {"type": "http.disconnect"}  # Django stops reading and answers nothing
            return message

        async def watched_send(message):
            nonlocal answered
            answered = True
            await send(message)

        if large:
            self.large_in_flight += 1
        try:
            await self.application(scope, bounded_receive, watched_send)
        finally:
            if large:
                self.large_in_flight -= 1
        if cut and not answered:
            await _refuse(send, 413, "payload_too_large", f"The request body is over the limit of {limit} bytes.")


async def _refuse(send, status: int, code: str, message: str, retry_after: str | None = None) -> None:
    """A JSON error answer sent straight from the ASGI layer (the request body stays unread)."""
    import json

    headers = [(b"content-type", b"application/json"), (b"content-security-policy", CONTENT_SECURITY_POLICY.encode())]
    if retry_after:
        headers.append((b"retry-after", retry_after.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body",
                "body": json.dumps({"success": False, "error": code, "message": message}).encode()})
