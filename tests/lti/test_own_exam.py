"""A learner who becomes an instructor of the same course (LTI roles change) never watches or reviews their own
exam (low 6)."""
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from lti_tool.models import LtiUser
from rest_framework.test import APIClient

from monitor import selectors
from monitor.models import Alert, ExamSession
from tests.lti.conftest import launch, tool_course
from tests.lti.platform import INSTRUCTOR, LEARNER
from tests.tokens import token_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_instructor_does_not_watch_or_review_their_own_running_exam(platform):
    assert launch(platform, sub="student-1", roles=LEARNER).status == 200
    own = ExamSession.objects.get()
    other_learner = launch(platform, sub="student-2", roles=LEARNER, name="Bob Stone", email="bob@uni.example")
    assert other_learner.status == 200
    other = ExamSession.objects.exclude(pk=own.pk).get()
    for session in (own, other):
        Alert.objects.create(session=session, kind="absent", severity="warning", message="m",
                             opened_at=session.created_at)
    # The same platform user is now an instructor of the course (a teaching assistant role, say).
    assert launch(platform, sub="student-1", roles=INSTRUCTOR).status == 200
    ines = LtiUser.objects.get(sub="student-1").auth_user
    assert selectors.courses_watched(user=ines) == {tool_course(platform)}
    browser = Client()
    browser.force_login(ines)
    page = browser.get("/monitor/live/").content.decode()
    assert str(other.id) in page and str(own.id) not in page
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(ines)}")
    own_alert, other_alert = Alert.objects.get(session=own), Alert.objects.get(session=other)
    assert api.post(f"/api/v1/alerts/{own_alert.id}/review/", {"outcome": "dismissed"}, format="json"
                    ).status_code == 403
    assert api.post(f"/api/v1/alerts/{other_alert.id}/review/", {"outcome": "dismissed"}, format="json"
                    ).status_code == 200
    own_alert.refresh_from_db()
    assert own_alert.reviewed_at is None
    assert get_user_model().objects.get(pk=ines.pk).is_staff
