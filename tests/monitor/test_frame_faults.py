"""A database error while a socket frame is recorded: answered at once, nothing stored, the next frame analysed."""
import pytest
from channels.db import database_sync_to_async
from django.db import connection

from engagement.models import EngagementLog
from tests.monitor.conftest import FACE
from tests.monitor.test_consumer import _clock, joined, rows, send_frame  # noqa: F401 (_clock: the server clock)

pytestmark = pytest.mark.django_db(transaction=True)
TABLE = EngagementLog._meta.db_table


@database_sync_to_async
def rename(old, new):
    """Take the log table away (a real database error for whoever writes a frame: no such table), or back."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {connection.ops.quote_name(old)} RENAME TO {connection.ops.quote_name(new)}")


async def test_a_database_error_is_answered_at_once_and_the_next_frame_is_analysed(connect, exam_session, learner):
    ws = await joined(connect, exam_session, learner)
    first = await send_frame(ws, FACE, 0)
    assert first["type"] == "analysis"
    await rename(TABLE, f"{TABLE}_away")
    try:
        # In a server thread or a worker alike, the frame is answered (not left to a 120 s timeout) with an
        # error the page retries on, and the socket stays open.
        answer = await send_frame(ws, FACE, 5)
        assert answer["type"] == "error" and answer["error"] == "service_unavailable", answer
    finally:
        await rename(f"{TABLE}_away", TABLE)
    again = await send_frame(ws, FACE, 10)
    assert again["type"] == "analysis" and again["success"], again
    assert [r.pk for r in await rows(exam_session)] == [first["frame_id"], again["frame_id"]]
    await ws.disconnect()
