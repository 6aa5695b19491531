"""Security: exam links log in learners only, confined to their exam; exam logs cannot be written over REST."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIClient

from engagement.models import EngagementLog
from monitor import selectors, services
from monitor.models import Alert, ExamSession, SessionStatus
from tests import images
from tests.monitor.conftest import TWO_FACES, token_headers
from tests.tokens import token_for

User = get_user_model()


@pytest.fixture
def lms_account(db):
    account = User.objects.create_user("lms", password="lms-password")
    account.user_permissions.add(Permission.objects.get(codename="add_examsession"))
    return account


@pytest.fixture
def lms(lms_account):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(lms_account)}")
    return client


def link(session):
    return f"/monitor/join/{services.session_join_token(session=session)}/"


# -- High 1: the LMS account cannot become another user ---------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("who", ["superuser", "staff", "instructor", "other lms", "itself", "inactive"])
def test_sessions_are_refused_for_accounts_that_are_not_learners(lms, lms_account, who):
    if who == "superuser":
        User.objects.create_superuser("admin", password="x")
        name = "admin"
    elif who == "staff":
        User.objects.create_user("clerk", password="x", is_staff=True)
        name = "clerk"
    elif who == "instructor":
        teacher = User.objects.create_user("ines", password="x", is_staff=True)
        teacher.groups.add(Group.objects.get(name="Instructors"))
        name = "ines"
    elif who == "other lms":
        other = User.objects.create_user("lms2", password="x")
        other.user_permissions.add(Permission.objects.get(codename="add_examsession"))
        name = "lms2"
    elif who == "inactive":
        User.objects.create_user("gone", password="x", is_active=False)
        name = "gone"
    else:
        name = lms_account.username
    response = lms.post("/api/v1/sessions/", {"learner": name, "course_id": "c", "exam_id": "e"}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "not_a_learner" and response.json()["message"]
    assert not ExamSession.objects.exists()


@pytest.mark.django_db
def test_a_link_made_before_the_account_became_staff_logs_nobody_in(client):
    lea = User.objects.create_user("lea", password="x")
    session = services.session_create(learner=lea, course_id="c", exam_id="e")
    url = link(session)
    lea.is_staff = True
    lea.save()
    response = client.get(url)
    assert response.status_code == 403 and "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_link_login_opens_only_its_exam_and_ends_with_it(client):
    lea = User.objects.create_user("lea", password="x")
    session = services.session_create(learner=lea, course_id="c", exam_id="e")
    other = services.session_create(learner=lea, course_id="c", exam_id="e2")
    exam_page = f"/monitor/sessions/{session.id}/"
    assert client.get(link(session)).url == exam_page
    assert client.get(exam_page).status_code == 200
    for path in ("/", "/try/", "/api/v1/sessions/", f"/monitor/sessions/{other.id}/", "/monitor/live/", "/admin/"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "opens your exam only" in response.content.decode() and exam_page in response.content.decode()
    services.session_end(session=ExamSession.objects.get(pk=session.pk))
    response = client.get(exam_page)  # the exam page says the exam ended, plainly (a normal end is no error)
    assert response.status_code == 200 and "The exam has ended" in response.content.decode()
    assert "_auth_user_id" not in client.session  # logged out
    assert client.get("/").status_code == 200  # an anonymous visitor again


@pytest.mark.django_db
def test_a_password_login_is_not_confined(client):
    lea = User.objects.create_user("lea", password="x")
    session = services.session_create(learner=lea, course_id="c", exam_id="e")
    client.force_login(lea)
    assert client.get(link(session)).status_code == 302
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_another_login_is_replaced_only_after_confirmation(client):
    lea = User.objects.create_user("lea", password="x")
    ines = User.objects.create_user("ines", password="x", is_staff=True)
    session = services.session_create(learner=lea, course_id="c", exam_id="e")
    url = link(session)
    client.force_login(ines)
    page = client.get(url)
    assert page.status_code == 200 and "Switch account" in page.content.decode()
    assert int(client.session["_auth_user_id"]) == ines.pk  # nothing changed yet
    assert ExamSession.objects.get(pk=session.pk).join_token_used_at is None  # the link is not used up
    confirmed = client.post(url)
    assert confirmed.url == f"/monitor/sessions/{session.id}/"
    assert int(client.session["_auth_user_id"]) == lea.pk
    assert client.session[services.EXAM_LOGIN_KEY] == str(session.id)


@pytest.mark.django_db
def test_the_confirmation_needs_csrf():
    lea = User.objects.create_user("lea", password="x")
    ines = User.objects.create_user("ines", password="x")
    session = services.session_create(learner=lea, course_id="c", exam_id="e")
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(ines)
    assert client.post(link(session)).status_code == 403
    assert int(client.session["_auth_user_id"]) == ines.pk


@pytest.mark.django_db(transaction=True)
async def test_a_link_login_reaches_only_its_own_exam_socket(connect, learner):
    from asgiref.sync import sync_to_async
    from django.test import Client

    client = Client()
    session = await sync_to_async(services.session_create)(learner=learner, course_id="c", exam_id="e")
    other = await sync_to_async(services.session_create)(learner=learner, course_id="c", exam_id="e2")
    await sync_to_async(client.get)(await sync_to_async(link)(session))
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [(b"origin", b"http://testserver"), (b"cookie", cookie)]
    ws, connected, _ = await connect(f"/ws/monitor/sessions/{session.id}/", headers)
    assert connected
    _, connected, code = await connect(f"/ws/monitor/sessions/{other.id}/", headers)
    assert not connected and code == 4403
    _, connected, code = await connect("/ws/monitor/instructors/", headers)
    assert not connected


# -- High 2: exam logs are written only through the session's socket ---------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_rest_frames_naming_an_exam_session_never_reach_it(learner):
    mallory = User.objects.create_user("mallory", password="x")
    session = services.session_create(learner=learner, course_id="c", exam_id="e")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(mallory)}")
    for _ in range(2):
        response = client.post("/analyze-mood", {"image": TWO_FACES, "session_id": str(session.id)}, format="json")
        assert response.status_code == 200 and response.json()["face_count"] == 2
    response = client.post("/batch-analyze-mood", {"frames": [{"image": TWO_FACES}], "session_id": str(session.id)},
                           format="json")
    assert response.status_code == 200
    # The rows exist as the client's own free-form logs, apart from the exam's.
    assert EngagementLog.objects.filter(session_key=str(session.id), source="api").count() == 3
    session.refresh_from_db()
    assert list(selectors.session_logs(session=session)) == []
    assert session.frame_count == 0 and not Alert.objects.exists()
    header, *rows = list(selectors.engagement_log_rows(sessions=ExamSession.objects.filter(pk=session.pk)))
    assert rows == []
    assert selectors.session_summary(session=session)["frames"] == 0


@pytest.mark.django_db(transaction=True)
async def test_socket_frames_are_the_exam_logs(connect, learner):
    from asgiref.sync import sync_to_async

    session = await sync_to_async(services.session_create)(learner=learner, course_id="c", exam_id="e")
    ws, connected, _ = await connect(f"/ws/monitor/sessions/{session.id}/", token_headers(learner))
    assert connected
    await ws.receive_json_from(timeout=10)
    await ws.send_json_to({"type": "frame", "image": images.data_url(images.webcam_face())})
    while (await ws.receive_json_from(timeout=30))["type"] != "analysis":
        pass
    rows = await sync_to_async(lambda: list(selectors.session_logs(session=session)))()
    assert len(rows) == 1 and rows[0].source == "monitor" and rows[0].user_id == learner.pk
    assert (await sync_to_async(ExamSession.objects.get)(pk=session.pk)).status == SessionStatus.ACTIVE


@pytest.mark.django_db
def test_the_webhook_admin_never_shows_the_secret(client):
    from monitor.models import Webhook

    root = User.objects.create_superuser("root", password="x")
    hook = Webhook.objects.create(owner=root, url="https://93.184.215.14/hook", secret="a-very-secret-value-123",
                                  events=["alert.opened"])
    client.force_login(root)
    page = client.get(f"/admin/monitor/webhook/{hook.pk}/change/").content.decode()
    assert "a-very-secret-value-123" not in page
    data = {"url": hook.url, "secret": "", "events": '["alert.opened"]', "active": "on", "owner": root.pk,
            "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"}
    response = client.post(f"/admin/monitor/webhook/{hook.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    hook.refresh_from_db()
    assert hook.secret == "a-very-secret-value-123"  # left empty: kept


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("origin, accepted", [
    (b"http://testserver", True),
    (b"http://testserver:8443", False),  # another port of the same host
    (b"https://testserver", False),  # another scheme
    (b"http://evil.example", False),
    (b"null", False),
])
async def test_the_socket_origin_must_be_this_site_with_its_scheme_and_port(connect, learner, origin, accepted):
    from asgiref.sync import sync_to_async

    session = await sync_to_async(services.session_create)(learner=learner, course_id="c", exam_id="e")
    headers = [(b"host", b"testserver"), (b"origin", origin),
               (b"authorization", f"Token {token_for(learner)}".encode())]
    _, connected, _ = await connect(f"/ws/monitor/sessions/{session.id}/", headers)
    assert connected is accepted
