"""The analysis logic: decode, analyse, score, summarise and log frames."""
from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone
from typing import Any

import numpy as np
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import import_string

from . import scoring
from .engines import get_engine
from .engines.base import DETECTORS, EMOTIONS, FrameAnalysis, VerificationUnsupported
from .exceptions import EngagementError, EngineUnavailable, InvalidInput, NotSupported
from .images import decode_image, image_bytes_from_base64, image_header_check
from .limits import pixels_reserved
from .models import EngagementLog
from .offload import offloaded, task_answer
from .processes import in_process, processes_enabled
from .conf import engagement_settings

logger = logging.getLogger(__name__)
_decoder = ThreadPoolExecutor(max_workers=2, thread_name_prefix="engagement-decode")
_pool: AnalysisPool | None = None
_pool_lock = threading.Lock()
MESSAGES = {
    scoring.FrameError.NO_FACE: "No face detected in the image.",
    scoring.FrameError.FACE_TOO_SMALL: "The face is too small to analyse: move closer to the camera.",
}


@dataclass
class Frame:
    """One frame to analyse: image bytes (or a base64 string) and its capture time."""

    image: bytes | str | None
    timestamp: Any = None


def _limits() -> dict:
    return engagement_settings


def timestamp_parse(*, value: Any) -> datetime:
    """An aware datetime from an ISO 8601 string (naive means UTC); now when absent."""
    if value in (None, ""):
        return timezone.now()
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip().replace("Z", "+00:00") if value.strip().endswith("Z") else value.strip())
        except ValueError:
            parsed = None
    else:
        parsed = None
    if parsed is None:
        raise InvalidInput("'timestamp' must be an ISO 8601 date and time.", code="invalid_timestamp")
    if timezone.is_naive(parsed):
        return parsed.replace(tzinfo=dt_timezone.utc)
    try:
        # In UTC: databases refuse some offsets that Python accepts (PostgreSQL: "-21:16").
        return parsed.astimezone(dt_timezone.utc)
    except OverflowError:
        raise InvalidInput("'timestamp' is out of range.", code="invalid_timestamp") from None


def detector_validate(*, detector_backend: Any) -> str | None:
    """Check a client's detector_backend against the configured engine's and return it, or None for the default."""
    if detector_backend in (None, ""):
        return None
    try:
        allowed = import_string(engagement_settings["ENGINE"]).detectors
    except (ImportError, AttributeError, KeyError):
        allowed = DETECTORS  # a broken ENGINE setting is reported when the engine loads, not here
    if detector_backend not in allowed:
        raise InvalidInput(f"'detector_backend' must be one of {', '.join(allowed)}.", code="invalid_detector")
    return detector_backend


def account_of(user: Any) -> Any:
    """The account whose decoded-pixel budget a user's frames count against: its id, None when anonymous."""
    return user.pk if getattr(user, "is_authenticated", False) else None


def image_load(*, image: bytes | str | None, reserve: Any = None) -> Any:
    """Bytes or base64 text to an RGB array, enforcing the byte and pixel limits."""
    return decode_image(_image_bytes(image), max_pixels=_limits()["MAX_IMAGE_PIXELS"], reserve=reserve)


def _image_bytes(image: bytes | str | None) -> bytes:
    if isinstance(image, bytes):
        return image
    return image_bytes_from_base64(image, max_bytes=_limits()["MAX_REQUEST_BYTES"])


def image_thumbnail(*, image: bytes | str, width: int, height: int, quality: int = 80) -> bytes:
    """A JPEG of the image scaled down to fit width x height (aspect kept), within the same input limits."""
    import io

    from PIL import Image

    picture = Image.fromarray(image_load(image=image))
    picture.thumbnail((width, height))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def result_build(*, analysis: FrameAnalysis, frame_time: datetime, engine_name: str, timings: dict) -> dict:
    """The prototype's JSON for one analysed frame, plus face_count, region and processing_ms."""
    result: dict[str, Any] = {"success": analysis.error is None}
    if analysis.error:
        result.update(error=analysis.error, message=MESSAGES[analysis.error])
    else:
        started = time.perf_counter()
        emotions = {name: round(analysis.emotions[name], 2) for name in EMOTIONS}
        dominant = scoring.dominant_emotion(analysis.emotions)
        score = scoring.engagement_score(analysis.emotions)
        status = scoring.engagement_status(score, dominant)
        timings["score"] = (time.perf_counter() - started) * 1000
        result.update(
            dominant_emotion=dominant,
            emotions=emotions,
            engagement_score=score,
            engagement_status=status.value,
            recommendations=scoring.recommendations(status),
            age=analysis.age,
            gender=analysis.gender,
        )
    result.update(
        timestamp=frame_time.isoformat(),
        face_count=analysis.face_count,
        region=analysis.face.as_dict() if analysis.face else None,
        head_pose=analysis.head_pose,
        looking_away=analysis.looking_away,
        engine=engine_name,
        processing_ms=round(sum(timings.values()), 2),
        timings_ms={k: round(v, 2) for k, v in timings.items()},
    )
    return result


def _engine_run(images: list, detector: str | None, age_gender: bool) -> tuple[list[FrameAnalysis], str]:
    try:
        engine = get_engine()
        if len(images) == 1:
            return [engine.analyze(images[0], detector=detector, age_gender=age_gender)], engine.name
        return engine.analyze_many(images, detector=detector, age_gender=age_gender), engine.name
    except EngagementError:
        raise
    except Exception as exc:  # any engine failure is the engine's, not the client's: 503, logged
        logger.exception("analysis engine failed")
        raise EngineUnavailable("The analysis engine failed; try again later.") from exc


def frame_analyze(*, frame: Frame, detector_backend: str | None = None, session_id: str | None = None,
                  user: Any = None, age_gender: bool = True, shared_pool: bool = False) -> dict:
    """Analyse one frame; log it when it carries a session id. Raises EngagementError on bad input.

    `age_gender=False` never infers age and gender for this frame (they are None), whatever the engine allows.
    `shared_pool` as for frames_analyze (a request thread's frame: True).
    """
    return frames_analyze(frames=[frame], detector_backend=detector_backend, session_id=session_id, user=user,
                          fail_alone=False, age_gender=age_gender, shared_pool=shared_pool)[0]


# Why a descriptor that was asked for is missing (frame_analyze_described's third value).
NOT_DESCRIBED_NO_FACE, NOT_DESCRIBED_TURNED, NOT_DESCRIBED_SEVERAL = "no_face", "looking_away", "several_faces"
NOT_DESCRIBED_DARK, NOT_DESCRIBED_UNSUPPORTED = "too_dark", "unsupported"


def frame_analyze_described(*, frame: Frame, describe: bool, one_face_only: bool = False,
                            age_gender: bool = True, account: Any = None, min_brightness: float = 0,
                            separate_process: bool = False) -> tuple[dict, Any, str | None]:
    """Analyse one frame like frame_analyze, and with `describe` also its (largest) face's descriptor.

    Answers (result, descriptor, why not). The descriptor is computed on the same decoded image and face box, and
    never enters the result. It is None when not asked, and when asked the third value says why it is missing: no
    face analysed, the head turned away, several faces with `one_face_only`, the face's mean grey level under
    `min_brightness` (NOT_DESCRIBED_*), or an engine without descriptors. The frame counts against the `account`'s
    (a user id's) ENGAGEMENT_ACCOUNT_MAX_PIXELS until it is answered.
    `separate_process` decodes and analyses it in one of the server's analysis processes when there are any
    (ENGAGEMENT["ANALYSIS_PROCESSES"]); the frame is checked here first, with the same errors.
    """
    with pixels_reserved(account=account) as reserve:
        if separate_process and processes_enabled():
            started = time.perf_counter()
            data, frame_time = _received(frame)
            image_header_check(data, max_pixels=_limits()["MAX_IMAGE_PIXELS"], reserve=reserve)
            return in_process(_described_from_bytes, data, frame_time, (time.perf_counter() - started) * 1000,
                              describe, one_face_only, age_gender, min_brightness)
        image, frame_time, decode_ms = _prepare(frame, reserve)
        return _analyze_described(image, frame_time, decode_ms, describe, one_face_only, age_gender, min_brightness)


def _described_from_bytes(data: bytes, frame_time: datetime, received_ms: float, *options: Any) -> tuple:
    """frame_analyze_described's work in an analysis process: decode (its header already checked) and analyse."""
    started = time.perf_counter()
    image = decode_image(data, max_pixels=_limits()["MAX_IMAGE_PIXELS"])
    return _analyze_described(image, frame_time, received_ms + (time.perf_counter() - started) * 1000, *options)


def face_brightness(image: Any, face: Any) -> float:
    """The mean grey level (0-255) of an RGB image inside a face box."""
    box = image[max(face.y, 0):max(face.y + face.h, 0), max(face.x, 0):max(face.x + face.w, 0)]
    # ITU-R BT.601 weights, as the grey image the detector and the emotion model see.
    return float((box.reshape(-1, 3) @ np.array([0.299, 0.587, 0.114])).mean()) if box.size else 0.0


def _analyze_described(image: Any, frame_time: datetime, decode_ms: float, describe: bool, one_face_only: bool,
                       age_gender: bool, min_brightness: float = 0) -> tuple[dict, Any, str | None]:
    [analysis], engine_name = _engine_run([image], None, age_gender)
    descriptor, why_not = None, None
    if describe:
        # A turned head or a face in the dark gives a poor descriptor: its check waits for a better frame.
        if analysis.error is not None or analysis.face is None:
            why_not = NOT_DESCRIBED_NO_FACE
        elif analysis.looking_away:
            why_not = NOT_DESCRIBED_TURNED
        elif one_face_only and analysis.face_count != 1:
            why_not = NOT_DESCRIBED_SEVERAL
        elif min_brightness and face_brightness(image, analysis.face) < min_brightness:
            why_not = NOT_DESCRIBED_DARK
        else:
            try:
                described = get_engine().describe_face(image, face=analysis.face)
            except VerificationUnsupported:
                logger.warning("the %s engine has no face descriptor: no identity check is possible", engine_name)
                why_not = NOT_DESCRIBED_UNSUPPORTED
            except Exception as exc:  # the engine's failure, not the client's: 503, logged
                logger.exception("face description failed")
                raise EngineUnavailable("The analysis engine failed; try again later.") from exc
            else:
                descriptor = described.descriptor
                analysis.timings.update(described.timings)
    result = result_build(analysis=analysis, frame_time=frame_time, engine_name=engine_name,
                          timings={"decode": decode_ms, **analysis.timings})
    return result, descriptor, why_not


def faces_distance(*, a: Any, b: Any) -> float:
    """How far apart two descriptors of the configured engine are (under its threshold: the same person)."""
    return get_engine().faces_distance(a, b)


def frames_from_json(items: list) -> list[Frame | Any]:
    """Frames from a JSON list of {"image", "timestamp"} objects; other items are kept so that they fail alone."""
    return [Frame(image=f.get("image"), timestamp=f.get("timestamp")) if isinstance(f, dict) else f for f in items]


def api_frames_analyze(*, frames: list, detector_backend: Any = None, session_id: str | None = None,
                       user: Any = None, fail_alone: bool = True) -> list[dict]:
    """The API's analysis: in this process, or on a Celery worker when CELERY_BROKER_URL is set."""
    detector = detector_validate(detector_backend=detector_backend)
    if not offloaded():
        return frames_analyze(frames=frames_from_json(frames), detector_backend=detector, session_id=session_id,
                              user=user, fail_alone=fail_alone, shared_pool=True)
    return worker_answer("engagement.tasks.frames_analyze", frames=frames, detector_backend=detector,
                         session_id=session_id, user_id=account_of(user), fail_alone=fail_alone)["results"]


def worker_answer(task: str, **kwargs: Any) -> dict:
    """Run a Celery task of this app by name and wait for its answer; a request-level error it reports is raised."""
    try:
        answer = task_answer(task, timeout=engagement_settings["WORKER_TIMEOUT"], **kwargs)
    except Exception as exc:  # broker down, worker lost, timeout: the engine is unavailable, not the input bad
        logger.exception("analysis worker failed")
        raise EngineUnavailable("No analysis worker answered; try again later.") from exc
    if "error" in answer:
        raise EngagementError.from_answer(answer)
    return answer


def _received(frame: Any) -> tuple[bytes, datetime]:
    """A frame's image bytes (base64 decoded, within the byte limit) and its capture time."""
    if not isinstance(frame, Frame):
        raise InvalidInput("Each frame must be an object with an 'image'.", code="invalid_frame")
    frame_time = timestamp_parse(value=frame.timestamp)
    return _image_bytes(frame.image), frame_time


def _prepare(frame: Any, reserve: Callable[[int], None] | None = None) -> tuple[Any, datetime, float]:
    started = time.perf_counter()
    data, frame_time = _received(frame)
    image = decode_image(data, max_pixels=_limits()["MAX_IMAGE_PIXELS"], reserve=reserve)
    return image, frame_time, (time.perf_counter() - started) * 1000


class AnalysisPool(Executor):
    """Analysis threads that take live frames before API work, each kind in arrival order.

    `submit` queues API work; `live.submit` queues a live frame ahead of every API task not yet started, so that
    a learner's frame waits for the tasks already running at most (one batch chunk or one API frame each).
    """

    LIVE, API = 0, 1

    def __init__(self, *, max_workers: int, thread_name_prefix: str) -> None:
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()  # ties in priority keep arrival order; futures are never compared
        self._threads = [threading.Thread(target=self._work, name=f"{thread_name_prefix}_{i}", daemon=True)
                         for i in range(max(1, max_workers))]
        for thread in self._threads:
            thread.start()
        self.live = _LiveSubmit(self)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        """Queue API work (after every live frame waiting)."""
        return self.submit_at(self.API, fn, *args, **kwargs)

    def submit_at(self, priority: int, fn, /, *args, **kwargs) -> Future:
        """Queue `fn(*args, **kwargs)` with a priority (LIVE before API)."""
        future: Future = Future()
        self._queue.put((priority, next(self._order), future, fn, args, kwargs))
        return future

    def _work(self) -> None:
        while True:
            _, _, future, fn, args, kwargs = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to whoever waits on the future, as ThreadPoolExecutor does
                future.set_exception(exc)


class _LiveSubmit(Executor):
    """The pool as an executor of live frames (for SyncToAsync's `executor`)."""

    def __init__(self, pool: AnalysisPool) -> None:
        self._pool = pool

    def submit(self, fn, /, *args, **kwargs) -> Future:
        """Queue a live frame ahead of API work."""
        return self._pool.submit_at(AnalysisPool.LIVE, fn, *args, **kwargs)


def analysis_pool() -> AnalysisPool:
    """The process's analysis threads, apart from the event loop and the request threads.

    Every analysis of a server process runs here: live socket frames first (`analysis_pool().live`), then API
    frames, the LTI camera check and batches in arrival order; a batch enters in chunks of
    ENGAGEMENT_BATCH_CHUNK_FRAMES, so that a live frame waits for at most one chunk, never for a whole batch.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = AnalysisPool(max_workers=_limits()["ANALYSIS_THREADS"], thread_name_prefix="analysis")
        return _pool


def _frames_results(frames: list, detector: str | None, fail_alone: bool, reserve: Callable[[int], None] | None,
                    first_index: int, age_gender: bool = True) -> list[tuple[dict, datetime | None]]:
    """Each frame's result (and capture time when analysed): decode in parallel, then one engine batch."""
    prepared: list[Any] = []
    if len(frames) == 1:
        # One frame (a live one, mostly) is decoded in this thread: it never queues behind a batch's decoding.
        futures = [Future()]
        try:
            futures[0].set_result(_prepare(frames[0], reserve))
        except EngagementError as exc:
            futures[0].set_exception(exc)
    else:
        futures = [_decoder.submit(_prepare, frame, reserve) for frame in frames]
    for future in futures:
        try:
            prepared.append(future.result())
        except EngagementError as exc:
            if not fail_alone:
                raise
            prepared.append(exc)
    good = [p for p in prepared if not isinstance(p, EngagementError)]
    analyses, engine_name = _engine_run([p[0] for p in good], detector, age_gender) if good else ([], "")
    results: list[tuple[dict, datetime | None]] = []
    analysed = iter(zip(good, analyses))
    for index, item in enumerate(prepared, start=first_index):
        if isinstance(item, EngagementError):
            results.append(({**item.as_dict(), "index": index}, None))
            continue
        (_, frame_time, decode_ms), analysis = next(analysed)
        result = result_build(analysis=analysis, frame_time=frame_time, engine_name=engine_name,
                              timings={"decode": decode_ms, **analysis.timings})
        if fail_alone:  # a batch: every result says which frame it answers, analysed or not
            result["index"] = index
        results.append((result, frame_time))
    return results


def frames_analyze(*, frames: list[Frame | Any], detector_backend: str | None = None, session_id: str | None = None,
                   user: Any = None, fail_alone: bool = True, shared_pool: bool = False,
                   age_gender: bool = True) -> list[dict]:
    """Analyse frames in order (a bad frame fails alone); log them when a session id is given.

    `shared_pool` runs the analysis on `analysis_pool()` in chunks (the API in a server process); otherwise it
    runs in the calling thread (a socket frame already on the pool, a Celery worker, the benchmarks).
    An authenticated `user`'s frames count against their ENGAGEMENT_ACCOUNT_MAX_PIXELS until they are answered.
    """
    detector = detector_validate(detector_backend=detector_backend)
    with pixels_reserved(account=account_of(user), frames=len(frames)) as reserve:
        if shared_pool:
            chunk = max(1, _limits()["BATCH_CHUNK_FRAMES"])
            analysed = []
            for start in range(0, len(frames), chunk):
                analysed += analysis_pool().submit(_frames_results, frames[start:start + chunk], detector,
                                                   fail_alone, reserve, start, age_gender).result()
        else:
            analysed = _frames_results(frames, detector, fail_alone, reserve, 0, age_gender)
    if session_id:
        EngagementLog.objects.bulk_create(
            engagement_log_build(result=result, frame_time=frame_time, session_id=session_id, user=user)
            for result, frame_time in analysed if frame_time is not None)
    return [result for result, _ in analysed]


def age_gender_enabled() -> bool:
    """Whether the configured engine infers age and gender at all (its age_gender option, a privacy switch)."""
    engine_class = import_string(engagement_settings["ENGINE"])
    default = getattr(engine_class, "default_options", {}).get("age_gender", False)
    return bool(engagement_settings.get("OPTIONS", {}).get("age_gender", default))


VERIFY_IMAGES = ("img1", "img2")


def faces_verify(*, images: dict[str, Any], detector_backend: str | None = None, account: Any = None) -> dict:
    """Whether the largest faces of images["img1"] and images["img2"] are the same person (DeepFace.verify's JSON).

    A missing face in either image is an answer ({"success": false, "error": "no_face", "image": "img2"}), not an
    error; bad input raises InvalidInput naming the image. The images count against the `account`'s (a user id's)
    ENGAGEMENT_ACCOUNT_MAX_PIXELS until the answer.
    """
    detector = detector_validate(detector_backend=detector_backend)
    with pixels_reserved(account=account) as reserve:
        started = time.perf_counter()
        decoded = {}
        for name in VERIFY_IMAGES:
            try:
                decoded[name] = image_load(image=images.get(name), reserve=reserve)
            except EngagementError as exc:
                exc.message = f"{name}: {exc.message}"
                raise
        return _verify_decoded(decoded, detector, started)


def _verify_decoded(decoded: dict[str, Any], detector: str | None, started: float) -> dict:
    timings: dict[str, float] = {"decode": (time.perf_counter() - started) * 1000}
    try:
        engine = get_engine()
        described = {name: engine.describe_face(image, detector=detector) for name, image in decoded.items()}
        threshold = engine.verification_threshold
    except VerificationUnsupported as exc:
        raise NotSupported(str(exc), code="verification_unsupported") from exc
    except EngagementError:
        raise
    except Exception as exc:  # any engine failure is the engine's, not the client's: 503, logged
        logger.exception("face verification failed")
        raise EngineUnavailable("The analysis engine failed; try again later.") from exc
    for name, description in described.items():
        for stage, ms in description.timings.items():
            timings[f"{stage}_{name}"] = ms
    result: dict[str, Any] = {"success": True}
    failed = next((name for name in VERIFY_IMAGES if described[name].error), None)
    if failed:
        error = described[failed].error
        result.update(success=False, error=error, image=failed,
                      message=f"{failed}: {MESSAGES[error]}")
    else:
        started = time.perf_counter()
        distance = engine.faces_distance(described["img1"].descriptor, described["img2"].descriptor)
        timings["compare"] = (time.perf_counter() - started) * 1000
        result.update(verified=distance < threshold, distance=round(distance, 4), threshold=threshold)
    result.update(
        model=engine.verification_model,
        faces=[{"region": d.face.as_dict() if d.face else None, "face_count": d.face_count}
               for d in described.values()],
        processing_ms=round(sum(timings.values()), 2),
        timings_ms={k: round(v, 2) for k, v in timings.items()},
    )
    return result


def api_faces_verify(*, images: dict[str, Any], detector_backend: Any = None, user: Any = None) -> dict:
    """The API's verification: on the analysis threads of this process, or on a Celery worker when configured.

    Either way an authenticated `user`'s images count against their ENGAGEMENT_ACCOUNT_MAX_PIXELS.
    """
    detector = detector_validate(detector_backend=detector_backend)
    if not offloaded():
        return analysis_pool().submit(faces_verify, images=images, detector_backend=detector,
                                      account=account_of(user)).result()
    return worker_answer("engagement.tasks.faces_verify", images=images, detector_backend=detector,
                         user_id=account_of(user))["result"]


def head_pose_limits() -> dict[str, float] | None:
    """The configured engine's looking-away thresholds {"yaw", "pitch"} in degrees, or None if it has none."""
    options = engagement_settings.get("OPTIONS", {})
    engine_class = import_string(engagement_settings["ENGINE"])
    defaults = getattr(engine_class, "default_options", {})
    if "looking_away_yaw" not in defaults:
        return None
    return {axis: float(options.get(f"looking_away_{axis}", defaults[f"looking_away_{axis}"]))
            for axis in ("yaw", "pitch")}


def engagement_log_build(*, result: dict, frame_time: datetime, session_id: str, user: Any = None,
                         frame_id: Any = None, source: str = "api",
                         client_time: datetime | None = None) -> EngagementLog:
    """An unsaved EngagementLog row for an analysed frame's result (never the image)."""
    return EngagementLog(
        frame_id=frame_id,
        source=source,
        client_time=client_time,
        user=user if getattr(user, "is_authenticated", False) else None,
        session_key=session_id,
        frame_time=frame_time,
        success=result["success"],
        error=result.get("error", ""),
        dominant_emotion=result.get("dominant_emotion", ""),
        emotions=result.get("emotions"),
        engagement_score=result.get("engagement_score"),
        engagement_status=result.get("engagement_status", ""),
        face_count=result["face_count"],
        head_yaw=(result.get("head_pose") or {}).get("yaw"),
        head_pitch=(result.get("head_pose") or {}).get("pitch"),
        looking_away=result.get("looking_away"),
        age=result.get("age"),
        gender=result.get("gender") or "",
        engine=result["engine"],
        processing_ms=result["processing_ms"],
    )


def batch_summarize(*, results: list[dict]) -> dict:
    """The batch summary: counts, average score and its status, dominant emotion, shares."""
    analysed = [r for r in results if r.get("success")]
    summary: dict[str, Any] = {
        "total_frames": len(results),
        "analyzed_frames": len(analysed),
        "failed_frames": len(results) - len(analysed),
        "average_engagement_score": None,
        "engagement_status": None,
        "dominant_emotion": None,
        "status_counts": dict(Counter(r["engagement_status"] for r in analysed)),
        "emotion_averages": {},
    }
    if analysed:
        averages = {e: sum(r["emotions"][e] for r in analysed) / len(analysed) for e in EMOTIONS}
        score = round(sum(r["engagement_score"] for r in analysed) / len(analysed), 2)
        dominant = scoring.dominant_emotion(averages)
        summary.update(
            average_engagement_score=score,
            engagement_status=scoring.engagement_status(score, dominant).value,
            dominant_emotion=dominant,
            emotion_averages={e: round(v, 2) for e, v in averages.items()},
        )
    return summary
