"""REST endpoints the LMS uses to create and end exam sessions (thin: parse, call a service, answer)."""
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.urls import reverse
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from . import consumers, selectors, services
from .models import ExamSession


class CanManageSessions(BasePermission):
    """The LMS service account: a user with the permission to add exam sessions."""

    message = "This account may not manage exam sessions (needs monitor.add_examsession)."

    def has_permission(self, request, view):
        return request.user.has_perm("monitor.add_examsession")


class SessionCreateSerializer(serializers.Serializer):
    """Input of POST /api/v1/sessions/."""

    learner = serializers.JSONField(help_text="Username or user id.")
    course_id = serializers.CharField(max_length=128)
    exam_id = serializers.CharField(max_length=128)
    attempt_id = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    frame_interval = serializers.FloatField(required=False, min_value=0.5, max_value=120)


def session_links(request, session: ExamSession) -> dict:
    """The session's id, its one-time exam link and its socket URL."""
    token = services.session_join_token(session=session)
    scheme = "wss" if request.is_secure() else "ws"
    return {
        "id": str(session.id),
        "status": session.status,
        "exam_url": request.build_absolute_uri(reverse("monitor:join", args=[token])),
        "ws_url": f"{scheme}://{request.get_host()}/ws/monitor/sessions/{session.id}/",
    }


class SessionCreateApi(APIView):
    """Create a session for a learner; answer its id, exam_url and ws_url."""

    permission_classes = [CanManageSessions]

    def post(self, request):
        """Create the session."""
        serializer = SessionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = services.session_create(**serializer.validated_data)
        return Response(session_links(request, session), status=201)


class SessionEndApi(APIView):
    """End a session: its summary is computed and stored, its sockets are told and closed."""

    permission_classes = [CanManageSessions]

    def post(self, request, session_id):
        """End the session and answer its summary."""
        session = ExamSession.objects.filter(pk=session_id).first()
        if session is None:
            raise NotFound("No such session.")
        session = services.session_end(session=session)
        layer = get_channel_layer()
        row = selectors.session_live_row(session=session, open_alerts=[])
        async_to_sync(layer.group_send)(consumers.session_group(str(session.id)),
                                        {"type": "session.ended", "summary": session.summary})
        async_to_sync(layer.group_send)(consumers.INSTRUCTORS_GROUP, {"type": "session.ended", "session": row})
        return Response({"id": str(session.id), "status": session.status, "ended_at": session.ended_at,
                         "summary": session.summary})
