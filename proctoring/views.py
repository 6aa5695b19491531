"""Project-level pages: the home page per role, health, and the error pages (JSON under /api/)."""
from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render

from .middleware import is_api_request


def home(request):
    """What this user may open: learners their exams and the try page, instructors the live view and reports,
    the LMS account and administrators the API docs and the admin."""
    from monitor import api as monitor_api

    user = request.user
    context = {"exams": [], "watch": False, "reports": False, "api": False, "admin": False, "lti": False}
    if user.is_authenticated:
        context["exams"] = list(monitor_api.sessions_running(learner=user))
        context["watch"] = monitor_api.user_can_watch(user=user)
        context["reports"] = user.is_staff and user.has_perm("monitor.view_examsession")
        context["api"] = user.is_superuser or user.has_perm("monitor.add_examsession")
        context["admin"] = user.is_staff
        context["lti"] = user.is_superuser or user.has_perm("lti_tool.view_ltiregistration")
    return render(request, "home.html", context)


def healthz(request):
    """Liveness for load balancers and operators: whether this process has loaded the analysis engine (which one,
    to staff only)."""
    from django.conf import settings
    from django.db import connection

    from engagement.api import offloaded
    from engagement.engines import engine_loaded

    engine = engine_loaded()
    try:
        connection.ensure_connection()
        database = True
    except Exception:  # an unreachable database is what this endpoint reports, not an error of its own
        database = False
    body = {"status": "ok" if database else "degraded", "database": database,
            "engine": {"loaded": engine is not None}}
    if request.user.is_staff:
        # Which engine and set-up runs is for operators; to anyone else it only helps pick an attack.
        body["engine"].update(configured=settings.ENGAGEMENT["ENGINE"], name=getattr(engine, "name", None),
                              load_seconds=round(getattr(engine, "load_seconds", 0.0), 2) if engine else None)
        body["analysis"] = "celery" if offloaded() else "in-process"
    return JsonResponse(body, status=200 if database else 503)


def forbidden(request, exception=None):
    """403: JSON for API clients, else a page that says so and leads home."""
    if is_api_request(request):
        return JsonResponse({"success": False, "error": "forbidden", "message": "You may not do this."}, status=403)
    return render(request, "403.html", status=403)


def not_found(request, exception=None):
    """404: JSON under /api/ (clients parse it), else a page that leads home."""
    if is_api_request(request):
        return JsonResponse({"success": False, "error": "not_found", "message": "No such resource."}, status=404)
    return render(request, "404.html", status=404)


def server_error(request):
    """500: JSON for API clients, never an HTML page; a plain page (no database, no user) for people."""
    if is_api_request(request):
        return JsonResponse({"success": False, "error": "server_error", "message": "Internal error."}, status=500)
    from django.template import loader

    return HttpResponseServerError(loader.get_template("500.html").render())
