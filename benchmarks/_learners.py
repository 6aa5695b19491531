"""The simulated learners of a socket load: their accounts and sessions, the frames they send, the rows checked."""
from __future__ import annotations

import base64
import json
import statistics
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from _server import http_opener, loopback_only

STAGES = ("decode", "detect", "emotion", "age_gender", "score")
# Warm-up sockets sending at once, twice: every analysis thread builds its own dlib detector (~250 ms) on its
# first frame, so one warm-up frame would leave that cost in the timed load.
WARMUP_SOCKETS = 4


def frame_data_url(quality: int) -> str:
    """tests.images.webcam_face() as a JPEG data URL, as a browser's canvas.toDataURL('image/jpeg', q) makes it."""
    from tests.images import encode, webcam_face

    return "data:image/jpeg;base64," + base64.b64encode(encode(webcam_face(), quality=quality)).decode()


def playlist(quality: int, dev_photos: bool = True) -> list[tuple[str, str]]:
    """(kind, data URL) frames in the order learners send them: three frames with people, then an empty room."""
    from _frames import encode_mix, frame_mix

    mix = encode_mix(frame_mix(use_dev_photos=dev_photos), quality=quality)
    urls = {kind: ["data:image/jpeg;base64," + base64.b64encode(j).decode() for j in jpegs]
            for kind, jpegs in mix.items()}
    people = [(kind, url) for kind, frames in urls.items() if kind != "empty room" for url in frames]
    empty = [("empty room", url) for url in urls["empty room"]]
    order = []
    for i in range(len(people)):
        order.append(people[i])
        if i % 3 == 2:
            order.append(empty[(i // 3) % len(empty)])
    return order


@dataclass
class Learner:
    """One simulated learner: credentials, the session's socket URL and what happened on it."""

    index: int
    username: str
    token: str
    session_id: str = ""
    ws_url: str = ""
    connect_ms: float | None = None
    connect_error: str | None = None
    close_code: int | None = None
    close_reason: str = ""
    sent: int = 0
    pending: dict = field(default_factory=dict)  # timestamp -> perf_counter at send
    sent_at: dict = field(default_factory=dict)  # timestamp -> perf_counter at send, kept
    answered_at: dict = field(default_factory=dict)  # timestamp -> perf_counter when its analysis arrived
    analysed: int = 0
    log_ids: list[int] = field(default_factory=list)  # the analysis answers' log_id
    rtts: list[float] = field(default_factory=list)
    kind_of: dict = field(default_factory=dict)  # timestamp -> kind of frame sent
    kind_rtts: dict = field(default_factory=dict)  # kind of frame -> round trips (ms)
    processing: list[float] = field(default_factory=list)
    kind_processing: dict = field(default_factory=dict)  # kind of frame -> the server's processing_ms
    queueing: list[float] = field(default_factory=list)  # round trip minus the server's processing_ms
    stages: dict = field(default_factory=lambda: {name: [] for name in STAGES})
    not_success: Counter = field(default_factory=Counter)
    dropped: int = 0
    errors: Counter = field(default_factory=Counter)
    other: Counter = field(default_factory=Counter)
    unmatched: int = 0
    answer_times: list[float] = field(default_factory=list)


def page_origin(learner: Learner) -> str:
    """The Origin a browser sends: the exam page's own server (the origin check compares host and port)."""
    parts = urlsplit(learner.ws_url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"


def iso_key(value) -> datetime | None:
    """A timestamp as sent or as echoed back (the server re-serialises it), comparable as a datetime."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def users_create(prefix: str, count: int) -> tuple[list[Learner], str]:
    """Learners with tokens, and an LMS account (monitor.add_examsession) whose token creates the sessions."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from monitor.services import api_token_issue

    User = get_user_model()
    # Unusable passwords: hashing 150 real ones would take a minute of PBKDF2 for nothing.
    users = [User(username=f"{prefix}-learner-{i:04d}") for i in range(count + WARMUP_SOCKETS)]
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_create(users)
    users = list(User.objects.filter(username__startswith=f"{prefix}-learner-").order_by("username"))
    tokens = [api_token_issue(user=u) for u in users]
    lms = User(username=f"{prefix}-lms")
    lms.set_unusable_password()
    lms.save()
    lms.user_permissions.add(Permission.objects.get(content_type__app_label="monitor", codename="add_examsession"))
    lms_token = api_token_issue(user=lms)
    learners = [Learner(index=i, username=u.username, token=t) for i, (u, t) in enumerate(zip(users, tokens))]
    return learners, lms_token


def sessions_create(base_urls: list[str], lms_token: str, learners: list[Learner], interval: float) -> float:
    """POST /api/v1/sessions/ for each learner (the LMS's path), servers in turn: a learner's socket goes to the
    server that created its session. Returns the median request time in ms."""
    opener = http_opener()
    times = []
    for index, learner in enumerate(learners):
        base_url = base_urls[index % len(base_urls)]
        body = {"learner": learner.username, "course_id": "bench-course", "exam_id": "bench-exam"}
        if 0.5 <= interval <= 120:
            body["frame_interval"] = interval
        request = urllib.request.Request(
            base_url + "/api/v1/sessions/", data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": f"Token {lms_token}", "Content-Type": "application/json"})
        started = time.perf_counter()
        with opener.open(request, timeout=30) as response:
            answer = json.loads(response.read())
        times.append((time.perf_counter() - started) * 1000)
        learner.session_id, learner.ws_url = answer["id"], answer["ws_url"]
        loopback_only(urlsplit(learner.ws_url).hostname or "")
    return statistics.median(times)


def sessions_end(base_urls: list[str], lms_token: str, learners: list[Learner]) -> int:
    """POST /api/v1/sessions/<id>/end/ for each learner's session (the LMS ends the exam); how many ended.

    Run against a long-lived database, sessions left running would be swept for presence by every later run.
    """
    opener = http_opener()
    ended = 0
    for index, learner in enumerate(learners):
        if not learner.session_id:
            continue
        request = urllib.request.Request(
            f"{base_urls[index % len(base_urls)]}/api/v1/sessions/{learner.session_id}/end/", data=b"", method="POST",
            headers={"Authorization": f"Token {lms_token}"})
        try:
            with opener.open(request, timeout=30) as response:
                response.read()
            ended += 1
        except OSError as exc:  # urllib's HTTPError and URLError are OSErrors: counted, not fatal
            print(f"could not end session {learner.session_id}: {exc}")
    return ended


def rows_verify(learners: list[Learner]) -> dict:
    """Every analysed log_id must be an EngagementLog row of its session; plus rows nobody was told about."""
    from engagement.models import EngagementLog
    from monitor.models import ExamSession

    expected = {}
    duplicates = 0
    for learner in learners:
        for log_id in learner.log_ids:
            if log_id in expected:
                duplicates += 1
            expected[log_id] = learner.session_id
    ids = [i for i in expected if i is not None]
    found: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        found.update(EngagementLog.objects.filter(pk__in=ids[start:start + 500]).values_list("pk", "session_key"))
    sessions = [learner.session_id for learner in learners]
    rows_total = EngagementLog.objects.filter(session_key__in=sessions).count()
    frame_counts = sum(ExamSession.objects.filter(pk__in=sessions).values_list("frame_count", flat=True))
    return {
        "ids": len(ids),
        "missing_id": sum(1 for i in expected if i is None),
        "lost": len(ids) - sum(1 for i in ids if i in found),
        "wrong_session": sum(1 for i in ids if i in found and found[i] != expected[i]),
        "duplicates": duplicates,
        "rows_total": rows_total,
        "frame_counts": frame_counts,
    }
