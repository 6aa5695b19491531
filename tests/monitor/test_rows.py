"""monitor.rows (the frame path's statements, built once) reads and writes rows exactly as the ORM does."""
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, connections, transaction
from django.db.transaction import TransactionManagementError
from django.db.models.signals import post_save, pre_save
from django.test.utils import CaptureQueriesContext

from engagement.api import EngagementLog
from monitor import rows, selectors, services
from monitor.models import Alert, AlertKind, Connection, ExamSession, Severity

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)


def fields_of(obj):
    """Every concrete field's value, by attname."""
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


@pytest.fixture
def busy_session(exam_session):
    """A session whose row has values of every kind: JSON, times, None, booleans, text."""
    ExamSession.objects.filter(pk=exam_session.pk).update(
        rule_state={"ema": 0.4, "streak": [1, 2]}, smoothed_score=0.4, last_frame_at=T0, identity_check=True,
        evidence=None, alerts_off=["looking_away"], last_status="engaged", connection=Connection.CONNECTED)
    return ExamSession.objects.get(pk=exam_session.pk)


@pytest.mark.django_db
def test_a_row_read_equals_the_orms_and_a_missing_one_is_none(busy_session):
    read = rows.row_get(model=ExamSession, pk=busy_session.pk)
    assert fields_of(read) == fields_of(busy_session)
    assert read.last_frame_at.tzinfo is not None and read.rule_state == {"ema": 0.4, "streak": [1, 2]}
    assert rows.row_get(model=ExamSession, pk=str(busy_session.pk)).pk == busy_session.pk  # a string key too
    assert not read._state.adding and read._state.db == "default"
    assert rows.row_get(model=ExamSession, pk=uuid.uuid4()) is None
    user = rows.row_get(model=get_user_model(), pk=busy_session.learner_id)
    assert user.get_username() == "lea"


@pytest.mark.django_db
def test_the_locked_read_asks_the_database_for_a_lock_where_it_has_row_locks(busy_session):
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        rows.row_get(model=ExamSession, pk=busy_session.pk, lock=True)
    read = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    locks = "FOR UPDATE" in read[-1]
    assert locks == connection.features.has_select_for_update


@pytest.mark.django_db
def test_a_locked_read_outside_a_transaction_is_refused_as_the_orm_refuses_it(busy_session):
    """Where the database has row locks (PostgreSQL); SQLite's lock is its transaction, and the ORM lets it be."""
    query = ExamSession.objects.select_for_update().filter(pk=busy_session.pk)
    if connection.features.has_select_for_update:
        with pytest.raises(TransactionManagementError):
            list(query)
        with pytest.raises(TransactionManagementError):
            rows.row_get(model=ExamSession, pk=busy_session.pk, lock=True)
    else:
        assert [s.pk for s in query] == [rows.row_get(model=ExamSession, pk=busy_session.pk, lock=True).pk]


RESULT = {"success": True, "timestamp": T0.isoformat(), "face_count": 1, "engagement_score": 0.5,
          "engagement_status": "engaged", "dominant_emotion": "neutral", "emotions": {"neutral": 100.0},
          "engine": "test", "processing_ms": 1.0}


@pytest.mark.django_db
def test_a_frame_recorded_again_answers_its_row_and_changes_nothing(exam_session):
    frame_id = uuid.uuid4()
    first = services.session_frame_record(session_id=exam_session.pk, user=exam_session.learner_id, result=RESULT,
                                          frame_id=frame_id, received_at=T0)
    assert first.session.learner.get_username() == "lea"  # the learner read with the session, for the live view
    assert selectors.session_live_row(session=first.session, open_alerts=first.open_alerts)["learner"] == "lea"
    again = services.session_frame_record(session_id=exam_session.pk, user=exam_session.learner_id, result=RESULT,
                                          frame_id=str(frame_id), received_at=T0 + timedelta(seconds=5))
    assert again.log_id == first.log_id
    assert ExamSession.objects.get(pk=exam_session.pk).frame_count == 1
    assert EngagementLog.objects.filter(frame_id=frame_id).count() == 1


def test_frames_of_one_session_recorded_at_once_are_all_counted(exam_session, transactional_db):
    """The row lock serialises a session's frames: no frame's count or average is lost to another's write."""
    errors = []

    def send(offset):
        try:
            for i in range(12):
                services.session_frame_record(session_id=exam_session.pk, user=exam_session.learner_id, result=RESULT,
                                              frame_id=uuid.uuid4(), new_frame=True,
                                              received_at=T0 + timedelta(seconds=offset + 2 * i))
        except Exception as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    session = ExamSession.objects.get(pk=exam_session.pk)
    assert session.frame_count == session.analyzed_count == 36
    assert EngagementLog.objects.filter(session_key=str(exam_session.pk)).count() == 36


@pytest.mark.django_db
def test_an_insert_sets_the_key_and_defaults_and_sends_the_save_signals(exam_session):
    heard = []

    def listen(sender, instance, **kwargs):
        heard.append((kwargs["signal"], instance.pk, kwargs.get("created"), kwargs["update_fields"]))

    pre_save.connect(listen, sender=EngagementLog)
    post_save.connect(listen, sender=EngagementLog)
    try:
        log = EngagementLog(session_key=str(exam_session.pk), frame_time=T0, frame_id=uuid.uuid4(), face_count=1,
                            emotions={"happy": 90.0, "neutral": 10.0}, engine="test", processing_ms=3.5,
                            looking_away=None)
        rows.row_insert(obj=log)
    finally:
        pre_save.disconnect(listen, sender=EngagementLog)
        post_save.disconnect(listen, sender=EngagementLog)
    assert log.pk is not None and not log._state.adding
    assert heard == [(pre_save, None, None, None), (post_save, log.pk, True, None)]
    stored = EngagementLog.objects.get(pk=log.pk)
    assert fields_of(stored) == fields_of(log)
    assert stored.created_at is not None and stored.emotions == {"happy": 90.0, "neutral": 10.0}
    second = EngagementLog(session_key="s", frame_time=T0, engine="test", processing_ms=1.0)
    rows.row_insert(obj=second)
    assert second.pk > log.pk


@pytest.mark.django_db
def test_an_update_writes_only_its_fields_and_fails_for_a_row_gone(busy_session):
    read = rows.row_get(model=ExamSession, pk=busy_session.pk)
    read.frame_count, read.rule_state, read.course_id = 7, {"ema": 0.9}, "not written"
    rows.row_update(obj=read, fields=["frame_count", "rule_state"])
    stored = ExamSession.objects.get(pk=busy_session.pk)
    assert (stored.frame_count, stored.rule_state, stored.course_id) == (7, {"ema": 0.9}, "c1")
    ExamSession.objects.filter(pk=busy_session.pk).delete()
    with pytest.raises(DatabaseError):
        rows.row_update(obj=read, fields=["frame_count"])


@pytest.mark.django_db
def test_open_alerts_come_oldest_first_with_their_session_and_no_closed_one(busy_session):
    def alert(kind, minutes, closed=False):
        return Alert.objects.create(session=busy_session, kind=kind, severity=Severity.WARNING, message="m",
                                    opened_at=T0 + timedelta(minutes=minutes),
                                    closed_at=T0 + timedelta(minutes=9) if closed else None)

    late, early, _ = alert(AlertKind.ABSENT, 5), alert(AlertKind.MULTIPLE_FACES, 1), alert(AlertKind.ABSENT, 0, True)
    other = services.session_create(learner=busy_session.learner, course_id="c1", exam_id="e2")
    Alert.objects.create(session=other, kind=AlertKind.ABSENT, severity=Severity.WARNING, message="m", opened_at=T0)
    found = selectors.alerts_open(session=busy_session)
    assert [a.pk for a in found] == [early.pk, late.pk]
    assert fields_of(found[0]) == fields_of(Alert.objects.get(pk=early.pk))
    with CaptureQueriesContext(connection) as queries:
        assert found[0].session is busy_session
    assert len(queries) == 0
