"""A database error while a socket frame is recorded: answered at once, nothing stored, the next frame analysed."""
import pytest
from channels.db import database_sync_to_async

from engagement.models import EngagementLog
from tests.monitor.conftest import FACE, table_move
from tests.monitor.test_consumer import _clock, joined, rows, send_frame  # noqa: F401 (_clock: the server clock)

pytestmark = pytest.mark.django_db(transaction=True)
move = database_sync_to_async(table_move)


async def test_a_database_error_is_answered_at_once_and_the_next_frame_is_analysed(connect, exam_session, learner):
    ws = await joined(connect, exam_session, learner)
    first = await send_frame(ws, FACE, 0)
    assert first["type"] == "analysis"
    await move(EngagementLog, away=True)
    try:
        # In a server thread or a worker alike, the frame is answered (not left to a 120 s timeout) with an
        # error the page retries on, and the socket stays open.
        answer = await send_frame(ws, FACE, 5)
        assert answer["type"] == "error" and answer["error"] == "service_unavailable", answer
    finally:
        await move(EngagementLog, away=False)
    again = await send_frame(ws, FACE, 10)
    assert again["type"] == "analysis" and again["success"], again
    assert [r.pk for r in await rows(exam_session)] == [first["frame_id"], again["frame_id"]]
    await ws.disconnect()
