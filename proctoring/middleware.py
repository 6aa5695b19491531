"""Answer 503 (JSON for the API) while the database is unreachable, instead of a 500 page."""
import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "5"


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
