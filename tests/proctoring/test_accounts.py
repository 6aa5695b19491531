"""Accounts in production: demo accounts with their published passwords disabled, passwords checked for being
common or close to the account's names."""
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command

from monitor import services as monitor_services

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_demo_accounts_with_their_published_passwords_are_disabled_outside_demo_mode(settings, client, capsys):
    settings.DEMO = True
    call_command("demo_setup")
    printed = capsys.readouterr().out
    changed = User.objects.create_user("admin-2", password="x" * 12)
    User.objects.filter(username="learner").update(password=changed.password)  # its password changed since
    settings.DEMO = False
    assert monitor_services.demo_accounts_disable() == ["admin"]
    admin = User.objects.get(username="admin")
    assert not admin.is_active and not admin.has_usable_password()
    assert not client.login(username="admin", password="admin-demo-password")
    token = re.search(r"username=admin .* token=(\S+)", printed).group(1)
    assert client.get("/api/v1/sessions/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
    assert User.objects.get(username="learner").is_active  # a changed password is the operator's choice
    assert monitor_services.demo_accounts_disable() == []


def test_serve_disables_them_before_it_starts(settings, monkeypatch):
    from proctoring import serve

    settings.DEMO = True
    call_command("demo_setup")
    settings.DEMO = False
    monkeypatch.setattr("daphne.cli.CommandLineInterface.run", lambda self, args: None)  # not a server here
    monkeypatch.setattr(serve, "install", lambda **bounds: None)
    serve.main([])
    assert not User.objects.filter(is_active=True, username__in=["learner", "admin"]).exists()


@pytest.mark.parametrize("password", ["password1234", "qwertyuiop123", "lea.martin.2026"])
def test_common_passwords_and_ones_like_the_account_are_refused(password):
    user = User(username="lea.martin", email="lea.martin@uni.example", first_name="Lea")
    with pytest.raises(ValidationError):
        validate_password(password, user=user)
    validate_password("violet-harbour-sings-41", user=user)
