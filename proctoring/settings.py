"""Project settings, read from the environment with safe defaults for one machine."""
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    """Read a yes/no environment variable."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    """Read an integer environment variable."""
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not (DEBUG or env_bool("DEMO")):
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 / DEMO=1 for development).")
    # Local development and demos: a random key made once per install and kept in var/ (never committed), so
    # that exam links and sessions cannot be forged with a key everyone knows.
    _key_file = Path(os.environ.get("DJANGO_SECRET_KEY_FILE", BASE_DIR / "var" / "secret_key"))
    if not _key_file.exists():
        _key_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(50))
    SECRET_KEY = _key_file.read_text().strip()

ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
if "*" in ALLOWED_HOSTS and not (DEBUG or env_bool("DEMO")):
    # Any Host header would then be trusted: exam links and ws_url are built from it, and sockets' Origin is
    # checked against these hosts.
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS='*' is refused in production: name the site's host names.")

# Production behind HTTPS (README, "Security"): DJANGO_HTTPS=1 turns on the redirect, secure cookies and HSTS;
# DJANGO_BEHIND_PROXY=1 trusts the proxy's X-Forwarded-Proto, so that exam_url and ws_url are https and wss.
HTTPS = env_bool("DJANGO_HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
# Only says the site may be submitted to browsers' preload list; set DJANGO_HSTS_PRELOAD=0 to say it may not.
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", HTTPS)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY") else None
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# Failed logins (both login forms): an account is refused from one address for SECONDS after PER_USER failures
# within SECONDS; an address with PER_ADDRESS failures gets one attempt every ADDRESS_SLOW_SECONDS meanwhile.
LOGIN_THROTTLE = {
    "PER_USER": env_int("LOGIN_THROTTLE_PER_USER", 5),
    "PER_ADDRESS": env_int("LOGIN_THROTTLE_PER_ADDRESS", 50),
    "SECONDS": env_int("LOGIN_THROTTLE_SECONDS", 900),
    "ADDRESS_SLOW_SECONDS": env_int("LOGIN_THROTTLE_ADDRESS_SLOW_SECONDS", 5),
}
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# DEMO=1 (what `make run` sets) creates a demo learner and admin on first run; never in production.
DEMO = env_bool("DEMO", False)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",  # API tokens stored hashed, with a lifetime (django-rest-knox)
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "engagement",
    "monitor",
    "lti_tool",
    "lti",
]

MIDDLEWARE = [
    "proctoring.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "proctoring.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "monitor.middleware.ExamLoginMiddleware",
    "proctoring.timezones.ViewerTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "proctoring.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = None
ASGI_APPLICATION = "proctoring.asgi.application"

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=60,
        conn_health_checks=True,  # a connection broken by a database restart is replaced, not reused
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the page, the API and the socket consumers read while a frame's row is written. synchronous=NORMAL
    # (SQLite's advice for WAL) syncs the log at checkpoints, not at every commit: a committed frame survives the
    # server being killed, and only a power cut or an OS crash can undo the last commits. It saves each live frame
    # a disk flush (about 1 ms of CPU and more of waiting). PostgreSQL, for deployments that need more, is unchanged.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = ("PRAGMA journal_mode=WAL; "
                                                                      "PRAGMA synchronous=NORMAL;")
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["OPTIONS"]["timeout"] = 20

# Redis, when REDIS_URL is set: the channel layer shared by all server processes, and the cache.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # redis-py 8 times reads out after 5 s, exactly channels_redis's blocking-pop timeout: an idle socket's
    # consumer would crash after 5 s without a message. A longer read timeout keeps it listening.
    # Its receives wait out a Redis restart (proctoring.channel_layers): sockets survive it.
    CHANNEL_LAYERS = {"default": {"BACKEND": "proctoring.channel_layers.RetryingRedisChannelLayer",
                                  "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                                             "capacity": 1500, "expiry": 60}}}
    CACHES = {"default": {"BACKEND": "proctoring.caches.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "proctoring.channel_layers.InMemoryChannelLayer"}}
    # The sockets' per-session counts live here: LocMemCache's default of 300 entries would cull them under
    # a few hundred learners.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                          "OPTIONS": {"MAX_ENTRIES": 100_000}}}

# Celery, when CELERY_BROKER_URL is set: frames and batches are analysed by worker processes.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL or None)
CELERY_TASK_ACKS_LATE = True  # a task is acknowledged when done, so a killed worker's frame is redelivered
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a busy worker does not hoard frames another could take
CELERY_TASK_SERIALIZER = CELERY_RESULT_SERIALIZER = "json"
# A frame whose worker died unacknowledged is redelivered after this many seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 60),
    # Look for such frames every second (kombu's defaults amount to every 100 s).
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
    # The task's JSON as it is, not base64 of it (kombu's default for Redis): a 60 kB frame took 98 kB of Redis
    # instead of 66, its publish 0.94 ms of the server's CPU instead of 0.80, and the worker decoded the base64.
    # A message queued before the change names its own encoding and is still read.
    "body_encoding": "utf-8",
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_CONSUMER = "proctoring.celery:PromptConsumer"  # reconnects within a second or two of a Redis restart
# Celery closes a worker's database connections after every task unless this is set: each frame then opened a
# PostgreSQL connection (a server process started, and its caches filled, per frame). Set, Celery closes them only
# every 10,000 tasks, and proctoring.celery applies Django's own rule at each task's start and end instead
# (CONN_MAX_AGE; a connection that failed is dropped), as Django does for each request.
CELERY_DB_REUSE_MAX = 10_000

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    # Django's list of 20,000 common passwords (shipped with Django) and passwords close to the username or email.
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
# The zone pages and the admin show times in until the viewer's browser has told its own (proctoring.timezones).
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Times to the second everywhere, the admin included (frames and alerts are seconds apart).
FORMAT_MODULE_PATH = ["proctoring.formats"]

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# API tokens (django-rest-knox): only a hash is stored, the token is shown once; each expires after
# API_TOKEN_TTL_DAYS, and a password change or a deactivation revokes the account's tokens (monitor.services).
REST_KNOX = {"TOKEN_TTL": timedelta(days=env_int("API_TOKEN_TTL_DAYS", 90)), "AUTH_HEADER_PREFIX": "Token"}
REST_FRAMEWORK = {
    # Token first so that an anonymous request gets 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "engagement.exceptions.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "proctoring.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "proctoring.schema.TaggedAutoSchema",
    # Per user over the whole API, and per user and scope on the analysis endpoints (rates below): 429 with
    # Retry-After. Counted in Django's cache (per process when embedded, shared through Redis when scaled).
    "DEFAULT_THROTTLE_CLASSES": ["engagement.limits.UserThrottle", "engagement.limits.ScopeThrottle"],
}
# "N/second|minute|hour|day"; an empty value turns that throttle off.
API_THROTTLE_RATES = {
    "user": os.environ.get("API_THROTTLE_USER", "3000/minute") or None,
    "analyze": os.environ.get("API_THROTTLE_ANALYZE", "600/minute") or None,
    "batch": os.environ.get("API_THROTTLE_BATCH", "30/minute") or None,
    # The LTI proctoring page's camera check (one picture per click).
    "camera_check": os.environ.get("API_THROTTLE_CAMERA_CHECK", "30/minute") or None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Engagement API",
    # Markdown: the header is in a code span, so that Swagger UI shows "<key>" instead of taking it for HTML.
    "DESCRIPTION": "Webcam engagement analysis and proctored exam sessions. Authenticate with "
                   "`Authorization: Token <key>` (the LMS account's token).",
    "TAGS": [{"name": "engagement", "description": "Analyse frames"},
             {"name": "sessions", "description": "Proctored exam sessions"},
             {"name": "reports", "description": "Session reports and logs"},
             {"name": "alerts", "description": "Alerts and their review"},
             {"name": "webhooks", "description": "Signed notifications to the LMS"},
             {"name": "learners", "description": "A learner's data: export and erasure"}],
    "VERSION": "1.0.0",
    # Swagger UI from the sidecar package: the docs page works with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],  # the API's description is public
    "ENUM_NAME_OVERRIDES": {
        "SessionStatusEnum": "monitor.models.SessionStatus",
        "DeliveryStatusEnum": "monitor.models.DeliveryStatus",
        "WebhookEventEnum": "monitor.models.WebhookEvent",
        "EngagementStatusEnum": "engagement.scoring.EngagementStatus",
        # Used by the alert's review_outcome and by the review's outcome: one name for both.
        "ReviewOutcomeEnum": "monitor.choices.ReviewOutcome",
        # An alert's kind and a session's alerts switched off: one name for both.
        "AlertKindEnum": "monitor.alerts.AlertKind",
    },
}

# The analysis engine and its limits (see README, "Engine settings").
# Engine options come from the environment only when set there: otherwise each engine keeps its own default
# (the bundled engine's detector is BlazeFace, DeepFace's is its OpenCV detector).
# Live frames' analysis processes: one per core, two at most (on 2 cores one process was the bottleneck at 600
# learners; the server's own interpreter lock limits what more would bring, and each one holds about 290 MiB).
# The cores this process may run on (a container's, where it is pinned), not the host's.
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
_ANALYSIS_PROCESSES = env_int("ENGAGEMENT_ANALYSIS_PROCESSES", min(2, _CORES))
_ENGINE_OPTIONS_FROM_ENV = {
    "detector": ("ENGAGEMENT_DETECTOR", str),
    "face_score": ("ENGAGEMENT_FACE_SCORE", float),
    "looking_away_yaw": ("ENGAGEMENT_LOOKING_AWAY_YAW", float),
    "looking_away_pitch": ("ENGAGEMENT_LOOKING_AWAY_PITCH", float),
    "verification_threshold": ("ENGAGEMENT_VERIFICATION_THRESHOLD", float),
}
ENGAGEMENT = {
    "ENGINE": os.environ.get("ENGAGEMENT_ENGINE", "engagement.engines.bundled.BundledEngine"),
    "OPTIONS": {
        "age_gender": env_bool("ENGAGEMENT_AGE_GENDER", True),
        **{name: cast(os.environ[var]) for name, (var, cast) in _ENGINE_OPTIONS_FROM_ENV.items()
           if os.environ.get(var)},
    },
    # Load the engine when the ASGI server (or a Celery worker) starts, not on the first frame.
    "WARM_UP": env_bool("ENGAGEMENT_WARM_UP", True),
    "MAX_REQUEST_BYTES": env_int("ENGAGEMENT_MAX_REQUEST_BYTES", 10 * 1024 * 1024),
    "MAX_BATCH_REQUEST_BYTES": env_int("ENGAGEMENT_MAX_BATCH_REQUEST_BYTES", 64 * 1024 * 1024),
    "MAX_IMAGE_PIXELS": env_int("ENGAGEMENT_MAX_IMAGE_PIXELS", 4096 * 4096),
    "BATCH_MAX_FRAMES": env_int("ENGAGEMENT_BATCH_MAX_FRAMES", 100),
    # Frames analysed at once per server process (live frames and API frames share these threads), and the
    # chunk in which an API batch takes its turn (a live frame waits for one chunk at most, not a whole batch).
    # Two per analysis process, so that a process has its next frame while a thread stores the last one's row.
    "ANALYSIS_THREADS": env_int("ENGAGEMENT_ANALYSIS_THREADS",
                                env_int("MONITOR_ANALYSIS_THREADS", 2 * max(1, _ANALYSIS_PROCESSES))),
    "ANALYSIS_PROCESSES": _ANALYSIS_PROCESSES,
    "BATCH_CHUNK_FRAMES": env_int("ENGAGEMENT_BATCH_CHUNK_FRAMES", 8),
    # Batches one user may have in analysis at once, and API analysis bodies one process reads at once: more
    # are answered 429 with Retry-After (before their body is read, for the second).
    "MAX_CONCURRENT_BATCHES_PER_USER": env_int("ENGAGEMENT_MAX_CONCURRENT_BATCHES_PER_USER", 1),
    "MAX_CONCURRENT_BODIES": env_int("ENGAGEMENT_MAX_CONCURRENT_BODIES", 4),
    # Scaled set-up: seconds to wait for a Celery worker's answer (above CELERY_VISIBILITY_TIMEOUT, so that a
    # frame whose worker died can still be answered by another one).
    "WORKER_TIMEOUT": env_int("ENGAGEMENT_WORKER_TIMEOUT", 120),
    # Decoded pixels one batch may hold (RGB: 3 bytes each): 100 frames of 640x480 use 31 M of these 50 M.
    "BATCH_MAX_PIXELS": env_int("ENGAGEMENT_BATCH_MAX_PIXELS", 50_000_000),
    # Decoded pixels one account may hold in analysis at once, across its requests (and processes, with Redis):
    # three 4096x4096 frames are over it, so that one account's largest frames cannot fill the analysis threads.
    "ACCOUNT_MAX_PIXELS": env_int("ENGAGEMENT_ACCOUNT_MAX_PIXELS", 50_000_000),
    "BASE_TEMPLATE": "base.html",  # the try page in this project's frame (menu, login)
}
# Proctored sessions: alert thresholds and socket limits (each overridable from the environment).
MONITOR = {
    "ABSENT_SECONDS": env_int("MONITOR_ABSENT_SECONDS", 10),  # no face this long opens "absent"
    "MULTIPLE_FACES_FRAMES": env_int("MONITOR_MULTIPLE_FACES_FRAMES", 2),  # consecutive frames with 2+ faces
    "LOW_ENGAGEMENT_SCORE": env_int("MONITOR_LOW_ENGAGEMENT_SCORE", 30),  # smoothed score under this...
    "LOW_ENGAGEMENT_SECONDS": env_int("MONITOR_LOW_ENGAGEMENT_SECONDS", 60),  # ...for this long
    "LOW_ENGAGEMENT_MARGIN": env_int("MONITOR_LOW_ENGAGEMENT_MARGIN", 5),  # closes only above score + margin
    "STRUGGLING_SECONDS": env_int("MONITOR_STRUGGLING_SECONDS", 30),  # confused/frustrated this long
    "LOOKING_AWAY_SECONDS": env_int("MONITOR_LOOKING_AWAY_SECONDS", 10),  # head turned away this long
    "LOOKING_AWAY_MARGIN": env_int("MONITOR_LOOKING_AWAY_MARGIN", 5),  # degrees back inside the limits to close
    "EMA_ALPHA": float(os.environ.get("MONITOR_EMA_ALPHA", "0.3")),  # weight of the newest score
    "FRAME_INTERVAL": float(os.environ.get("MONITOR_FRAME_INTERVAL", "5")),  # default seconds between frames
    "RATE_LIMIT_FRAMES": env_int("MONITOR_RATE_LIMIT_FRAMES", 10),  # at most this many frames...
    "RATE_LIMIT_SECONDS": env_int("MONITOR_RATE_LIMIT_SECONDS", 10),  # ...per this many seconds per session
    "RATE_LIMIT_CAMERA": env_int("MONITOR_RATE_LIMIT_CAMERA", 10),  # camera reports per the same window
    "MAX_SOCKETS_PER_SESSION": env_int("MONITOR_MAX_SOCKETS_PER_SESSION", 2),  # more are refused (4429)
    # A socket's place counts while its server renews it (every third of this, in seconds): a killed server's
    # sockets stop counting within this time.
    "SOCKET_TTL": env_int("MONITOR_SOCKET_TTL", 15),
    # Replies a socket's client has not read yet: past this many bytes it is closed (python -m proctoring.serve).
    "SEND_BUFFER_BYTES": env_int("MONITOR_SEND_BUFFER_BYTES", 1024 * 1024),
    # Messages a socket's client sent that its consumer has not handled yet: past this it is closed (idem).
    "MAX_QUEUED_MESSAGES": env_int("MONITOR_MAX_QUEUED_MESSAGES", 100),
    # An instructor's open live feed re-reads their rights this often (seconds) and closes if they were removed.
    "RIGHTS_RECHECK_SECONDS": float(os.environ.get("MONITOR_RIGHTS_RECHECK_SECONDS", "10")),
    "MAX_FRAME_WAIT": float(os.environ.get("MONITOR_MAX_FRAME_WAIT", "5")),  # older frames are dropped unanalysed
    "JOIN_LINK_MAX_AGE": env_int("MONITOR_JOIN_LINK_MAX_AGE", 600),  # seconds an exam link stays valid
    # Socket frames whose timestamp is further than this (seconds) from the server's clock are refused.
    "MAX_CLOCK_SKEW": env_int("MONITOR_MAX_CLOCK_SKEW", 300),
    # Whether exams infer age and gender (they play no part in any alert; the learner's notice says so when on).
    # Off by default; ENGAGEMENT_AGE_GENDER=0 turns them off everywhere, /analyze-mood included.
    "AGE_GENDER": env_bool("MONITOR_AGE_GENDER", False),
    # Identity check (off unless turned on here or per session): the face in view is compared with the learner's
    # face at the start of the exam. See README, "Identity check".
    "IDENTITY_CHECK": env_bool("MONITOR_IDENTITY_CHECK", False),
    # Evidence (off by default): a course listed here, or a session created with "evidence": true, keeps one small
    # picture (EVIDENCE_SIZE) of the moment each critical alert opened, encrypted with MONITOR_EVIDENCE_KEY (a
    # Fernet key; the server refuses to start with courses listed and no valid key). See README, "Evidence".
    "EVIDENCE_COURSES": [c for c in os.environ.get("MONITOR_EVIDENCE_COURSES", "").split(",") if c.strip()],
    "EVIDENCE_KEY": os.environ.get("MONITOR_EVIDENCE_KEY", ""),
    "EVIDENCE_SIZE": (320, 240),
    "IDENTITY_REFERENCE_FRAMES": env_int("MONITOR_IDENTITY_REFERENCE_FRAMES", 3),  # good frames the reference averages
    # Seconds between routine checks. A check costs ~20 ms of CPU: at 5 s frames, 120 s is 0.8 ms a frame.
    "IDENTITY_CHECK_SECONDS": env_int("MONITOR_IDENTITY_CHECK_SECONDS", 120),
    # After an absence, a camera problem or a reconnection the next face is checked, at most this often (seconds).
    "IDENTITY_RECHECK_SECONDS": env_int("MONITOR_IDENTITY_RECHECK_SECONDS", 30),
    # Descriptor distance from the reference past which a check disagrees (stricter than /verify-faces' 0.6: see
    # README, "Face verification per group"), and the disagreeing checks in a row that open identity_changed.
    "IDENTITY_THRESHOLD": float(os.environ.get("MONITOR_IDENTITY_THRESHOLD", "0.5")),
    "IDENTITY_MISSES": env_int("MONITOR_IDENTITY_MISSES", 2),
    # A face darker than this (its mean grey level, 0-255) is not compared: in a dim room the descriptor drifts,
    # darker skin first (README, "Face verification per group"); the check waits for a lit frame instead.
    "IDENTITY_MIN_BRIGHTNESS": env_int("MONITOR_IDENTITY_MIN_BRIGHTNESS", 20),
    # A check (or the reference) waiting this many seconds on a face that dark opens identity_unchecked, so that a
    # room dark all exam is seen to go unchecked.
    "IDENTITY_DARK_SECONDS": env_int("MONITOR_IDENTITY_DARK_SECONDS", 120),
    # A reference left by a session that never ended is deleted by the purge after this many hours unused.
    "IDENTITY_REFERENCE_HOURS": env_int("MONITOR_IDENTITY_REFERENCE_HOURS", 24),
    # Whether learners see their emotions and scores during an exam, or only whether the camera sees them.
    "SHOW_LEARNER_ANALYSIS": env_bool("MONITOR_SHOW_LEARNER_ANALYSIS", False),
    # Presence: a camera reported blocked or missing, or every socket closed, this long opens an alert.
    "CAMERA_BLOCKED_SECONDS": env_int("MONITOR_CAMERA_BLOCKED_SECONDS", 20),
    "DISCONNECTED_SECONDS": env_int("MONITOR_DISCONNECTED_SECONDS", 30),
    # A connected page whose last frame analysed (or refused by a busy server) is this old, and at least
    # NO_FRAMES_INTERVALS frame intervals old, opens "no_frames": pings alone do not keep an exam monitored.
    "NO_FRAMES_SECONDS": env_int("MONITOR_NO_FRAMES_SECONDS", 20),
    "NO_FRAMES_INTERVALS": env_int("MONITOR_NO_FRAMES_INTERVALS", 3),
    # A session taken as connected whose last frame (or connection) is older than this is taken as disconnected
    # (its server died without closing the socket).
    "PRESENCE_STALE_SECONDS": env_int("MONITOR_PRESENCE_STALE_SECONDS", 120),
    # Each server process checks presence this often (seconds); 0 turns the check off in that process.
    "PRESENCE_SWEEP_SECONDS": float(os.environ.get("MONITOR_PRESENCE_SWEEP_SECONDS", "5")),
    # Each server process sends the live view the rows of its analysed frames together, this often (seconds), a
    # session's newest row only: one channel-layer send for all its frames of the moment. 0 sends each at once.
    "LIVE_BATCH_SECONDS": float(os.environ.get("MONITOR_LIVE_BATCH_SECONDS", "1")),
    # Path prefixes a login confined to one exam may also open ("{session_id}": that exam): LTI's launches and
    # its proctoring check for that exam.
    "EXAM_LOGIN_OPEN_PATHS": ["/lti/launch/", "/lti/login/", "/lti/continue/", "/lti/proctoring/{session_id}/"],
    # Functions (dotted paths) naming more courses an administrator may assign instructors to, beside those of
    # sessions and assignments: each returns (course id, label) pairs. LTI's: the courses that launched the tool.
    "COURSE_SOURCES": ["lti.services.courses_known"],
}

# LTI 1.3 (the lti app, on django-lti and PyLTI1p3).
LTI = {
    "HTTP_TIMEOUT": float(os.environ.get("LTI_HTTP_TIMEOUT", "10")),  # seconds to wait for a platform
    "KEY_SET_CACHE_SECONDS": env_int("LTI_KEY_SET_CACHE_SECONDS", 300),  # a platform's key set is reused this long
    # A token signed with a key the cached set lacks (the platform rotated it) fetches the set again, at most once
    # per this many seconds per platform.
    "KEY_SET_REFETCH_SECONDS": env_int("LTI_KEY_SET_REFETCH_SECONDS", 30),
    "NONCE_SECONDS": env_int("LTI_NONCE_SECONDS", 86400),  # a used nonce is remembered (and refused) this long
    # A platform's clock may run this far ahead of (iat, nbf) or behind (exp) the tool's.
    "CLOCK_SKEW_SECONDS": env_int("LTI_CLOCK_SKEW_SECONDS", 60),
    # A learner must have been seen by the camera this recently (seconds) to start a proctored attempt.
    "CAMERA_CHECK_SECONDS": env_int("LTI_CAMERA_CHECK_SECONDS", 120),
    # A launch inside an LMS frame offers a one-time link to open the tool in its own window, valid this long.
    "CONTINUE_SECONDS": env_int("LTI_CONTINUE_SECONDS", 300),
    # A platform's start_assessment_url must be https, except on these hosts (comma-separated; a platform on
    # loopback for development or tests).
    "HTTP_HOSTS": [h.strip().lower() for h in os.environ.get("LTI_HTTP_HOSTS", "").split(",") if h.strip()],
    # The platform's service URLs (member lists, assessment control) must be https on a public address; these hosts
    # may be internal (comma-separated; a platform on loopback for development or tests).
    "INTERNAL_HOSTS": [h.strip().lower() for h in os.environ.get("LTI_INTERNAL_HOSTS", "").split(",") if h.strip()],
}

# Signed webhooks to the LMS: delivery runs in a background thread (or a Celery worker), never in a request.
WEBHOOKS = {
    "TIMEOUT_SECONDS": float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "5")),
    "MAX_ATTEMPTS": env_int("WEBHOOK_MAX_ATTEMPTS", 6),
    "RETRY_BASE_SECONDS": float(os.environ.get("WEBHOOK_RETRY_BASE_SECONDS", "2")),  # 2, 4, 8, 16... s
    "BACKGROUND": env_bool("WEBHOOK_BACKGROUND", True),  # deliver from a thread of this process
    # Host names (comma-separated) that may resolve to loopback or private addresses, for an LMS on the same
    # network; every other webhook host must resolve to public addresses only (checked at save and at each send).
    "ALLOWED_INTERNAL_HOSTS": [host.strip().lower()
                               for host in os.environ.get("WEBHOOK_ALLOWED_INTERNAL_HOSTS", "").split(",")
                               if host.strip()],
}

# Privacy: how long logs, alerts and session summaries are kept (manage.py purge_engagement_data).
RETENTION_DAYS = env_int("ENGAGEMENT_RETENTION_DAYS", 365)

# Django must let the API read a body up to the batch limit; the API itself enforces the limits.
DATA_UPLOAD_MAX_MEMORY_SIZE = ENGAGEMENT["MAX_BATCH_REQUEST_BYTES"]
# Bodies up to that limit stay in memory (Django would spool bigger ones to a temporary file): raw frames never
# reach the disk. Larger bodies are refused before they are read (proctoring.middleware.RequestBodyGuard).
FILE_UPLOAD_MAX_MEMORY_SIZE = ENGAGEMENT["MAX_BATCH_REQUEST_BYTES"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"one_line_forbidden": {"()": "proctoring.log.OneLineForbidden"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["one_line_forbidden"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}
