"""Engine warm-up at start and the /healthz endpoint."""
import pytest
from django.core.exceptions import ImproperlyConfigured

from engagement import engines


@pytest.mark.django_db
def test_healthz_reports_whether_the_engine_is_loaded(client, fresh_engine):
    from django.contrib.auth import get_user_model

    body = client.get("/healthz").json()
    assert body["engine"]["loaded"] is False and body["database"] is True  # asking does not load it
    engines.warm_up()
    body = client.get("/healthz").json()
    # Anyone learns whether it is up; which engine runs is for staff only.
    assert body == {"status": "ok", "database": True, "engine": {"loaded": True}}
    client.force_login(get_user_model().objects.create_user("ops", password="x" * 12, is_staff=True))
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["engine"]["loaded"] is True and body["engine"]["name"] == "bundled"
    assert body["engine"]["load_seconds"] > 0 and body["analysis"] in ("in-process", "celery")


@pytest.mark.embedded_only  # this process's engine only
def test_a_corrupt_model_stops_the_start_not_a_frame(fresh_engine, tmp_path, monkeypatch):
    broken = tmp_path / "face_detection_full_range.tflite"
    broken.write_bytes(b"\x00" * 64)
    monkeypatch.setattr("engagement.engines.blazeface.model_path", lambda: broken)
    with pytest.raises(ImproperlyConfigured, match="cannot be loaded"):
        engines.warm_up()
    assert engines.engine_loaded() is None


def test_demo_secret_key_is_random_per_install_and_kept(tmp_path):
    import os
    import subprocess
    import sys

    key_file = tmp_path / "secret_key"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    env.update(DEMO="1", DJANGO_SECRET_KEY_FILE=str(key_file), DJANGO_SETTINGS_MODULE="proctoring.settings")
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    keys = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            .stdout.strip() for _ in range(2)]
    assert keys[0] == keys[1] == key_file.read_text().strip() and len(keys[0]) >= 50
    assert keys[0] != "dev-insecure-only-for-local-use" and oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_check_deploy_passes_with_the_documented_production_environment():
    import os
    import secrets
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEMO"))}
    env.update(DJANGO_SETTINGS_MODULE="proctoring.settings", DEMO="0", DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
               DJANGO_HTTPS="1", DJANGO_BEHIND_PROXY="1", DJANGO_ALLOWED_HOSTS="exams.example.org")
    run = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout


def test_allowed_hosts_star_is_refused_in_production():
    import os
    import secrets
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEMO"))}
    env.update(DJANGO_SETTINGS_MODULE="proctoring.settings", DEMO="0", DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
               DJANGO_HTTPS="1", DJANGO_ALLOWED_HOSTS="*")
    run = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and "DJANGO_ALLOWED_HOSTS='*' is refused" in run.stderr


@pytest.mark.django_db
def test_every_answer_has_a_csp_and_the_camera_only_for_this_origin(client):
    for path in ("/", "/healthz", "/api/docs/", "/api/v1/sessions/"):
        response = client.get(path)
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert "camera=(self)" in response["Permissions-Policy"]
