"""Engine warm-up at start and the /healthz endpoint."""
import pytest
from django.core.exceptions import ImproperlyConfigured

from engagement import engines


@pytest.mark.django_db
def test_healthz_reports_whether_the_engine_is_loaded(client, fresh_engine):
    body = client.get("/healthz").json()
    assert body["engine"]["loaded"] is False and body["database"] is True  # asking does not load it
    engines.warm_up()
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["engine"]["loaded"] is True and body["engine"]["name"] == "bundled"
    assert body["engine"]["load_seconds"] > 0


@pytest.mark.embedded_only  # this process's engine only
def test_a_corrupt_model_stops_the_start_not_a_frame(fresh_engine, tmp_path, monkeypatch):
    broken = tmp_path / "face_detection_full_range.tflite"
    broken.write_bytes(b"\x00" * 64)
    monkeypatch.setattr("engagement.engines.blazeface.model_path", lambda: broken)
    with pytest.raises(ImproperlyConfigured, match="cannot be loaded"):
        engines.warm_up()
    assert engines.engine_loaded() is None
