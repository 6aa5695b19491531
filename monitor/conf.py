"""monitor's settings: the project's MONITOR and WEBHOOKS dicts over these defaults (see engagement.conf)."""
from django.conf import settings

from engagement.api import AppSettings

monitor_settings = AppSettings("MONITOR", {
    # Alert rules: no face this long opens "absent"; 2+ faces in this many frames in a row "multiple_faces";
    # a smoothed score under LOW_ENGAGEMENT_SCORE this long "low_engagement" (closed above it by the margin).
    "ABSENT_SECONDS": 10, "MULTIPLE_FACES_FRAMES": 2, "LOW_ENGAGEMENT_SCORE": 30, "LOW_ENGAGEMENT_SECONDS": 60,
    "LOW_ENGAGEMENT_MARGIN": 5, "STRUGGLING_SECONDS": 30, "LOOKING_AWAY_SECONDS": 10, "LOOKING_AWAY_MARGIN": 5,
    "EMA_ALPHA": 0.3,  # weight of the newest score in the smoothed score
    "FRAME_INTERVAL": 5.0,  # default seconds between frames
    # Sockets: frames and camera reports per RATE_LIMIT_SECONDS per session, sockets per session, buffers.
    "RATE_LIMIT_FRAMES": 10, "RATE_LIMIT_SECONDS": 10, "RATE_LIMIT_CAMERA": 10, "MAX_SOCKETS_PER_SESSION": 2,
    "SOCKET_TTL": 15,  # seconds a socket's place counts after its server last renewed it
    "SEND_BUFFER_BYTES": 1024 * 1024, "MAX_QUEUED_MESSAGES": 100, "RIGHTS_RECHECK_SECONDS": 10.0,
    "MAX_FRAME_WAIT": 5.0,  # older frames are dropped unanalysed
    "JOIN_LINK_MAX_AGE": 600,  # seconds an exam link stays valid
    "MAX_CLOCK_SKEW": 300,  # frames further than this (seconds) from the server's clock are refused
    "AGE_GENDER": False,  # whether exams infer age and gender
    "IDENTITY_CHECK": False,  # compare the face in view with the face at the start (per session otherwise)
    "EVIDENCE_COURSES": [], "EVIDENCE_KEY": "", "EVIDENCE_SIZE": (320, 240),  # evidence pictures (off)
    "IDENTITY_REFERENCE_FRAMES": 3, "IDENTITY_CHECK_SECONDS": 120, "IDENTITY_RECHECK_SECONDS": 30,
    "IDENTITY_THRESHOLD": 0.5, "IDENTITY_MISSES": 2, "IDENTITY_REFERENCE_HOURS": 24,
    "IDENTITY_MIN_BRIGHTNESS": 20,  # faces darker than this (mean grey, 0-255) are not compared: see README
    "IDENTITY_DARK_SECONDS": 120,  # a check waiting this long on a face too dark opens "identity_unchecked"
    "SHOW_LEARNER_ANALYSIS": False,  # learners see their emotions and scores, or only whether the camera sees them
    # Presence: a blocked camera, a closed page or a page without frames this long opens its alert.
    "CAMERA_BLOCKED_SECONDS": 20, "DISCONNECTED_SECONDS": 30, "NO_FRAMES_SECONDS": 20, "NO_FRAMES_INTERVALS": 3,
    "PRESENCE_STALE_SECONDS": 120, "PRESENCE_SWEEP_SECONDS": 5.0,
    "LIVE_BATCH_SECONDS": 1.0,  # a server sends its analysed frames' rows to the live view together this often
    "EXAM_LOGIN_OPEN_PATHS": [],  # path prefixes a login confined to one exam may also open ("{session_id}")
    "COURSE_SOURCES": [],  # dotted paths of functions naming more courses (lti sets its own)
})
webhook_settings = AppSettings("WEBHOOKS", {
    "TIMEOUT_SECONDS": 5.0, "MAX_ATTEMPTS": 6, "RETRY_BASE_SECONDS": 2.0,
    "BACKGROUND": True,  # deliver from a thread of this process (without Celery)
    "ALLOWED_INTERNAL_HOSTS": [],  # hosts that may resolve to private addresses
})


def retention_days() -> int:
    """Days logs, alerts and summaries are kept (the project's RETENTION_DAYS; 365 without it)."""
    return getattr(settings, "RETENTION_DAYS", 365)
