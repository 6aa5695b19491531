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


def engine_class(config: dict) -> type[AnalysisEngine]:
    """The engine class a setting shaped like {"ENGINE": dotted path, ...} names, imported but not built."""
    try:
        found = import_string(config["ENGINE"])
    except (KeyError, ImportError) as exc:
        raise ImproperlyConfigured(f"ENGAGEMENT['ENGINE'] cannot be imported: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, AnalysisEngine)):
        raise ImproperlyConfigured(f"{config['ENGINE']} is not an AnalysisEngine")
    return found


def build_engine(config: dict) -> AnalysisEngine:
    """Build an engine from a setting shaped like {"ENGINE": dotted path, "OPTIONS": {...}}."""
    return engine_class(config)(**config.get("OPTIONS", {}))


def faces_comparable() -> bool:
    """Whether the configured engine can compare faces (/verify-faces, the exams' identity check), without building
    it (a process that only serves sockets never loads the models)."""
    return engine_class(engagement_settings).verification_model is not None


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
