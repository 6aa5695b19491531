"""Project-level pages: the home page."""
from django.http import JsonResponse
from django.shortcuts import render
from django.views.defaults import page_not_found
from django.views.defaults import server_error as default_server_error


def home(request):
    """Links to the try page, the admin and the API."""
    return render(request, "home.html")


def healthz(request):
    """Liveness for load balancers and operators: whether this process has loaded the analysis engine."""
    from django.conf import settings
    from django.db import connection

    from engagement.engines import engine_loaded

    engine = engine_loaded()
    try:
        connection.ensure_connection()
        database = True
    except Exception:  # an unreachable database is what this endpoint reports, not an error of its own
        database = False
    body = {"status": "ok" if database else "degraded", "database": database,
            "engine": {"configured": settings.ENGAGEMENT["ENGINE"], "loaded": engine is not None,
                       "name": getattr(engine, "name", None),
                       "load_seconds": round(getattr(engine, "load_seconds", 0.0), 2) if engine else None},
            "analysis": "celery" if settings.CELERY_BROKER_URL else "in-process"}
    return JsonResponse(body, status=200 if database else 503)


def not_found(request, exception=None):
    """404: JSON under /api/ (clients parse it), the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"success": False, "error": "not_found", "message": "No such resource."}, status=404)
    return page_not_found(request, exception)


def server_error(request):
    """500: JSON under /api/, never an HTML page for an API client."""
    if request.path.startswith("/api/") or request.path.endswith("analyze-mood"):
        return JsonResponse({"success": False, "error": "server_error", "message": "Internal error."}, status=500)
    return default_server_error(request)
