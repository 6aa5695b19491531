"""WebSocket routes of monitor."""
from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/monitor/sessions/<str:session_id>/", consumers.SessionConsumer.as_asgi()),
    path("ws/monitor/instructors/", consumers.InstructorConsumer.as_asgi()),
]
