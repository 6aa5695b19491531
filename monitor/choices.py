"""The states monitor stores and shows: one enum per concept, with the words people read."""
from django.db import models


class SessionStatus(models.TextChoices):
    """Life cycle of an exam session.

    The labels are the one set of words every page uses (live view, report, admin, the learner's pages, the API's
    docs): a learner or an instructor reads "Not started" / "In progress" / "Ended", where "Scheduled" suggested a
    time set in advance and "Active" / "Running" said the same thing twice. The values are the API's and stay.
    """

    SCHEDULED = "scheduled", "Not started"  # created by the LMS, learner not connected yet
    ACTIVE = "active", "In progress"  # at least one frame received
    ENDED = "ended", "Ended"  # finished; its summary is stored and sockets are refused


class Connection(models.TextChoices):
    """Whether the learner's exam page is there, as its sockets tell it."""

    WAITING = "waiting", "Not connected yet"  # no socket has connected yet
    CONNECTED = "connected", "Connected"  # a socket is open and the camera works (or has not reported yet)
    # a socket is open but the page reports the camera denied, missing or stopped
    CAMERA_BLOCKED = "camera_blocked", "Camera blocked"
    # every socket closed (or went silent past MONITOR_PRESENCE_STALE_SECONDS)
    DISCONNECTED = "disconnected", "Disconnected"


class Severity(models.TextChoices):
    """How urgently an instructor should look."""

    INFO = "info", "Info"  # worth knowing, not a rule breach
    WARNING = "warning", "Warning"  # may need attention
    CRITICAL = "critical", "Critical"  # likely a rule breach


class ReviewOutcome(models.TextChoices):
    """What a reviewer decided about an alert."""

    CONFIRMED = "confirmed", "Confirmed"  # the alert shows a real breach of the exam's rules
    DISMISSED = "dismissed", "Dismissed"  # looked at: nothing wrong (a false alarm, an allowed interruption)
    FOLLOW_UP = "needs_follow_up", "Needs follow-up"  # undecided yet: someone must look again or ask the learner
