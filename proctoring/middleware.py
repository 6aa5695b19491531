"""Project middleware: 503 while the database is unreachable; security headers on every answer."""
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
        if request.path.startswith("/api/") or request.path.rstrip("/").endswith("analyze-mood"):
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
