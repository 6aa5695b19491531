"""Tenancy with LTI: a platform's learners and sessions are out of reach of the REST API's LMS account."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from monitor.models import ExamSession, SessionStatus
from tests.lti.conftest import launch
from tests.lti.platform import LEARNER
from tests.tokens import token_for

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()


def test_the_lms_account_cannot_read_name_or_end_a_platforms_learners_and_exams(platform):
    assert launch(platform, sub="learner-1", roles=LEARNER).status == 200
    session = ExamSession.objects.get()
    lms = User.objects.create_user("lms", password="x" * 12)
    lms.user_permissions.add(Permission.objects.get(codename="add_examsession"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(lms)}")
    assert api.get("/api/v1/sessions/").json()["count"] == 0
    assert api.get(f"/api/v1/sessions/{session.id}/").status_code == 403
    for name in (session.learner.username, session.learner.pk):
        made = api.post("/api/v1/sessions/", {"learner": name, "course_id": "c", "exam_id": "e"}, format="json")
        assert made.status_code == 400 and made.json()["error"] == "unknown_learner"
    # Nor a login link for the platform's learner.
    assert api.post(f"/api/v1/sessions/{session.id}/join-link/").status_code == 403
    assert api.post(f"/api/v1/sessions/{session.id}/end/").status_code == 403
    session.refresh_from_db()
    assert session.status != SessionStatus.ENDED and ExamSession.objects.count() == 1
    assert session.tenant.lti_issuer == platform.url


@pytest.mark.parametrize("claim", [{"name": "Lea \ud800"}, {"email": "lea\udfff@uni.example"}])
def test_a_lone_surrogate_in_a_claim_is_refused_with_a_page(platform, claim):
    answer = launch(platform, **{"sub": "learner-1", "roles": LEARNER, **claim})
    assert answer.status == 400 and "not valid Unicode" in answer.text
    assert not ExamSession.objects.exists() and not User.objects.exists()
