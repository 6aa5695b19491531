"""Middleware: DRF token auth for sockets, and the confinement of logins made by exam links."""
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.conf import settings
from django.contrib.auth import logout
from django.shortcuts import render
from django.urls import reverse
from . import selectors
from .models import ExamSession
from .services import EXAM_LOGIN_KEY
from .conf import monitor_settings


class ExamLoginMiddleware:
    """A login made by an exam link reaches only that exam's page (and logout); it ends when the exam ends."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session_id = request.session.get(EXAM_LOGIN_KEY) if hasattr(request, "session") else None
        if not session_id or not request.user.is_authenticated:
            return self.get_response(request)
        # Another exam link may replace this login; static files and logout serve the exam page.
        open_prefixes = (reverse("logout"), settings.STATIC_URL, reverse("monitor:join", args=["-"])[:-2],
                         # Pages of other apps that serve this exam (MONITOR_EXAM_LOGIN_OPEN_PATHS, "{session_id}").
                         *(path.format(session_id=session_id) for path in monitor_settings["EXAM_LOGIN_OPEN_PATHS"]))
        active = ExamSession.objects.of_learner(request.user).running().filter(pk=session_id).exists()
        if not active:
            ended = ExamSession.objects.of_learner(request.user).ended().filter(pk=session_id).first()
            logout(request)
            if request.path.startswith(open_prefixes):
                # A new exam link or LMS launch after the exam ended goes on, logged out, and logs in anew.
                return self.get_response(request)
            if ended is not None and request.path == reverse("monitor:exam", args=[session_id]):
                from .views import exam_ended

                return exam_ended(request, ended)  # the exam page reloaded after the end: the end, not an error
            return render(request, "monitor/link_error.html", {
                "message": "The exam has ended, so the login from its link is closed."}, status=403)
        exam_path = reverse("monitor:exam", args=[session_id])
        if request.path == exam_path or request.path.startswith(open_prefixes):
            return self.get_response(request)
        return render(request, "monitor/link_error.html", {
            "message": "This login comes from an exam link: it opens your exam only.",
            "exam_path": exam_path}, status=403)


@database_sync_to_async
def _token_user(key: str):
    return selectors.api_token_user(key=key)


class TokenAuthMiddleware(BaseMiddleware):
    """Sets scope["user"] from a DRF token header; browsers keep their session cookie user."""

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        auth = headers.get(b"authorization", b"").decode("latin-1").split()
        if len(auth) == 2 and auth[0].lower() == "token":
            from django.contrib.auth.models import AnonymousUser

            scope = dict(scope, user=await _token_user(auth[1]) or AnonymousUser(), auth_token=auth[1])
        return await super().__call__(scope, receive, send)
