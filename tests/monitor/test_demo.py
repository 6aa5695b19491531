"""The demo accounts that `make run` creates, and only in DEMO mode."""
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from monitor.models import ExamSession

pytestmark = pytest.mark.django_db


def test_demo_setup_refuses_outside_demo_mode(settings):
    settings.DEMO = False
    with pytest.raises(CommandError):
        call_command("demo_setup")


def test_demo_setup_creates_working_accounts_once(settings, client, capsys):
    settings.DEMO = True
    call_command("demo_setup", "--port", "8123")
    call_command("demo_setup", "--port", "8123")
    out = capsys.readouterr().out
    assert "password=learner-demo-password" in out and "http://127.0.0.1:8123/monitor/sessions/" in out
    assert get_user_model().objects.get(username="admin").is_superuser
    assert ExamSession.objects.count() == 1
    assert client.login(username="learner", password="learner-demo-password")
    assert client.get("/engagement/try/").status_code == 200
