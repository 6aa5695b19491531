"""App settings: the project's settings dict (e.g. ENGAGEMENT) over the app's defaults, as DRF's api_settings.

A project sets only what it changes; without its block the app runs on the defaults. Values are read live (tests
and the admin may change the project's dict), and checked once at start-up (AppConfig.ready).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class AppSettings(Mapping):
    """One app's settings: settings.<name> (a dict) over `defaults`; unknown keys and wrong types are refused."""

    def __init__(self, name: str, defaults: dict[str, Any]) -> None:
        self.name = name
        self.defaults = defaults

    def _project(self) -> dict:
        return getattr(settings, self.name, None) or {}

    def __getitem__(self, key: str) -> Any:
        project = self._project()
        return project[key] if key in project else self.defaults[key]

    def __iter__(self) -> Iterator[str]:
        return iter({**self.defaults, **self._project()})

    def __len__(self) -> int:
        return len({**self.defaults, **self._project()})

    def validate(self) -> None:
        """Refuse, at start-up, a block that is not a dict, a key the app does not know, or a value of another type."""
        project = getattr(settings, self.name, None)
        if project is None:
            return
        if not isinstance(project, dict):
            raise ImproperlyConfigured(f"{self.name} must be a dict, not {type(project).__name__}.")
        unknown = sorted(set(project) - set(self.defaults))
        if unknown:
            raise ImproperlyConfigured(f"{self.name} has unknown keys {unknown}; known: {sorted(self.defaults)}.")
        for key, value in project.items():
            default = self.defaults[key]
            if default is None or value is None:
                continue
            numbers = (int, float)
            same = (isinstance(value, numbers) and not isinstance(value, bool)) if (
                isinstance(default, numbers) and not isinstance(default, bool)) else isinstance(value, type(default))
            if not same:
                raise ImproperlyConfigured(f"{self.name}[{key!r}] must be {type(default).__name__}, "
                                           f"not {type(value).__name__}.")


engagement_settings = AppSettings("ENGAGEMENT", {
    "ENGINE": "engagement.engines.bundled.BundledEngine",  # dotted path of an AnalysisEngine
    "OPTIONS": {},  # the engine's options (its default_options say which)
    "WARM_UP": True,  # load the engine when the server (or a Celery worker) starts, not on the first frame
    "MAX_REQUEST_BYTES": 10 * 1024 * 1024,  # body of /analyze-mood (413 above)
    "MAX_BATCH_REQUEST_BYTES": 64 * 1024 * 1024,  # body of /batch-analyze-mood
    "MAX_IMAGE_PIXELS": 4096 * 4096,  # pixels of one image, read from its header before decoding
    "BATCH_MAX_FRAMES": 100,
    "ANALYSIS_THREADS": 2,  # frames analysed at once per process (live and API frames share them)
    # Child processes that decode and analyse a server's live frames (0: its analysis threads do it, under the one
    # interpreter lock the event loop shares). Never used by Celery workers, which are processes already.
    "ANALYSIS_PROCESSES": 0,
    "BATCH_CHUNK_FRAMES": 8,  # an API batch takes its turn in chunks of this many frames
    "MAX_CONCURRENT_BATCHES_PER_USER": 1,  # more are answered 429
    "MAX_CONCURRENT_BODIES": 4,  # analysis bodies one process reads at once (more: 429)
    "WORKER_TIMEOUT": 120,  # seconds to wait for a Celery worker's answer
    "BATCH_MAX_PIXELS": 50_000_000,  # decoded pixels one batch may hold
    "ACCOUNT_MAX_PIXELS": 50_000_000,  # decoded pixels one account may hold in analysis at once
    "BASE_TEMPLATE": "engagement/base.html",  # the page the try page extends (blocks: title, content)
})
