"""API tokens (low 13): stored as a hash and shown once, with a lifetime, revoked by a password change or a
deactivation; the demo's and the command's printed tokens work."""
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from monitor.services import api_token_issue

pytestmark = pytest.mark.django_db
User = get_user_model()


def status_with(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/v1/sessions/").status_code


def test_a_token_is_stored_only_as_a_hash():
    lea = User.objects.create_user("lea", password="x" * 12)
    token = api_token_issue(user=lea)
    assert status_with(token) == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM knox_authtoken")
        rows = cursor.fetchall()
    assert rows and not any(token in str(value) for row in rows for value in row)
    assert AuthToken.objects.get().expiry > timezone.now() + timedelta(days=89)  # API_TOKEN_TTL_DAYS: 90


def test_an_expired_token_is_refused():
    lea = User.objects.create_user("lea", password="x" * 12)
    token = api_token_issue(user=lea)
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    assert status_with(token) == 401


@pytest.mark.parametrize("change", ["password", "deactivation"])
def test_a_password_change_or_a_deactivation_revokes_the_tokens(change):
    lea = User.objects.create_user("lea", password="x" * 12)
    token = api_token_issue(user=lea)
    lea.first_name = "Lea"
    lea.save()  # other changes keep them
    assert status_with(token) == 200
    if change == "password":
        lea.set_password("another-password-42")
    else:
        lea.is_active = False
    lea.save()
    assert not AuthToken.objects.filter(user=lea).exists() and status_with(token) == 401


def test_the_printed_tokens_of_the_demo_and_of_the_command_work(settings, capsys):
    settings.DEMO = True
    call_command("demo_setup")
    printed = capsys.readouterr().out
    admin_token = re.search(r"username=admin .* token=(\S+)", printed).group(1)
    assert status_with(admin_token) == 200
    call_command("demo_setup")  # again: a new token, the earlier one revoked
    capsys.readouterr()
    assert status_with(admin_token) == 401
    call_command("api_token", "learner")
    assert status_with(capsys.readouterr().out.strip()) == 200
