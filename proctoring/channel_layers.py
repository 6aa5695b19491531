"""The channel layers: Redis's, with receives that wait out a Redis restart instead of killing the socket, calls
that wait for a free connection instead of failing when many run at once, and sends in one round trip; the
in-process one, cleaning up less often."""
from __future__ import annotations

import asyncio
import logging
import time

import channels.layers
from channels.exceptions import ChannelFull

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
# A process's Redis connections (redis-py's default), and how long a call waits for one of them to be free.
POOL_CONNECTIONS = 100
POOL_WAIT_SECONDS = 20


class RetryingRedisChannelLayer(RedisChannelLayer):
    """channels_redis's layer whose receive() retries (backoff up to 5 s) while Redis is unreachable.

    A consumer's receive loop that raises ends the consumer, and its socket closes with 1011: every learner
    would lose their socket to a Redis restart. channels_redis releases its receive lock and buffer before it
    raises, so a new receive starts clean; Redis keeps the groups (appendonly) across the restart.
    """

    def create_pool(self, index):
        """A pool whose calls wait for a free connection when all are in use.

        channels_redis makes redis-py's plain pool, which fails a call at once when its 100 connections are taken:
        150 learners opening their exam together on one server had sockets refused ("Too many connections").
        """
        host = dict(self.hosts[index])
        if "address" not in host:  # Sentinel hosts: channels_redis's own pool
            return super().create_pool(index)
        host.setdefault("max_connections", POOL_CONNECTIONS)
        host.setdefault("timeout", POOL_WAIT_SECONDS)
        return BlockingConnectionPool.from_url(host.pop("address"), **host)

    # channels_redis's send as one script: the same four commands (drop expired messages, check capacity, add,
    # expire), atomic, in one round trip instead of four (every frame's answer from a worker is one send).
    _SEND = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

    async def send(self, channel, message):
        """Send a message onto a (general or specific) channel; ChannelFull when it holds its capacity."""
        assert isinstance(message, dict), "message is not a dict"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        assert "__asgi_channel__" not in message
        if "!" in channel:  # a process-local channel: its full name travels in the message, as channels_redis does
            message = {**message, "__asgi_channel__": channel}
            key, index = self.prefix + self.non_local_name(channel), self.consistent_hash(channel)
        else:
            key, index = self.prefix + channel, next(self._send_index_generator)
        now = time.time()
        added = await self.connection(index).eval(self._SEND, 1, key, int(now) - int(self.expiry),
                                                  self.get_capacity(channel), now, self.serialize(message),
                                                  int(self.expiry))
        if not added:
            raise ChannelFull()

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


class InMemoryChannelLayer(channels.layers.InMemoryChannelLayer):
    """Channels' in-process layer (the embedded set-up) whose clean-up of expired messages and memberships runs at
    most once a second.

    Channels runs that clean-up on every group_send and receive, and it walks every group: with 500 learners
    (a group each) it cost about 0.18 ms on each frame's send to the live view, growing with every learner.
    Messages expire after a minute and memberships after a day, so a clean-up a second later changes nothing.
    """

    CLEAN_EVERY_SECONDS = 1.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._cleaned_at = float("-inf")

    def _clean_expired(self):
        now = time.monotonic()
        if now - self._cleaned_at >= self.CLEAN_EVERY_SECONDS:
            self._cleaned_at = now
            super()._clean_expired()
