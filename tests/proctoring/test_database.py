"""The embedded set-up's SQLite connection: write-ahead log, synced at checkpoints rather than at every commit."""
import pytest
from django.db import connections


@pytest.mark.embedded_only
@pytest.mark.django_db
def test_sqlite_file_database_runs_in_wal_mode_synced_at_checkpoints(tmp_path):
    settings = {**connections["default"].settings_dict, "NAME": str(tmp_path / "db.sqlite3")}
    database = type(connections["default"])(settings, alias="wal-check")
    try:
        with database.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            journal = cursor.fetchone()[0]
            cursor.execute("PRAGMA synchronous")
            synchronous = cursor.fetchone()[0]
    finally:
        database.close()
    assert journal == "wal"
    assert synchronous == 1  # NORMAL (FULL, SQLite's default, is 2)
