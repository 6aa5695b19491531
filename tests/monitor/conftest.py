"""Fixtures for monitor: a learner with a token, sessions, and socket clients on the real ASGI app."""
import contextlib

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from monitor import services
from tests import images
from tests.tokens import token_for

FACE = images.data_url(images.webcam_face())
NO_FACE = images.data_url(images.no_face_images()["coffee"])
TWO_FACES = images.data_url(images.two_faces())
TURNED = images.data_url(images.turned_head())


class ServerClock:
    """The server's clock as the session socket reads it; `now` (ISO 8601) overrides it when set."""

    now = None


@pytest.fixture
def server_clock(monkeypatch):
    """Set the time at which the socket 'receives' each frame, so that timed alert rules run without waiting.

    The consumer reads the clock and hands the time to the analysis (in-process or a Celery worker), so this
    works on both set-ups.
    """
    from django.utils import timezone

    from monitor import consumers

    clock = ServerClock()
    monkeypatch.setattr(consumers, "server_now", lambda: clock.now or timezone.now().isoformat())
    return clock


@pytest.fixture
def learner(transactional_db):
    """A learner with an API token."""
    user = get_user_model().objects.create_user("lea", password="lea-password")
    token_for(user)
    return user


@pytest.fixture
def exam_session(learner):
    """A scheduled session for the learner."""
    return services.session_create(learner=learner, course_id="c1", exam_id="e1")


def token_headers(user):
    """Handshake headers of a programmatic client: an allowed Origin and the user's token."""
    return [(b"host", b"testserver"), (b"origin", b"http://testserver"),
            (b"authorization", f"Token {token_for(user)}".encode())]


@pytest.fixture
async def connect():
    """Open sockets on the real ASGI application; all are closed at the end of the test.

    Closing matters: a consumer left running (a refused socket's, too) still listens on the channel layer, and
    cancelling it when the test's event loop closes can hang on Redis.
    """
    from proctoring.asgi import application

    opened = []

    async def _connect(path, headers):
        communicator = WebsocketCommunicator(application, path, headers=headers)
        opened.append(communicator)
        connected, code = await communicator.connect(timeout=10)
        return communicator, connected, code

    yield _connect
    for communicator in opened:
        # A no-op for a socket the test closed; an application that failed re-raises here what the test saw.
        with contextlib.suppress(Exception):
            await communicator.disconnect(timeout=10)


def table_move(model, *, away: bool) -> None:
    """Take a model's table away (a real database error for whoever uses it: no such table), or bring it back."""
    from django.db import InterfaceError, OperationalError, connection

    name = model._meta.db_table
    old, new = (name, f"{name}_away") if away else (f"{name}_away", name)
    sql = f"ALTER TABLE {connection.ops.quote_name(old)} RENAME TO {connection.ops.quote_name(new)}"
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    except (OperationalError, InterfaceError):
        # This process's connection was ended by an earlier test's database restart (scaled set-up): a new one.
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute(sql)
