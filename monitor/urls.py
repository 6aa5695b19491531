"""Pages and API routes of monitor."""
from django.urls import path

from . import rest, views

app_name = "monitor"

urlpatterns = [
    path("join/<str:token>/", views.join, name="join"),
    path("sessions/<uuid:session_id>/", views.exam, name="exam"),
    path("live/", views.live, name="live"),
    path("evidence/<int:alert_id>/", views.evidence_picture, name="evidence"),
]

api_urlpatterns = [
    path("sessions/", rest.SessionListCreateApi.as_view(), name="sessions"),
    path("sessions/<uuid:session_id>/", rest.SessionDetailApi.as_view(), name="session"),
    path("sessions/<uuid:session_id>/report/", rest.SessionReportApi.as_view(), name="session-report"),
    path("sessions/<uuid:session_id>/logs/", rest.SessionLogsApi.as_view(), name="session-logs"),
    path("sessions/<uuid:session_id>/end/", rest.SessionEndApi.as_view(), name="session-end"),
    path("sessions/<uuid:session_id>/join-link/", rest.SessionJoinLinkApi.as_view(), name="session-join-link"),
    path("alerts/", rest.AlertListApi.as_view(), name="alerts"),
    path("alerts/<int:alert_id>/review/", rest.AlertReviewApi.as_view(), name="alert-review"),
    path("learners/<int:learner_id>/export/", rest.LearnerExportApi.as_view(), name="learner-export"),
    path("learners/<int:learner_id>/erase/", rest.LearnerEraseApi.as_view(), name="learner-erase"),
    path("webhooks/", rest.WebhookListCreateApi.as_view(), name="webhooks"),
    path("webhooks/<int:webhook_id>/", rest.WebhookDetailApi.as_view(), name="webhook"),
    path("webhooks/<int:webhook_id>/deliveries/", rest.WebhookDeliveriesApi.as_view(), name="webhook-deliveries"),
]
