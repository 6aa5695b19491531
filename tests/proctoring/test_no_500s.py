"""Inputs that once made 500s: Unicode digits as a learner, lone surrogates, year-9999 admin filters, static paths
that leave the static folders."""
import pytest
from django.db import connection
from channels.testing import HttpCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from engagement.models import EngagementLog
from tests import images
from tests.tokens import token_for

User = get_user_model()
FACE = images.data_url(images.webcam_face())


def token_client(user):
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


@pytest.mark.django_db
def test_a_unicode_digit_as_learner_is_an_unknown_learner():
    lms = User.objects.create_user("lms", password="x" * 12)
    lms.user_permissions.add(Permission.objects.get(codename="add_examsession"))
    answer = token_client(lms).post("/api/v1/sessions/", {"learner": "²", "course_id": "c", "exam_id": "e"},
                                    format="json")
    assert answer.status_code == 400 and answer.json()["error"] == "unknown_learner"


@pytest.mark.django_db
@pytest.mark.parametrize("path, body", [
    ("/analyze-mood", '{"image": "%s", "session_id": "\\ud800"}' % FACE),
    ("/batch-analyze-mood", '{"frames": [{"image": "%s"}], "session_id": "a\\udfffb"}' % FACE),
])
def test_a_lone_surrogate_in_session_id_is_a_400(path, body):
    client = token_client(User.objects.create_user("lea", password="x" * 12))
    answer = client.post(path, body, content_type="application/json")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_session_id"
    assert not EngagementLog.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["frame_time__year=9999", "frame_time__year=9999&frame_time__month=12",
                                   "frame_time__year=9999&frame_time__month=12&frame_time__day=31",
                                   "frame_time__gte=9999-12-31+23:00:00-14:00"])
def test_out_of_range_admin_date_filters_answer_as_invalid_filters(client, query):
    client.raise_request_exception = False
    client.force_login(User.objects.create_superuser("root", password="x" * 12))
    answer = client.get(f"/admin/engagement/engagementlog/?{query}")
    if answer.status_code == 200:
        # PostgreSQL compares a moment at 9999-12-31 -14:00 (in year 10000 in UTC) without an error; SQLite's
        # conversion overflows, which the admin must answer as an invalid filter. Either way, never a 500.
        assert connection.vendor == "postgresql" and "+" in query
        return
    assert answer.status_code == 302 and answer["Location"].endswith("?e=1")
    assert client.get(answer["Location"]).status_code == 200
    assert client.get(f"/admin/monitor/examsession/?{query.replace('frame_time', 'created_at')}").status_code == 302


@pytest.mark.django_db
async def test_a_static_path_out_of_the_static_folders_is_a_400():
    from proctoring.asgi import application

    async def status_of(path):
        communicator = HttpCommunicator(application, "GET", path)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(timeout=30)
        while (await communicator.receive_output(timeout=30)).get("more_body"):
            pass
        return start["status"]

    for path in ("/static/%2e%2e/manage.py", "/static/%2e%2e/%2e%2e/etc/passwd"):
        assert await status_of(path) == 400, path
    assert await status_of("/static/monitor/exam.js") == 200
