"""Settings for the test suite: the real settings, with a throwaway key and fast password hashing."""
import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")

from .settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not SQLite's shared in-memory database: the live-server threads then wait on locks
    # (busy timeout) instead of failing with "database table is locked".
    import tempfile

    test_db = os.path.join(tempfile.gettempdir(), f"engagement-test-{os.getpid()}.sqlite3")
    DATABASES["default"]["TEST"] = {"NAME": test_db}  # noqa: F405
