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
