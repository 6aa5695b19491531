"""The LMS REST API: sessions, reports, logs, alerts and webhooks (thin: parse, call a service, answer)."""
from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from engagement.api import EngagementLog, InvalidInput

from . import privacy, reviews, selectors, services
from .models import Alert, ExamSession, Webhook, WebhookDelivery
from .serializers import (AlertFilter, AlertReviewSerializer, AlertSerializer, DeliverySerializer, LogFilter,
                          LogSerializer, ReportSerializer, SessionCreateSerializer, SessionFilter, SessionLinksSerializer,
                          SessionSerializer, WebhookSerializer)


class IsLms(BasePermission):
    """The LMS service account: a user with the permission to add exam sessions (it acts for its own tenant)."""

    message = "Only the LMS service account may do this (needs monitor.add_examsession)."

    def has_permission(self, request, view):
        return selectors.user_is_lms(user=request.user)


def session_links(request, session: ExamSession, token: str | None = None) -> dict:
    """The session's id, its one-time exam link (`token`, or the session's current one) and its socket URL."""
    token = token or services.session_join_token(session=session)
    scheme = "wss" if request.is_secure() else "ws"
    return {
        "id": str(session.id),
        "status": session.status,
        "exam_url": request.build_absolute_uri(reverse("monitor:join", args=[token])),
        "ws_url": f"{scheme}://{request.get_host()}/ws/monitor/sessions/{session.id}/",
    }


def visible_session(request, session_id) -> ExamSession:
    """The session, or 404 when it does not exist and 403 when it is someone else's."""
    session = ExamSession.objects.select_related("learner").filter(pk=session_id).first()
    if session is None:
        raise NotFound("No such session.")
    if not selectors.sessions_visible(user=request.user).filter(pk=session.pk).exists():
        raise PermissionDenied("This session is not yours to read.")
    return session


class SessionListCreateApi(generics.ListAPIView):
    """GET: the sessions you may read (filterable); POST (LMS): create a session for a learner."""

    queryset = ExamSession.objects.none()  # for the schema; get_queryset picks the rows
    serializer_class = SessionSerializer
    filterset_class = SessionFilter

    def get_permissions(self):
        return [IsAuthenticated(), IsLms()] if self.request.method == "POST" else [IsAuthenticated()]

    def get_queryset(self):
        return selectors.sessions_visible(user=self.request.user).order_by("-created_at")

    @extend_schema(request=SessionCreateSerializer, responses={201: SessionLinksSerializer})
    def post(self, request):
        """Create the session; answer its id, exam_url and ws_url."""
        serializer = SessionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = services.session_create(**serializer.validated_data, requested_by=request.user,
                                          tenant=services.tenant_of_account(account=request.user))
        return Response(session_links(request, session), status=status.HTTP_201_CREATED)


class SessionDetailApi(APIView):
    """One session."""

    @extend_schema(responses=SessionSerializer)
    def get(self, request, session_id):
        """The session, if you may read it."""
        return Response(SessionSerializer(visible_session(request, session_id), context={"request": request}).data)


class SessionReportApi(APIView):
    """A session's report: summary, timeline, status and emotion shares, alerts."""

    @extend_schema(responses=ReportSerializer)
    def get(self, request, session_id):
        """The report (computed live while the session runs)."""
        session = visible_session(request, session_id)
        report = selectors.session_report(session=session)
        return Response(ReportSerializer(report, context={"request": request}).data)


class SessionLogsApi(generics.ListAPIView):
    """A session's analysed frames, paginated, filterable by time, status and success."""

    queryset = EngagementLog.objects.none()  # for the schema; get_queryset picks the rows
    serializer_class = LogSerializer
    filterset_class = LogFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return selectors.session_logs(session=visible_session(self.request, self.kwargs["session_id"]))


class SessionEndApi(APIView):
    """End a session: its summary is computed and stored, its sockets are told and closed."""

    permission_classes = [IsAuthenticated, IsLms]

    @extend_schema(request=None, responses=SessionSerializer)
    def post(self, request, session_id):
        """End the session (one of the account's tenant) and answer it with its summary."""
        session = services.session_end_announced(session=visible_session(request, session_id))
        return Response(SessionSerializer(session).data)


class SessionJoinLinkApi(APIView):
    """A fresh one-time exam link for a session that has not ended (the learner lost the browser)."""

    permission_classes = [IsAuthenticated, IsLms]

    @extend_schema(request=None, responses={201: SessionLinksSerializer})
    def post(self, request, session_id):
        """Issue a new exam link (for a session of the account's tenant); the links issued before it stop working."""
        session = visible_session(request, session_id)
        token = services.session_join_link_renew(session=session)
        return Response(session_links(request, session, token), status=status.HTTP_201_CREATED)


class AlertListApi(generics.ListAPIView):
    """Alerts of the sessions you may read, filterable by kind, reviewed, course, session and open."""

    queryset = Alert.objects.none()  # for the schema; get_queryset picks the rows
    serializer_class = AlertSerializer
    filterset_class = AlertFilter

    def get_queryset(self):
        return selectors.alerts_visible(user=self.request.user).select_related("session", "reviewed_by").order_by(
            "-opened_at")


class AlertReviewApi(APIView):
    """Review an alert (instructors of its course and the LMS): an outcome and a note, the reviewer and time."""

    @extend_schema(request=AlertReviewSerializer, responses=AlertSerializer)
    def post(self, request, alert_id):
        """Record the outcome (confirmed, dismissed, needs_follow_up) and a note; with neither, mark it reviewed
        (reviewing twice keeps the first). A confirmed or dismissed alert is final: another outcome is 409."""
        alert = Alert.objects.select_related("session").filter(pk=alert_id).first()
        if alert is None:
            raise NotFound("No such alert.")
        visible_session(request, alert.session_id)
        review = AlertReviewSerializer(data=request.data)
        review.is_valid(raise_exception=True)
        # alert_review refuses (403) anyone but the course's instructors, the LMS and superusers.
        alert = reviews.alert_review(alert=alert, reviewer=request.user, **review.validated_data)
        return Response(AlertSerializer(alert, context={"request": request}).data)


class WebhookListCreateApi(generics.ListCreateAPIView):
    """The LMS's webhook endpoints: list and register."""

    queryset = Webhook.objects.none()  # for the schema; get_queryset picks the rows
    serializer_class = WebhookSerializer
    permission_classes = [IsAuthenticated, IsLms]

    def get_queryset(self):
        return Webhook.objects.filter(owner=self.request.user).order_by("id")

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user)


class WebhookDetailApi(generics.RetrieveUpdateDestroyAPIView):
    """One of the LMS's webhook endpoints: read, change (e.g. deactivate) or delete."""

    queryset = Webhook.objects.none()  # for the schema; get_queryset picks the rows
    serializer_class = WebhookSerializer
    permission_classes = [IsAuthenticated, IsLms]
    lookup_url_kwarg = "webhook_id"
    http_method_names = ["get", "patch", "delete"]

    def get_queryset(self):
        return Webhook.objects.filter(owner=self.request.user)


class WebhookDeliveriesApi(generics.ListAPIView):
    """Deliveries of one webhook, newest first, with their attempts and last error."""

    queryset = WebhookDelivery.objects.none()  # for the schema; get_queryset picks the rows
    serializer_class = DeliverySerializer
    permission_classes = [IsAuthenticated, IsLms]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        hook = Webhook.objects.filter(owner=self.request.user, pk=self.kwargs["webhook_id"]).first()
        if hook is None:
            raise NotFound("No such webhook.")
        return hook.deliveries.order_by("-created_at")


def tenant_learner(request, learner_id) -> Any:
    """The learner, or 404 when it does not exist or is not of the account's tenant (no probing of others)."""
    learner = selectors.learner_of_account(user=request.user, learner_id=learner_id)
    if learner is None:
        raise NotFound("No such learner.")
    return learner


class LearnerExportApi(APIView):
    """Everything stored about one of the tenant's learners (right of access), as export_learner_data writes it."""

    permission_classes = [IsAuthenticated, IsLms]

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, learner_id):
        """The learner's data as JSON."""
        return Response(privacy.learner_data_export(user=tenant_learner(request, learner_id)))


class LearnerEraseApi(APIView):
    """Erase one of the tenant's learners' data (right of erasure), as erase_learner_data does; needs
    {"confirm": true}, as the command needs --yes."""

    permission_classes = [IsAuthenticated, IsLms]

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, learner_id):
        """Delete the learner's data; answer what was deleted, by kind."""
        learner = tenant_learner(request, learner_id)
        if not isinstance(request.data, dict) or request.data.get("confirm") is not True:
            raise InvalidInput("This deletes the learner's data for good: send {\"confirm\": true}.",
                               code="confirm_required")
        return Response({"erased": privacy.learner_data_erase(user=learner)})
