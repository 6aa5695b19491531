"""Schema-driven fuzzing of the whole API (schemathesis against /api/schema/): no input may cause a 500."""
import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings

from monitor import services
from tests.tokens import token_for


# The project's own OpenAPI schema, served in-process by the real application (reading it needs no database).
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture
def lms_token(transactional_db):
    """The most powerful API account (the LMS), with a session to find, so that fuzzing reaches the views.

    Transactional: the WSGI handler closes the database connection after each request, as in production.
    """
    User = get_user_model()
    lms = User.objects.create_user("lms", password="x" * 12)
    lms.user_permissions.add(Permission.objects.get(codename="add_examsession"))
    learner = User.objects.create_user("lea", password="x" * 12)
    services.session_create(learner=learner, course_id="c1", exam_id="e1")
    return token_for(lms)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_causes_a_server_error(case, lms_token):
    response = case.call(headers={"Authorization": f"Token {lms_token}"})
    assert response.status_code < 500, (case.method, case.path, case.body, response.text[:500])
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]  # schemathesis: lower-case names, value lists
        assert content_type.startswith("application/json"), (
            case.method, case.path, response.status_code, response.text[:200])
