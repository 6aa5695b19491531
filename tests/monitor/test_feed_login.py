"""The instructors' live feed ends with its login: a password change, a logout, a revoked token (low 11)."""
import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.test import Client
from knox.models import AuthToken

from monitor.broadcast import INSTRUCTORS_CHANNEL_GROUP
from monitor.services import instructors_group
from tests.monitor.conftest import token_headers
from tests.tokens import token_for

pytestmark = pytest.mark.django_db(transaction=True)
ROW = {"id": "x", "course_id": "c1"}


async def feed_of(connect, headers):
    feed, connected, code = await connect("/ws/monitor/instructors/", headers)
    assert connected, code
    assert (await feed.receive_json_from(timeout=10))["type"] == "sessions"
    return feed


async def still_fed(feed) -> bool:
    """Whether the feed forwards a session update (True) or closes (False)."""
    await get_channel_layer().group_send(INSTRUCTORS_CHANNEL_GROUP, {"type": "session.update", "session": ROW})
    message = await feed.receive_output(timeout=10)
    if message["type"] == "websocket.close":
        assert message["code"] == 4403
        return False
    return True


@pytest.fixture
def watcher(settings, transactional_db):
    settings.MONITOR = {**settings.MONITOR, "RIGHTS_RECHECK_SECONDS": 0}  # re-read on every message
    return get_user_model().objects.create_superuser("root", password="old-password-1234")


@pytest.mark.parametrize("change", ["password", "logout"])
async def test_a_browser_feed_ends_with_a_password_change_or_a_logout(connect, watcher, change):
    browser = Client()
    await sync_to_async(browser.force_login)(watcher)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver"), (b"cookie", cookie)]
    feed = await feed_of(connect, headers)
    assert await still_fed(feed)
    if change == "password":
        await database_sync_to_async(lambda: (watcher.set_password("new-password-5678"), watcher.save()))()
    else:
        await sync_to_async(browser.logout)()
    assert not await still_fed(feed)


async def test_a_token_feed_ends_when_the_token_is_revoked(connect, watcher):
    await database_sync_to_async(token_for)(watcher)
    feed = await feed_of(connect, token_headers(watcher))
    assert await still_fed(feed)
    await database_sync_to_async(AuthToken.objects.filter(user=watcher).delete)()
    assert not await still_fed(feed)


async def test_a_socket_with_an_expired_token_is_refused(connect, learner, exam_session):
    from django.utils import timezone

    await database_sync_to_async(AuthToken.objects.filter(user=learner).update)(expiry=timezone.now())
    _, connected, code = await connect(f"/ws/monitor/sessions/{exam_session.id}/", token_headers(learner))
    assert not connected and code == 4403


async def test_the_feed_never_carries_the_watchers_own_exam(connect, settings, transactional_db):
    """Low 6: an instructor who sits an exam of their own course (LTI roles change) gets no row of it."""
    from monitor.models import CourseAssignment, ExamSession

    settings.MONITOR = {**settings.MONITOR, "RIGHTS_RECHECK_SECONDS": 0}

    @database_sync_to_async
    def instructor_sitting_an_exam():
        ines = get_user_model().objects.create_user("ines", password="x" * 12, is_staff=True)
        # Made again, with its permissions, if a transactional test before this one flushed the migration's group.
        ines.groups.add(instructors_group())
        CourseAssignment.objects.create(instructor=ines, course_id="c1")
        ExamSession.objects.create(learner=ines, course_id="c1", exam_id="e1")
        token_for(ines)
        return ines

    ines = await instructor_sitting_an_exam()
    feed, connected, code = await connect("/ws/monitor/instructors/", token_headers(ines))
    assert connected, code
    assert (await feed.receive_json_from(timeout=10))["sessions"] == []
    layer = get_channel_layer()
    await layer.group_send(INSTRUCTORS_CHANNEL_GROUP, {"type": "session.update",
                                               "session": {"id": "own", "course_id": "c1", "learner": "ines"}})
    assert await feed.receive_nothing(timeout=0.5)
    await layer.group_send(INSTRUCTORS_CHANNEL_GROUP, {"type": "session.update",
                                               "session": {"id": "x", "course_id": "c1", "learner": "bob"}})
    assert (await feed.receive_json_from(timeout=10))["session"]["id"] == "x"
