"""WebSocket routes of the project's apps."""
from monitor.routing import websocket_urlpatterns as monitor_routes

websocket_urlpatterns = [*monitor_routes]
