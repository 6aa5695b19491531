"""Logging filters of the project."""
import logging


class OneLineForbidden(logging.Filter):
    """A refused request (403) is an expected event: log its one line without the exception's traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
