"""Celery tasks of monitor (scaled set-up only): they call services and answer through the channel layer."""
import asyncio
import concurrent.futures
import logging
import os
import threading
import time

from asgiref.sync import async_to_sync
from celery import shared_task
from celery.signals import worker_process_init
from channels.layers import InMemoryChannelLayer, get_channel_layer
from redis.exceptions import RedisError

from engagement.api import EngagementError

from . import services, webhooks
from .models import DeliveryStatus

logger = logging.getLogger(__name__)
# A reply that meets a Redis restart is sent again (after 0.2, 0.4, 0.8, 1.6 s): the frame is stored by then, and
# the socket, told nothing, would wait out its whole deadline before it told the learner the frame failed.
REPLY_TRIES = 5
REPLY_FIRST_DELAY = 0.2


# Seconds one send may take before it counts as failed (a Redis that hangs; a send takes about a millisecond): all
# tries together stay within the socket's wait for an answer (MONITOR_MAX_FRAME_WAIT + 5 s).
REPLY_TIMEOUT = 1.0
_loop: tuple[int, asyncio.AbstractEventLoop, threading.Thread] | None = None
_loop_lock = threading.Lock()


def _layer_loop() -> asyncio.AbstractEventLoop:
    """This worker process's event loop for channel-layer sends, running in a thread of its own.

    channels_redis keeps its Redis connections per event loop, and async_to_sync runs each call in a new loop: a
    reply then opened and closed a Redis connection (3.8 ms of CPU against 0.7 ms on one kept loop). A forked
    process starts its own loop.
    """
    global _loop
    with _loop_lock:
        if _loop is None or _loop[0] != os.getpid() or not _loop[2].is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="channel-layer", daemon=True)
            thread.start()
            _loop = (os.getpid(), loop, thread)
        return _loop[1]


def _layer_send(channel: str, message: dict) -> None:
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):  # tasks run in-process (tests): that layer lives in the caller's loop
        async_to_sync(layer.send)(channel, message)
        return
    future = asyncio.run_coroutine_threadsafe(layer.send(channel, message), _layer_loop())
    try:
        future.result(timeout=REPLY_TIMEOUT)
    except concurrent.futures.TimeoutError as exc:  # the built-in TimeoutError: the wait, or the send's own
        future.cancel()
        raise OSError(f"the channel layer did not take the reply within {REPLY_TIMEOUT:g} s") from exc


def reply_send(channel: str, message: dict) -> None:
    """Send a frame's outcome to the socket's channel, retrying while Redis is briefly unreachable."""
    delay = REPLY_FIRST_DELAY
    for attempt in range(1, REPLY_TRIES + 1):
        try:
            _layer_send(channel, message)
            return
        except (RedisError, OSError) as exc:
            if attempt == REPLY_TRIES:
                raise
            logger.warning("reply to %s failed (%s); trying again in %.1f s", channel, exc, delay)
            time.sleep(delay)
            delay *= 2


@worker_process_init.connect
def _load_models(**kwargs):
    """Load the analysis models once per worker process, before its first frame."""
    from engagement.api import warm_up

    warm_up()


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def frame_process(self, *, session_id: str, user_id: int, frame_id: str, image: str, timestamp, reply_channel: str,
                  received_at: float | None = None, server_time: str | None = None):
    """Analyse and record a socket frame, then send the outcome to the learner's consumer."""
    if (self.request.delivery_info or {}).get("redelivered"):
        received_at = None  # a frame whose worker died is analysed however late: it was never answered
    try:
        message = {"type": "frame.outcome", "frame_id": frame_id,
                   "outcome": services.session_frame_process(session_id=session_id, user_id=user_id,
                                                             frame_id=frame_id, image=image, timestamp=timestamp,
                                                             received_at=received_at, server_time=server_time)}
    except EngagementError as exc:
        message = {"type": "frame.outcome", "frame_id": frame_id, "error": {**exc.as_dict(), "status": exc.status_code,
                                                                           "session_gone": isinstance(
                                                                               exc, services.SessionError)}}
    except Exception:  # any other failure is answered too: the socket must never wait for a reply that never comes
        logger.exception("frame %s of session %s failed", frame_id, session_id)
        message = {"type": "frame.outcome", "frame_id": frame_id,
                   "error": {"error": "server_error", "message": "The frame could not be processed.", "status": 500}}
    reply_send(reply_channel, message)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def webhook_deliver(delivery_id: int):
    """Attempt one webhook delivery; a failed attempt schedules the next one with backoff."""
    delivery = webhooks.delivery_attempt_by_id(delivery_id=delivery_id)
    if delivery is not None and delivery.status == DeliveryStatus.PENDING:
        webhook_deliver.apply_async(args=[delivery_id], eta=delivery.next_attempt_at)
