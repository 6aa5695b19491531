"""Project-level pages: the home page."""
from django.http import JsonResponse
from django.shortcuts import render
from django.views.defaults import page_not_found
from django.views.defaults import server_error as default_server_error


def home(request):
    """Links to the try page, the admin and the API."""
    return render(request, "home.html")


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
