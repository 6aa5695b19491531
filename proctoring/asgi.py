"""ASGI entry point: Django for HTTP (with static files), Channels for WebSockets."""
import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctoring.settings")
# Django must be set up before anything imports models (consumers, routing).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from asgiref.sync import sync_to_async  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.exceptions import SuspiciousOperation  # noqa: E402
from django.core.handlers.exception import response_for_exception  # noqa: E402

from django.conf import settings  # noqa: E402

from engagement.api import offloaded, processes_enabled, processes_start  # noqa: E402
from engagement.engines import warm_up  # noqa: E402
from monitor.middleware import TokenAuthMiddleware  # noqa: E402

from .middleware import RequestBodyGuard, SameOriginValidator  # noqa: E402

from .routing import websocket_urlpatterns  # noqa: E402

if settings.ENGAGEMENT["WARM_UP"] and not offloaded():
    # Analysis runs in this process: load the models before the first learner's frame, and fail here if they
    # are missing. (With Celery workers the models load in the workers instead.)
    warm_up()
    if processes_enabled():
        processes_start()  # the analysis processes, their models loaded, before the first frame

# What start-up made (Django, the models) lives as long as the server: kept out of the collector's full passes,
# which otherwise walk it all and stop every socket for ~100 ms a few times a minute under load.
gc.freeze()



class StaticFiles(ASGIStaticFilesHandler):
    """Django's static files, where a path that leaves the static folders (/static/%2e%2e/...) is answered 400 as
    any suspicious request is, not a 500 (Django's handler turns only a missing file into an answer)."""

    async def get_response_async(self, request):
        """The file, 404, or 400 for a suspicious path."""
        try:
            return await super().get_response_async(request)
        except SuspiciousOperation as exc:
            return await sync_to_async(response_for_exception, thread_sensitive=False)(request, exc)


application = ProtocolTypeRouter(
    {
        # Static files are served by the app itself so that one process runs the whole product offline.
        "http": RequestBodyGuard(StaticFiles(django_asgi_app)),
        # Full origin (scheme, host, port), not only the host as AllowedHostsOriginValidator checks.
        "websocket": SameOriginValidator(AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))),
    }
)
