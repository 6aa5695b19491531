"""Learners' rights over the API (low 12): export and erase for the LMS account (its own learners) and superusers,
with what LTI keeps (django-lti's platform user, memberships) and the account's names."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from lti_tool.models import LtiMembership, LtiUser
from rest_framework.test import APIClient

from monitor.models import ExamSession
from tests.lti.conftest import launch
from tests.lti.platform import LEARNER
from tests.tokens import token_for

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()


def api_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def test_export_and_erase_a_platforms_learner_with_its_lti_records(platform):
    assert launch(platform, sub="learner-1", roles=LEARNER).status == 200
    lea = ExamSession.objects.get().learner
    admin = api_for(User.objects.create_superuser("root", password="x" * 12))
    data = admin.post(f"/api/v1/learners/{lea.pk}/export/").json()
    assert (data["user"]["first_name"], data["user"]["email"]) == ("Lea Martin", "lea@uni.example")
    [record] = data["lti_users"]
    assert (record["issuer"], record["sub"], record["name"]) == (platform.url, "learner-1", "Lea Martin")
    assert record["memberships"] and record["memberships"][0]["roles"] == ["learner"]
    assert len(data["sessions"]) == 1
    refused = admin.post(f"/api/v1/learners/{lea.pk}/erase/", {}, format="json")
    assert refused.status_code == 400 and refused.json()["error"] == "confirm_required"
    erased = admin.post(f"/api/v1/learners/{lea.pk}/erase/", {"confirm": True}, format="json").json()["erased"]
    assert erased["sessions"] == 1 and erased["lti users"] == 1 and erased["lti memberships"] >= 1
    lea.refresh_from_db()
    assert (lea.username, lea.first_name, lea.last_name, lea.email) == (f"erased-{lea.pk}", "", "", "")
    assert not LtiUser.objects.exists() and not LtiMembership.objects.exists() and not ExamSession.objects.exists()
    # The same person launching again gets a fresh account.
    assert launch(platform, sub="learner-1", roles=LEARNER).status == 200
    assert ExamSession.objects.get().learner.pk != lea.pk


def test_an_lms_account_exports_and_erases_only_its_own_learners():
    accounts = {}
    for name in ("lms-a", "lms-b"):
        accounts[name] = User.objects.create_user(name, password="x" * 12)
        accounts[name].user_permissions.add(Permission.objects.get(codename="add_examsession"))
    bob = User.objects.create_user("bob", password="x" * 12, first_name="Bob")
    assert api_for(accounts["lms-a"]).post("/api/v1/sessions/", {"learner": "bob", "course_id": "c",
                                                                  "exam_id": "e"}, format="json").status_code == 201
    other = api_for(accounts["lms-b"])
    assert other.post(f"/api/v1/learners/{bob.pk}/export/").status_code == 404
    assert other.post(f"/api/v1/learners/{bob.pk}/erase/", {"confirm": True}, format="json").status_code == 404
    assert api_for(bob).post(f"/api/v1/learners/{bob.pk}/export/").status_code == 403
    own = api_for(accounts["lms-a"])
    assert own.post(f"/api/v1/learners/{bob.pk}/export/").json()["user"]["first_name"] == "Bob"
    assert own.post(f"/api/v1/learners/{bob.pk}/erase/", {"confirm": True}, format="json").status_code == 200
    assert not ExamSession.objects.exists() and User.objects.get(pk=bob.pk).first_name == ""
    assert own.post("/api/v1/learners/999999/export/").status_code == 404
