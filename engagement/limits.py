"""Limits of the API: DRF throttles whose rates come from settings, the per-user cap on batches in analysis, and
the per-account budget of decoded pixels."""
from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle

from .exceptions import TooManyRequests
from .conf import engagement_settings

RETRY_AFTER_SECONDS = 2  # a batch of 100 frames takes about this long here


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
    cache.add(key, 0, timeout=timeout)
    try:
        count = cache.incr(key)
    except ValueError:  # expired or evicted between add and incr
        cache.set(key, 1, timeout=timeout)
        count = 1
    try:
        if count > limit:
            raise TooManyRequests(f"You already have {limit} batch(es) in analysis: wait for the answer, then "
                                  "send the next one.", code="too_many_batches", retry_after=RETRY_AFTER_SECONDS)
        yield
    finally:
        try:
            cache.decr(key)
        except ValueError:
            pass  # the count expired meanwhile


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


class PixelHold:
    """The decoded pixels one account holds in analysis, counted with all its other requests in Django's cache.

    Past ENGAGEMENT_ACCOUNT_MAX_PIXELS a frame is refused (429) before it is decoded; release() gives back what
    this request took. Counted with the cache's atomic incr, so that the cap holds across processes with Redis.
    """

    def __init__(self, *, account: Any) -> None:
        self.key = f"engagement.pixels.{account}"
        self.held = 0
        self._lock = threading.Lock()

    def reserve(self, pixels: int) -> None:
        """Count `pixels` against the account's budget, or refuse the frame."""
        limit = engagement_settings.get("ACCOUNT_MAX_PIXELS")
        if not limit:
            return
        # A count left by a killed process expires instead of starving the account for good.
        timeout = engagement_settings["WORKER_TIMEOUT"] + 60
        cache.add(self.key, 0, timeout=timeout)
        try:
            total = cache.incr(self.key, pixels)
        except ValueError:  # expired or evicted between add and incr
            cache.set(self.key, pixels, timeout=timeout)
            total = pixels
        if total > limit:
            self._give_back(pixels)
            raise TooManyRequests(f"Your requests in analysis hold {total - pixels} decoded pixels; this frame would "
                                  f"take them over {limit} (ENGAGEMENT_ACCOUNT_MAX_PIXELS): wait for their answers, "
                                  "or send smaller frames.", code="pixel_budget", retry_after=RETRY_AFTER_SECONDS)
        with self._lock:
            self.held += pixels

    def release(self) -> None:
        """Give back every pixel this request reserved."""
        with self._lock:
            held, self.held = self.held, 0
        if held:
            self._give_back(held)

    def _give_back(self, pixels: int) -> None:
        try:
            cache.decr(self.key, pixels)
        except ValueError:
            pass  # the count expired meanwhile
