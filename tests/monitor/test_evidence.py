"""Evidence pictures (opt-in): a critical alert's moment, downscaled, Fernet-encrypted, for its course's instructors."""
import io
import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from PIL import Image

from monitor import evidence, privacy, services
from monitor.models import Alert, EvidenceAccess, EvidenceFrame, WebhookDelivery
from tests.conftest import ROOT
from tests.monitor.conftest import FACE, NO_FACE, TWO_FACES
from tests.monitor.test_admin import make_instructor
from tests.monitor.test_api import client_for

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()
KEY = Fernet.generate_key().decode()


@pytest.fixture
def keyed(settings):
    """A key set, course c1 keeping evidence, absence after 5 s."""
    settings.MONITOR = {**settings.MONITOR, "EVIDENCE_KEY": KEY, "EVIDENCE_COURSES": ["c1"], "ABSENT_SECONDS": 5}
    settings.WEBHOOKS = {**settings.WEBHOOKS, "BACKGROUND": False}


def run(session, images, start=None):
    """Send frames through the exam path (analysis, rules, evidence), 5 s apart by the server's clock."""
    start = start or timezone.now()
    for i, image in enumerate(images):
        at = (start + timedelta(seconds=5 * i)).isoformat()
        services.session_frame_process(session_id=str(session.id), user_id=session.learner_id,
                                       frame_id=str(uuid.uuid4()), image=image, timestamp=at, server_time=at)


def learner(name="lea"):
    return User.objects.create_user(name, password="x" * 12)


def test_a_critical_alert_keeps_one_small_encrypted_picture_of_its_moment(keyed):
    from monitor.models import Webhook

    owner = User.objects.create_superuser("root", password="x" * 12)  # its webhook hears every session
    Webhook.objects.create(owner=owner, url="https://lms.example/hook", secret="s" * 16,
                           events=["alert.opened", "alert.closed"])
    session = services.session_create(learner=learner(), course_id="c1", exam_id="e1")
    run(session, [FACE, TWO_FACES, TWO_FACES, TWO_FACES, NO_FACE, NO_FACE, NO_FACE])
    critical = Alert.objects.get(session=session, kind="multiple_faces")
    warning = Alert.objects.get(session=session, kind="absent")
    [frame] = EvidenceFrame.objects.all()  # one picture, of the critical alert only
    assert frame.alert == critical and frame.session == session
    sealed = bytes(frame.picture)
    assert not sealed.startswith(b"\xff\xd8") and b"JFIF" not in sealed  # encrypted at rest
    picture = Image.open(io.BytesIO(Fernet(KEY).decrypt(sealed)))
    assert picture.format == "JPEG" and picture.size[0] <= 320 and picture.size[1] <= 240
    assert not hasattr(warning, "evidence") or not EvidenceFrame.objects.filter(alert=warning).exists()
    # Never in webhooks or the learner's export (figures only).
    sealed_text = sealed.decode()
    assert WebhookDelivery.objects.filter(event="alert.opened").count() == 2
    assert all(sealed_text not in str(d.payload) and "picture" not in str(d.payload)
               for d in WebhookDelivery.objects.all())
    assert "gAAAAA" not in str(privacy.learner_data_export(user=session.learner))


def test_nothing_is_kept_unless_the_course_or_session_asks(keyed, settings):
    off = services.session_create(learner=learner(), course_id="c2", exam_id="e1")
    run(off, [TWO_FACES, TWO_FACES, TWO_FACES])
    assert Alert.objects.filter(session=off, kind="multiple_faces").exists() and not EvidenceFrame.objects.exists()
    opted = services.session_create(learner=learner("bob"), course_id="c2", exam_id="e1", evidence=True)
    run(opted, [TWO_FACES, TWO_FACES, TWO_FACES])
    assert EvidenceFrame.objects.filter(session=opted).count() == 1
    declined = services.session_create(learner=learner("cy"), course_id="c1", exam_id="e1", evidence=False)
    run(declined, [TWO_FACES, TWO_FACES, TWO_FACES])
    assert not EvidenceFrame.objects.filter(session=declined).exists()


def test_only_the_courses_instructors_see_it_and_every_view_is_logged(keyed, client):
    session = services.session_create(learner=learner(), course_id="c1", exam_id="e1")
    run(session, [TWO_FACES, TWO_FACES, TWO_FACES])
    alert = Alert.objects.get(session=session, kind="multiple_faces")
    url = f"/monitor/evidence/{alert.pk}/"
    make_instructor("ines", "c1")
    make_instructor("otto", "c2")
    User.objects.create_superuser("root", password="root-password")
    for name in ("otto", "root", "lea"):  # another course, an administrator not teaching it, the learner
        client.force_login(User.objects.get(username=name))
        assert client.get(url).status_code == 403, name
    client.force_login(User.objects.get(username="ines"))
    shown = client.get(url)
    assert shown.status_code == 200 and shown["Content-Type"] == "image/jpeg"
    assert "no-store" in shown["Cache-Control"] and shown.content.startswith(b"\xff\xd8")
    client.get(url)
    assert list(EvidenceAccess.objects.values_list("username", "alert_id")) == [("ines", alert.pk)] * 2
    # The REST API (the LMS's) has no way to it: neither the picture nor its sealed form.
    report = str(client_for(User.objects.get(username="root")).get(f"/api/v1/sessions/{session.id}/report/").json())
    assert "gAAAAA" not in report and "picture" not in report


def test_pictures_go_with_their_session_by_erasure_and_by_retention(keyed):
    first = services.session_create(learner=learner(), course_id="c1", exam_id="e1")
    run(first, [TWO_FACES, TWO_FACES, TWO_FACES])
    second = services.session_create(learner=learner("bob"), course_id="c1", exam_id="e1")
    run(second, [TWO_FACES, TWO_FACES, TWO_FACES])
    assert EvidenceFrame.objects.count() == 2
    privacy.learner_data_erase(user=first.learner)
    assert list(EvidenceFrame.objects.values_list("session", flat=True)) == [second.id]
    services.session_end(session=second)
    privacy.data_purge(cutoff=timezone.now() + timedelta(days=1))
    assert not EvidenceFrame.objects.exists()


def test_the_notice_names_it_when_kept(keyed, client):
    session = services.session_create(learner=learner(), course_id="c1", exam_id="e1")
    client.force_login(session.learner)
    page = client.get(f"/monitor/sessions/{session.id}/").content.decode()
    assert "One small picture (320\u00d7240) of the moment a critical alert opens" in page
    other = services.session_create(learner=session.learner, course_id="c2", exam_id="e1")
    assert "No picture is stored." in client.get(f"/monitor/sessions/{other.id}/").content.decode()


def test_the_lms_asks_for_it_per_session_only_where_a_key_is_set(settings):
    lms = User.objects.create_user("lms", password="x" * 12)
    from django.contrib.auth.models import Permission

    lms.user_permissions.add(Permission.objects.get(codename="add_examsession"))
    learner()
    body = {"learner": "lea", "course_id": "c9", "exam_id": "e1", "evidence": True}
    refused = client_for(lms).post("/api/v1/sessions/", body, format="json")
    assert refused.status_code == 400 and "evidence" in refused.json()["errors"]
    settings.MONITOR = {**settings.MONITOR, "EVIDENCE_KEY": KEY}
    made = client_for(lms).post("/api/v1/sessions/", body, format="json")
    assert made.status_code == 201 and client_for(lms).get(f"/api/v1/sessions/{made.json()['id']}/").json()["evidence"]


def test_without_its_key_the_server_refuses_to_start(settings):
    settings.MONITOR = {**settings.MONITOR, "EVIDENCE_COURSES": ["c1"], "EVIDENCE_KEY": ""}
    with pytest.raises(ImproperlyConfigured, match="MONITOR_EVIDENCE_KEY is not set"):
        evidence.evidence_configuration_check()
    settings.MONITOR = {**settings.MONITOR, "EVIDENCE_KEY": "not-a-key"}
    with pytest.raises(ImproperlyConfigured, match="not a Fernet key"):
        evidence.evidence_configuration_check()
    env = {**os.environ, "DJANGO_DEBUG": "1", "MONITOR_EVIDENCE_COURSES": "c1", "MONITOR_EVIDENCE_KEY": ""}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    started = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=120)
    assert started.returncode != 0 and "MONITOR_EVIDENCE_KEY is not set" in started.stderr


def test_administrators_read_the_log_of_views_in_the_admin(keyed, client):
    session = services.session_create(learner=learner(), course_id="c1", exam_id="e1")
    run(session, [TWO_FACES, TWO_FACES, TWO_FACES])
    alert = Alert.objects.get(session=session, kind="multiple_faces")
    ines = make_instructor("ines", "c1")
    client.force_login(ines)
    assert client.get(f"/monitor/evidence/{alert.pk}/").status_code == 200
    assert client.get("/admin/monitor/evidenceaccess/").status_code == 403  # not the instructors' own record
    client.force_login(User.objects.create_superuser("root", password="root-password"))
    log = client.get("/admin/monitor/evidenceaccess/").content.decode()
    assert "ines" in log and str(alert.pk) in log
    assert client.get("/admin/monitor/evidenceaccess/add/").status_code == 403  # nobody writes the log by hand
