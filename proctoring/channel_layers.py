"""The Redis channel layer, with receives that wait out a Redis restart instead of killing the socket."""
from __future__ import annotations

import asyncio
import logging

from channels_redis.core import RedisChannelLayer
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0


class RetryingRedisChannelLayer(RedisChannelLayer):
    """channels_redis's layer whose receive() retries (backoff up to 5 s) while Redis is unreachable.

    A consumer's receive loop that raises ends the consumer, and its socket closes with 1011: every learner
    would lose their socket to a Redis restart. channels_redis releases its receive lock and buffer before it
    raises, so a new receive starts clean; Redis keeps the groups (appendonly) across the restart.
    """

    async def receive(self, channel):
        """The next message of `channel`, however long Redis is away."""
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                return await super().receive(channel)
            except (RedisError, OSError) as exc:
                logger.warning("channel layer receive failed (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX_SECONDS, delay * 2)
