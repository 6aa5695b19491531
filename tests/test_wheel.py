"""The apps as a user gets them: the wheel built, installed into a fresh virtualenv, used by a new Django project.

Nothing is downloaded: the wheel is installed with --no-index, and the fresh environment sees this environment's
packages (the apps' dependencies) through a .pth file, never this checkout.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from tests import images

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["pyproject.toml", "README.md", "LICENSE", "engagement", "monitor", "lti"]


def run(*args, cwd, env=None, timeout=300):
    """Run a command; its stdout, or the test fails with its output."""
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A virtualenv with the wheel installed: (its python, a clean environment for it)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    for name in SOURCES:  # a copy, so that the build leaves nothing in the checkout
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(ROOT / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
        "--disable-pip-version-check", "-w", tmp / "dist", source, cwd=tmp)
    [wheel] = (tmp / "dist").glob("django_engagement-*.whl")
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).strip())
    # The dependencies: this environment's packages, after the fresh environment's own (where the wheel goes).
    (purelib / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-index", "--no-deps",
        "--disable-pip-version-check", wheel, cwd=tmp)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "DEMO", "PYTHON", "MONITOR_", "ENGAGEMENT_", "CELERY_", "REDIS_"))}
    where = run(python, "-c", "import engagement, monitor; print(engagement.__file__, monitor.__file__)",
                cwd=tmp, env=env)
    assert str(ROOT) not in where and all(str(purelib) in p for p in where.split())
    return python, env


def project(python, env, where: Path, apps: list[str], settings_extra: str = "", urls: str = "") -> Path:
    """`django-admin startproject mysite`, with the apps and `include("engagement.urls")` (and `urls`, more
    `path(...),` lines) added as the README says."""
    where.mkdir()
    run(python, "-m", "django", "startproject", "mysite", where, cwd=where, env=env)
    settings = where / "mysite" / "settings.py"
    settings.write_text(settings.read_text().replace(
        "INSTALLED_APPS = [", "INSTALLED_APPS = [\n" + "".join(f"    {app!r},\n" for app in apps), 1)
        + 'ALLOWED_HOSTS = ["testserver", "localhost"]\n' + settings_extra)
    urlconf = where / "mysite" / "urls.py"
    urlconf.write_text(urlconf.read_text().replace("from django.urls import path", "from django.urls import include, path")
                    .replace("urlpatterns = [", 'urlpatterns = [\n    path("", include("engagement.urls")),' + urls, 1))
    run(python, "manage.py", "check", cwd=where, env=env)
    run(python, "manage.py", "migrate", "-v0", cwd=where, env=env)
    return where


def test_engagement_alone_in_a_new_project_analyses_a_face(installed, tmp_path):
    python, env = installed
    site = project(python, env, tmp_path / "shop", ["rest_framework", "engagement"])
    (site / "face.b64").write_text(images.data_url(images.astronaut()))
    script = textwrap.dedent("""
        import json
        from pathlib import Path
        from django.contrib.auth.models import User
        from django.test import Client
        client = Client()
        anonymous = client.post("/analyze-mood", {"image": "x"}, content_type="application/json")
        client.force_login(User.objects.create_user("ada"))
        answer = client.post("/analyze-mood", {"image": Path("face.b64").read_text()}, content_type="application/json")
        bad = client.post("/analyze-mood", {"image": "not base64!"}, content_type="application/json")
        page = client.get("/try/")
        print(json.dumps({"anonymous": anonymous.status_code, "status": answer.status_code, "body": answer.json(),
                          "bad": [bad.status_code, bad.json()], "page": page.status_code}))
    """)
    out = json.loads(run(python, "manage.py", "shell", "-c", script, cwd=site, env=env).strip().splitlines()[-1])
    assert out["anonymous"] in (401, 403)  # the app's own rule, whatever the project's DRF defaults
    assert out["status"] == 200 and out["body"]["success"] is True
    assert out["body"]["dominant_emotion"] == "happy" and out["body"]["face_count"] == 1
    assert out["bad"] == [400, {"success": False, "error": "invalid_base64", "message": out["bad"][1]["message"]}]
    assert out["page"] == 200  # the try page, in the app's own frame


def test_monitor_in_a_new_project_analyses_a_frame_on_its_socket(installed, tmp_path):
    python, env = installed
    site = project(python, env, tmp_path / "school", ["rest_framework", "django_filters", "channels", "engagement",
                                                      "monitor"],
                   'ASGI_APPLICATION = "mysite.asgi.application"\n'
                   'CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}\n',
                   urls='\n    path("monitor/", include("monitor.urls")),')
    # The README's ASGI routing for the exam socket.
    (site / "mysite" / "asgi.py").write_text(textwrap.dedent("""
        import os
        from django.core.asgi import get_asgi_application
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
        django_asgi_app = get_asgi_application()
        from channels.auth import AuthMiddlewareStack
        from channels.routing import ProtocolTypeRouter, URLRouter
        from channels.security.websocket import AllowedHostsOriginValidator
        from monitor.routing import websocket_urlpatterns
        application = ProtocolTypeRouter({
            "http": django_asgi_app,
            "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        })
    """))
    (site / "face.b64").write_text(images.data_url(images.astronaut()))
    script = textwrap.dedent("""
        import asyncio, json
        from pathlib import Path
        from channels.testing import WebsocketCommunicator
        from django.contrib.auth.models import User
        from django.test import Client
        from django.utils import timezone
        from monitor.api import session_create
        from mysite.asgi import application
        learner = User.objects.create_user("lea")
        session = session_create(learner=learner, course_id="c1", exam_id="e1")
        client = Client()
        client.force_login(learner)
        cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

        async def exam():
            ws = WebsocketCommunicator(application, f"/ws/monitor/sessions/{session.id}/",
                                       headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)])
            connected, _ = await ws.connect(timeout=20)
            hello = await ws.receive_json_from(timeout=20)
            await ws.send_json_to({"type": "frame", "image": Path("face.b64").read_text(),
                                   "timestamp": timezone.now().isoformat()})
            while (answer := await ws.receive_json_from(timeout=60))["type"] not in ("analysis", "error"):
                pass
            await ws.disconnect()
            return {"connected": connected, "hello": hello["type"], "answer": answer}

        # The pages, in the app's own frame: the project has no base.html of its own.
        page = client.get(f"/monitor/sessions/{session.id}/")
        instructor = Client()
        instructor.force_login(User.objects.create_superuser("ines"))
        live = instructor.get("/monitor/live/")
        pages = {"exam": [page.status_code, page.content.decode()], "live": [live.status_code, live.content.decode()]}
        print(json.dumps({**asyncio.run(exam()), "pages": pages}))
    """)
    out = json.loads(run(python, "manage.py", "shell", "-c", script, cwd=site, env=env).strip().splitlines()[-1])
    assert out["connected"] and out["hello"] == "connected"
    assert out["answer"]["type"] == "analysis" and out["answer"]["success"] is True
    assert out["answer"]["dominant_emotion"] == "happy"
    status, html = out["pages"]["exam"]
    assert status == 200 and "<title>Exam e1</title>" in html and "/static/monitor/exam.js" in html
    status, html = out["pages"]["live"]
    assert status == 200 and "<title>Live sessions</title>" in html and "/static/monitor/live.js" in html


def test_lti_in_a_new_project_renders_its_pages(installed, tmp_path):
    python, env = installed
    site = project(python, env, tmp_path / "college", ["rest_framework", "django_filters", "channels", "engagement",
                                                       "monitor", "lti_tool", "lti"],
                   urls='\n    path("monitor/", include("monitor.urls")),\n    path("lti/", include("lti.urls")),')
    script = textwrap.dedent("""
        import json
        from django.contrib.auth.models import User
        from django.test import Client
        client = Client()
        refused = client.get("/lti/login/")  # no target_link_uri: the page that says why, framable by any LMS
        client.force_login(User.objects.create_superuser("ines"))
        setup = client.get("/lti/setup/")
        from django.contrib.staticfiles import finders
        print(json.dumps({"refused": [refused.status_code, refused.content.decode(), refused["Content-Security-Policy"]],
                          "setup": [setup.status_code, setup.content.decode()],
                          "script": finders.find("lti/proctoring.js")}))
    """)
    out = json.loads(run(python, "manage.py", "shell", "-c", script, cwd=site, env=env).strip().splitlines()[-1])
    status, html, policy = out["refused"]
    assert status == 400 and "The login request has no target_link_uri." in html
    assert "frame-ancestors *" in policy and "script-src 'self'" in policy  # lti's own policy (lti.conf)
    status, html = out["setup"]
    assert status == 200 and "/lti/launch/" in html and "/lti/jwks/" in html
    assert out["script"] and "site-packages" in out["script"]  # lti's static files ship in the wheel
