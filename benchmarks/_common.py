"""Helpers shared by the benchmark scripts: Django set-up, percentiles, the machine's CPU model."""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    """Make the project importable and configure Django, whatever folder a script runs from."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctoring.settings_test")
    import django

    django.setup()


def setup_django_throwaway(prefix: str) -> Path:
    """Configure Django on a new, migrated SQLite database in a temporary folder (the exam path's benchmarks)."""
    import secrets
    import subprocess
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.update(DJANGO_SETTINGS_MODULE="proctoring.settings", DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite3'}",
                      DJANGO_SECRET_KEY="bench-throwaway-" + secrets.token_hex(16), DJANGO_DEBUG="0")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True, timeout=300)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    return tmp


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, q in 0..100; NaN for no values."""
    return float(np.percentile(values, q)) if len(values) else float("nan")


def cpu_model() -> str:
    """The CPU's model name, for the record."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
