"""Admin as the instructors' review tool: session reports, alert reviews, log exports, limited to their courses.

One module per job; importing them registers the admin classes.
"""
from . import accounts, alerts, csv_export, filters, forms, sessions, webhooks  # noqa: F401
from .sessions import ExamSessionAdmin

__all__ = ["ExamSessionAdmin"]
