"""Settings for the test suite: the real settings, with a throwaway key and fast password hashing."""
import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")
# Short thresholds, read from the environment so that Celery workers started by the tests share them.
for name, value in {
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",  # Django's test client's host
    "MONITOR_ABSENT_SECONDS": "6",
    "MONITOR_LOOKING_AWAY_SECONDS": "6",
    # Presence sweeps run only in the tests that turn them on (a sweep left running would outlive its test).
    "MONITOR_PRESENCE_SWEEP_SECONDS": "0",
    # The live view's batches of frame rows: a short window, so that tests wait little for an update.
    "MONITOR_LIVE_BATCH_SECONDS": "0.1",
    "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "WEBHOOK_TIMEOUT_SECONDS": "1",
    "WEBHOOK_MAX_ATTEMPTS": "3",
    "CELERY_VISIBILITY_TIMEOUT": "8",
    # The webhook tests' receiver listens on loopback; tests of the refusal set this to nothing.
    "WEBHOOK_ALLOWED_INTERNAL_HOSTS": "127.0.0.1",
    # The LTI tests' platform listens on plain http on loopback.
    "LTI_HTTP_HOSTS": "localhost,127.0.0.1",
    "LTI_INTERNAL_HOSTS": "localhost,127.0.0.1",
    # The suite sends far more requests per minute than a client would; the throttling tests set their own.
    "API_THROTTLE_USER": "100000/minute",
    "API_THROTTLE_ANALYZE": "100000/minute",
    "API_THROTTLE_BATCH": "100000/minute",
    "API_THROTTLE_CAMERA_CHECK": "100000/minute",
}.items():
    os.environ.setdefault(name, value)

from .settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not SQLite's shared in-memory database: the live-server threads then wait on locks
    # (busy timeout) instead of failing with "database table is locked".
    import tempfile

    test_db = os.path.join(tempfile.gettempdir(), f"engagement-test-{os.getpid()}.sqlite3")
    DATABASES["default"]["TEST"] = {"NAME": test_db}  # noqa: F405
