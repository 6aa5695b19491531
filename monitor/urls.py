"""Pages and API routes of monitor."""
from django.urls import path

from . import apis, views

app_name = "monitor"

urlpatterns = [
    path("join/<str:token>/", views.join, name="join"),
    path("sessions/<uuid:session_id>/", views.exam, name="exam"),
    path("live/", views.live, name="live"),
]

api_urlpatterns = [
    path("sessions/", apis.SessionCreateApi.as_view(), name="session-create"),
    path("sessions/<uuid:session_id>/end/", apis.SessionEndApi.as_view(), name="session-end"),
]
