"""One registry per concept: alert kinds described once, statuses from one enum, migrations in step."""
import io
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command
from django.urls import reverse

from engagement.api import EngagementStatus, FrameError
from monitor import alerts, charts
from monitor.choices import Connection, Severity
from monitor.models import Alert, AlertKind

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


def test_every_kind_is_described_once_and_fully():
    assert [value for value, _ in AlertKind.choices] == [spec.value for spec in alerts.KINDS]
    assert dict(AlertKind.choices) == {spec.value: spec.label for spec in alerts.KINDS}
    assert len({spec.colour for spec in alerts.KINDS}) == len(alerts.KINDS)  # told apart in the timeline
    for spec in alerts.KINDS:
        assert spec.severity in Severity.values
        assert re.fullmatch(r"#[0-9a-f]{6}", spec.colour)
        # Raised either by frames or by the presence sweep, never both and never by nobody.
        assert (spec.rule is None) != (spec.presence is None), spec.value
        if spec.presence:
            assert spec.presence.connection in Connection.values
        assert AlertKind(spec.value).label == spec.label == alerts.kind_spec(spec.value).label


def test_the_models_match_the_migrations(db):
    """A kind (or a label) added to a registry without its migration fails here."""
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out)
    except SystemExit:
        pytest.fail(f"a migration is missing:\n{out.getvalue()}")


def test_a_kind_opens_with_the_registry_severity_and_draws_in_its_colour(db, exam_session):
    obs = alerts.Observation(at=T0, face_count=3)
    state, wanted = alerts.rules_evaluate(state={"multi_run": 5}, observation=obs, open_kinds=set())
    assert wanted == {AlertKind.MULTIPLE_FACES: "3 faces in view."}
    spec = alerts.kind_spec(AlertKind.MULTIPLE_FACES)
    alert = Alert.objects.create(session=exam_session, kind=spec.value, severity=spec.severity, message="x",
                                 opened_at=T0, closed_at=T0 + timedelta(seconds=5))
    points = [{"frame_time": T0, "score": 50.0, "smoothed_score": 50.0}]
    svg = charts.timeline_render(points=points, alerts=[alert], frame_interval=5.0, low_score=30)
    assert spec.colour in svg and f"alert: {spec.label}" in svg


def test_status_chart_orders_and_colours_from_the_enums():
    assert charts.STATUS_ORDER[:len(EngagementStatus)] == list(EngagementStatus)
    assert set(charts.STATUS_COLOURS) == set(charts.STATUS_ORDER)
    assert set(FrameError.values) < set(charts.STATUS_ORDER)


def test_the_live_page_carries_every_label_from_the_enums(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", password="boss-password"))
    page = client.get(reverse("monitor:live")).content.decode()
    script = re.search(r'<script id="live-labels" type="application/json">(.*?)</script>', page, re.S)
    labels = json.loads(script.group(1))
    assert labels["kind"] == dict(AlertKind.choices)
    assert labels["presence"] == dict(Connection.choices)
    assert labels["status"] == {**dict(EngagementStatus.choices), **dict(FrameError.choices)}
    assert labels["not_analysed"] == FrameError.values
    assert set(labels["session"]) == {"scheduled", "active", "ended"}
