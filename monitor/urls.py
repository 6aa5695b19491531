"""Pages and API routes of monitor."""
from django.urls import path

from . import apis, views

app_name = "monitor"

urlpatterns = [
    path("join/<str:token>/", views.join, name="join"),
    path("sessions/<uuid:session_id>/", views.exam, name="exam"),
    path("live/", views.live, name="live"),
    path("evidence/<int:alert_id>/", views.evidence_picture, name="evidence"),
]

api_urlpatterns = [
    path("sessions/", apis.SessionListCreateApi.as_view(), name="sessions"),
    path("sessions/<uuid:session_id>/", apis.SessionDetailApi.as_view(), name="session"),
    path("sessions/<uuid:session_id>/report/", apis.SessionReportApi.as_view(), name="session-report"),
    path("sessions/<uuid:session_id>/logs/", apis.SessionLogsApi.as_view(), name="session-logs"),
    path("sessions/<uuid:session_id>/end/", apis.SessionEndApi.as_view(), name="session-end"),
    path("sessions/<uuid:session_id>/join-link/", apis.SessionJoinLinkApi.as_view(), name="session-join-link"),
    path("alerts/", apis.AlertListApi.as_view(), name="alerts"),
    path("alerts/<int:alert_id>/review/", apis.AlertReviewApi.as_view(), name="alert-review"),
    path("learners/<int:learner_id>/export/", apis.LearnerExportApi.as_view(), name="learner-export"),
    path("learners/<int:learner_id>/erase/", apis.LearnerEraseApi.as_view(), name="learner-erase"),
    path("webhooks/", apis.WebhookListCreateApi.as_view(), name="webhooks"),
    path("webhooks/<int:webhook_id>/", apis.WebhookDetailApi.as_view(), name="webhook"),
    path("webhooks/<int:webhook_id>/deliveries/", apis.WebhookDeliveriesApi.as_view(), name="webhook-deliveries"),
]
