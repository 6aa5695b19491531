"""Limits of the API: DRF throttles whose rates come from settings, the per-user cap on batches in analysis, and
the per-account budget of decoded pixels."""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle

from .exceptions import InvalidInput, TooManyRequests
from .conf import engagement_settings

RETRY_AFTER_SECONDS = 2  # a batch of 100 frames takes about this long here


# On Redis, a counter is one script, atomic and one round trip: Django's add, then incr (EXISTS + INCRBY), then
# touch took two to four. A live frame's rate limit and pixel budget counted in eight round trips, now three.
_REDIS_ADD = """
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if total == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total
"""
_REDIS_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECRBY', KEYS[1], ARGV[1]) end
return false
"""


def _redis_client(key: str) -> tuple[Any, str] | None:
    """The Redis client that holds `key` in Django's cache and the key as stored there; None for other caches."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if not isinstance(backend, RedisCache):
        return None
    stored = backend.make_and_validate_key(key)
    return backend._cache.get_client(stored, write=True), stored


def cache_count_add(key: str, delta: int = 1, *, timeout: float) -> int | None:
    """Add `delta` to a counter in Django's cache, made with `timeout` when absent, and answer the new count (None
    when the cache keeps nothing). Atomic where the cache is: LocMemCache (a lock) and Redis (one script)."""
    redis = _redis_client(key)
    if redis is not None:
        client, stored = redis
        return int(client.eval(_REDIS_ADD, 1, stored, delta, max(1, int(timeout * 1000))))
    for _ in range(3):
        if cache.add(key, delta, timeout=timeout):
            return delta
        try:
            total = cache.incr(key, delta)
        except ValueError:  # expired or evicted between add and incr: add again
            continue
        if total == delta:
            # A cache whose incr checks that the key exists, then increments, makes a key that expired in between
            # again without an expiry: it would count for ever (a session rate-limited for good).
            cache.touch(key, timeout)
        return total
    return None


def cache_count_take(key: str, delta: int = 1) -> None:
    """Take `delta` back from a counter of cache_count_add; a counter that expired meanwhile stays gone."""
    redis = _redis_client(key)
    if redis is not None:
        client, stored = redis
        client.eval(_REDIS_TAKE, 1, stored, delta)
        return
    try:
        total = cache.decr(key, delta)
    except ValueError:
        return  # expired: its count is gone with it
    if total == -delta:  # it expired between the cache's check and its decrement, which made it again
        cache.delete(key)


class _RatesFromSettings:
    """Read the rate of `self.scope` from settings.API_THROTTLE_RATES at each request, not once at import."""

    def get_rate(self):
        return getattr(settings, "API_THROTTLE_RATES", {}).get(self.scope)


class UserThrottle(_RatesFromSettings, UserRateThrottle):
    """All API requests of one user (or one address when anonymous): the "user" rate."""


class ScopeThrottle(_RatesFromSettings, ScopedRateThrottle):
    """Requests of one user to the views of one `throttle_scope` ("analyze", "batch")."""


@contextmanager
def batch_slot(*, user: Any) -> Iterator[None]:
    """Hold one of the user's ENGAGEMENT_MAX_CONCURRENT_BATCHES_PER_USER places while a batch is analysed, or 429.

    Counted in Django's cache, so that the cap holds across server processes when the cache is Redis.
    """
    limit = engagement_settings["MAX_CONCURRENT_BATCHES_PER_USER"]
    key = f"engagement.batches.{user.pk}"
    # The count outlives no batch by much: one left by a killed process expires instead of locking the user out.
    timeout = engagement_settings["WORKER_TIMEOUT"] + 60
    count = cache_count_add(key, timeout=timeout) or 1
    try:
        if count > limit:
            raise TooManyRequests(f"You already have {limit} batch(es) in analysis: wait for the answer, then "
                                  "send the next one.", code="too_many_batches", retry_after=RETRY_AFTER_SECONDS)
        yield
    finally:
        cache_count_take(key)


class _UserScopeThrottle(_RatesFromSettings, UserRateThrottle):
    """One user's requests to a view of `scope`, for views outside DRF."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__()


def throttle_check(*, request: Any, scope: str) -> None:
    """Refuse (429) a request of a view outside DRF over the rate of `scope` in API_THROTTLE_RATES (per user)."""
    throttle = _UserScopeThrottle(scope)
    if not throttle.allow_request(request, None):
        raise TooManyRequests("Too many requests: wait a moment, then try again.", code="throttled",
                              retry_after=max(1, math.ceil(throttle.wait() or 1)))


def _pixel_window() -> int:
    # Longer than any request holds pixels (a worker's answer is awaited WORKER_TIMEOUT at most): a reservation
    # is counted in the window it was made in and the next one, and a count left by a killed process stops
    # counting two windows later at the latest.
    return engagement_settings["WORKER_TIMEOUT"] + 60


def _pixel_keys(account: Any, now: float) -> tuple[str, str]:
    window = int(now // _pixel_window())
    return f"engagement.pixels.{account}.{window}", f"engagement.pixels.{account}.{window - 1}"


def pixels_held(*, account: Any) -> int:
    """The decoded pixels an account's requests hold in analysis now, in every process that shares the cache."""
    return sum(cache.get_many(_pixel_keys(account, time.time())).values())


class PixelHold:
    """The decoded pixels one request of an account holds in analysis, counted with all its other requests.

    Past ENGAGEMENT_ACCOUNT_MAX_PIXELS a frame is refused (429 pixel_budget) before it is decoded; release() gives
    back what this request took. Counted in Django's cache (Redis when scaled, so servers and Celery workers share
    one count) with atomic add and incr, in expiring windows: a count that a killed process never gave back stops
    counting by itself, and a late release never takes pixels off a newer count.
    """

    def __init__(self, *, account: Any) -> None:
        self.account = account
        self.held: dict[str, int] = {}  # window key -> pixels this request reserved in it
        self._lock = threading.Lock()

    def reserve(self, pixels: int) -> None:
        """Count `pixels` against the account's budget, or refuse the frame."""
        limit = engagement_settings.get("ACCOUNT_MAX_PIXELS")
        if not limit:
            return
        current, previous = _pixel_keys(self.account, time.time())
        timeout = 2 * _pixel_window()
        total = cache_count_add(current, pixels, timeout=timeout)
        if total is None:  # a cache that keeps nothing: nothing to count against
            return
        total += cache.get(previous) or 0
        if total > limit:
            self._give_back(current, pixels)
            raise TooManyRequests(f"Your requests in analysis hold {total - pixels} decoded pixels; this frame would "
                                  f"take them over {limit} (ENGAGEMENT_ACCOUNT_MAX_PIXELS): wait for their answers, "
                                  "or send smaller frames.", code="pixel_budget", retry_after=RETRY_AFTER_SECONDS)
        with self._lock:
            self.held[current] = self.held.get(current, 0) + pixels

    def release(self) -> None:
        """Give back every pixel this request reserved."""
        with self._lock:
            held, self.held = self.held, {}
        for key, pixels in held.items():
            self._give_back(key, pixels)

    @staticmethod
    def _give_back(key: str, pixels: int) -> None:
        cache_count_take(key, pixels)  # a window that expired meanwhile: its count is gone with it


class BatchPixels:
    """The pixels one batch may hold decoded at once: frames past it fail alone instead of exhausting memory."""

    def __init__(self, pixels: int) -> None:
        self.left = pixels
        self._lock = threading.Lock()

    def reserve(self, pixels: int) -> None:
        """Take `pixels` from the batch's budget, or refuse the frame."""
        with self._lock:
            if pixels > self.left:
                raise InvalidInput("This frame would take the batch over its decoded-pixel budget "
                                   "(ENGAGEMENT_BATCH_MAX_PIXELS); send smaller frames or fewer.",
                                   code="batch_too_large")
            self.left -= pixels


@contextmanager
def pixels_reserved(*, account: Any, frames: int = 1) -> Iterator[Callable[[int], None]]:
    """The one decoded-pixel check of a request, wherever it is decoded: a `reserve(pixels)` that decoding calls
    with each image's header size before decoding it.

    It counts against the account's ENGAGEMENT_ACCOUNT_MAX_PIXELS (None: an anonymous caller, not counted) and,
    for a batch (`frames` > 1), against ENGAGEMENT_BATCH_MAX_PIXELS; the account's pixels are given back when
    the block ends, answered or failed.
    """
    batch = BatchPixels(engagement_settings["BATCH_MAX_PIXELS"]) if frames > 1 else None
    hold = PixelHold(account=account) if account is not None else None

    def reserve(pixels: int) -> None:
        if batch is not None:
            batch.reserve(pixels)
        if hold is not None:
            hold.reserve(pixels)

    try:
        yield reserve
    finally:
        if hold is not None:
            hold.release()
