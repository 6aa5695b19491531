"""An alert's `since`: when its condition began (the learner left), which the live view's timer counts from."""
from datetime import timedelta

import pytest

from monitor.models import Alert
from monitor.presence import PresenceEvent, presence_sweep, session_presence_record
from tests.monitor.test_admin import T0, record, world  # noqa: F401

pytestmark = pytest.mark.django_db


def test_rule_alerts_count_from_the_first_frame_of_their_condition(world):  # noqa: F811
    absent = world.s1.alerts.get(kind="absent")
    faces = world.s1.alerts.get(kind="multiple_faces")
    # No face from 25 s; the alert opened at 35 s, after MONITOR_ABSENT_SECONDS.
    assert absent.since == T0 + timedelta(seconds=25) and absent.opened_at == T0 + timedelta(seconds=35)
    assert absent.as_message()["since"] == (T0 + timedelta(seconds=25)).isoformat()
    # Two faces from 10 s; opened at the second such frame (15 s).
    assert faces.since == T0 + timedelta(seconds=10) and faces.opened_at == T0 + timedelta(seconds=15)


@pytest.mark.django_db(transaction=True)
def test_presence_alerts_count_from_when_the_page_went(world):  # noqa: F811
    session = world.s3
    session_presence_record(session_id=session.id, event=PresenceEvent.SOCKET_OPEN, at=T0)
    session_presence_record(session_id=session.id, event=PresenceEvent.SOCKET_CLOSED, at=T0 + timedelta(seconds=10))
    presence_sweep(now=T0 + timedelta(seconds=45))
    alert = Alert.objects.get(session=session, kind="disconnected")
    assert alert.since == T0 + timedelta(seconds=10) and alert.opened_at == T0 + timedelta(seconds=45)


def test_an_alert_without_its_condition_start_counts_from_its_opening(world):  # noqa: F811
    alert = world.s1.alerts.get(kind="absent")
    Alert.objects.filter(pk=alert.pk).update(since=None)  # alerts made before the column existed
    alert.refresh_from_db()
    assert alert.as_message()["since"] == alert.opened_at.isoformat()
