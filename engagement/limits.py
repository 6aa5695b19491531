"""Limits of the API: DRF throttles whose rates come from settings, and the per-user cap on batches in analysis."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle

from .exceptions import TooManyRequests

RETRY_AFTER_SECONDS = 2  # a batch of 100 frames takes about this long here


class _RatesFromSettings:
    """Read the rate of `self.scope` from settings.API_THROTTLE_RATES at each request, not once at import."""

    def get_rate(self):
        return settings.API_THROTTLE_RATES.get(self.scope)


class UserThrottle(_RatesFromSettings, UserRateThrottle):
    """All API requests of one user (or one address when anonymous): the "user" rate."""


class ScopeThrottle(_RatesFromSettings, ScopedRateThrottle):
    """Requests of one user to the views of one `throttle_scope` ("analyze", "batch")."""


@contextmanager
def batch_slot(*, user: Any) -> Iterator[None]:
    """Hold one of the user's ENGAGEMENT_MAX_CONCURRENT_BATCHES_PER_USER places while a batch is analysed, or 429.

    Counted in Django's cache, so that the cap holds across server processes when the cache is Redis.
    """
    limit = settings.ENGAGEMENT["MAX_CONCURRENT_BATCHES_PER_USER"]
    key = f"engagement.batches.{user.pk}"
    # The count outlives no batch by much: one left by a killed process expires instead of locking the user out.
    timeout = settings.ENGAGEMENT["WORKER_TIMEOUT"] + 60
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
