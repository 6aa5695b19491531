"""Analysis engines and the lazy, once-per-process loader chosen by the ENGAGEMENT setting."""
import logging
import threading
import time

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..conf import engagement_settings
from .base import AnalysisEngine

_engine: AnalysisEngine | None = None
_lock = threading.Lock()
logger = logging.getLogger(__name__)


def get_engine() -> AnalysisEngine:
    """Return the configured engine, building it once per process (thread-safe)."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = build_engine(engagement_settings)
    return _engine


def build_engine(config: dict) -> AnalysisEngine:
    """Build an engine from a setting shaped like {"ENGINE": dotted path, "OPTIONS": {...}}."""
    try:
        engine_class = import_string(config["ENGINE"])
    except (KeyError, ImportError) as exc:
        raise ImproperlyConfigured(f"ENGAGEMENT['ENGINE'] cannot be imported: {exc}") from exc
    if not (isinstance(engine_class, type) and issubclass(engine_class, AnalysisEngine)):
        raise ImproperlyConfigured(f"{config['ENGINE']} is not an AnalysisEngine")
    return engine_class(**config.get("OPTIONS", {}))


def warm_up() -> AnalysisEngine:
    """Build the engine now (server or worker start), so that no learner's first frame waits for the models.

    A missing or corrupt model file raises ImproperlyConfigured here, at start, instead of on a frame.
    """
    started = time.perf_counter()
    engine = get_engine()
    engine.warm_up()
    logger.info("analysis engine %s loaded in %.2f s", engine.name, time.perf_counter() - started)
    return engine


def engine_loaded() -> AnalysisEngine | None:
    """The engine if this process has built it, without building it."""
    return _engine


def reset_engine() -> None:
    """Forget the loaded engine (tests and setting changes)."""
    global _engine
    with _lock:
        _engine = None
