"""URLs of the LTI tool (mounted at /lti/)."""
from django.urls import path

from . import views

app_name = "lti"
urlpatterns = [
    path("login/", views.login_init, name="login"),
    path("login/<uuid:registration_uuid>/", views.login_init, name="login-registration"),
    path("launch/", views.launch, name="launch"),
    path("continue/<str:token>/", views.continue_launch, name="continue"),
    path("jwks/", views.jwks, name="jwks"),
    path("deep-link/", views.deep_link, name="deep-link"),
    path("register/", views.register, name="register"),
    path("registrations/", views.registrations, name="registrations"),
    path("setup/", views.setup, name="setup"),
    path("proctoring/<uuid:session_id>/", views.proctoring, name="proctoring"),
    path("proctoring/<uuid:session_id>/check/", views.proctoring_check, name="proctoring-check"),
    path("proctoring/<uuid:session_id>/start/", views.proctoring_start, name="proctoring-start"),
    path("proctoring/<uuid:session_id>/monitor/", views.proctoring_monitor, name="proctoring-monitor"),
    path("control/<uuid:session_id>/", views.control, name="control"),
]
