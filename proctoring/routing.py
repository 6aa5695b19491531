"""WebSocket routes of the project's apps."""
websocket_urlpatterns: list = []
