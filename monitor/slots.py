"""Socket places per exam session that a dead server cannot keep: one entry per socket, renewed by its server.

Each open socket is one member of its session's set, stamped with the time its server last renewed it; a place
counts while that stamp is younger than MONITOR_SOCKET_TTL seconds. Every server process renews its own sockets
every third of that, so a server that is killed (and never closes its sockets) stops holding places within the
TTL, whatever the learner's new sockets do. Scaled: a Redis sorted set per session, changed by one script
(atomic across processes); embedded: the same in this process's memory.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref

from django.conf import settings
from redis.exceptions import RedisError

from .conf import monitor_settings

logger = logging.getLogger(__name__)

# KEYS[1]: the session's set; ARGV: now, ttl, max places, socket id. Drops stale members, then adds this one
# if a place is free (or renews it if it holds one); answers 1 when it holds a place.
TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if not redis.call('ZSCORE', KEYS[1], ARGV[4]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
return 1
"""
POOL_CONNECTIONS, POOL_WAIT_SECONDS = 100, 20  # a process's Redis connections; seconds a call waits for one
_held: dict[str, str] = {}  # this process's sockets: socket id -> session id
_local: dict[str, dict[str, float]] = {}  # embedded: session id -> {socket id: last renewal}
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> Redis client
_beats: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> heartbeat task


def _ttl() -> float:
    return float(monitor_settings["SOCKET_TTL"])


def _key(session_id: str) -> str:
    return f"monitor.sockets.{session_id}"


def _redis():
    """This event loop's Redis client (asyncio clients belong to one loop), or None when embedded."""
    if not getattr(settings, "REDIS_URL", ""):
        return None
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        import redis.asyncio as aioredis
        from redis.backoff import ExponentialBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
        from redis.retry import Retry

        # Health checks and retries: a connection that a Redis restart broke is replaced, not handed out. When all
        # the connections are in use (many learners opening their exam at once) a call waits for one: redis-py's
        # plain pool failed it at once ("Too many connections"), and the learner's socket was refused.
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL, max_connections=POOL_CONNECTIONS, timeout=POOL_WAIT_SECONDS,
            health_check_interval=5, socket_timeout=5, socket_connect_timeout=5,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.1), 3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError])
        client = _clients[loop] = aioredis.Redis(connection_pool=pool)
    return client


async def slot_take(*, session_id: str, socket_id: str) -> bool:
    """Take a place for this socket, if the session has fewer than MONITOR_MAX_SOCKETS_PER_SESSION live ones."""
    limit, ttl, now = monitor_settings["MAX_SOCKETS_PER_SESSION"], _ttl(), time.time()
    client = _redis()
    if client is not None:
        taken = bool(await client.eval(TAKE, 1, _key(session_id), now, ttl, limit, socket_id))
    else:
        members = _local.setdefault(session_id, {})
        for member, stamp in list(members.items()):
            if stamp <= now - ttl:
                del members[member]
        taken = socket_id in members or len(members) < limit
        if taken:
            members[socket_id] = now
    if taken:
        _held[socket_id] = session_id
        _heartbeat_ensure()
    return taken


async def slot_release(*, session_id: str, socket_id: str) -> int:
    """Give this socket's place back; answers how many live places the session still holds."""
    _held.pop(socket_id, None)
    client = _redis()
    if client is None:
        members = _local.get(session_id, {})
        members.pop(socket_id, None)
        if not members:
            _local.pop(session_id, None)
        return await slots_count(session_id=session_id)
    await client.zrem(_key(session_id), socket_id)
    return await slots_count(session_id=session_id)


async def slots_count(*, session_id: str) -> int:
    """The session's sockets renewed within MONITOR_SOCKET_TTL seconds (on any server)."""
    since = time.time() - _ttl()
    client = _redis()
    if client is None:
        return sum(1 for stamp in _local.get(session_id, {}).values() if stamp > since)
    return int(await client.zcount(_key(session_id), f"({since}", "+inf"))


async def _renew() -> None:
    now, ttl = time.time(), _ttl()
    held = list(_held.items())
    client = _redis()
    if client is None:
        for socket_id, session_id in held:
            members = _local.get(session_id)
            if members is not None and socket_id in members:
                members[socket_id] = now
        return
    async with client.pipeline(transaction=False) as pipe:
        for socket_id, session_id in held:
            pipe.zadd(_key(session_id), {socket_id: now}, xx=True)
            pipe.expire(_key(session_id), math.ceil(ttl) + 1)
        await pipe.execute()


async def _heartbeat_forever() -> None:
    while _held:
        await asyncio.sleep(max(0.2, _ttl() / 3))
        try:
            await _renew()
        except (RedisError, OSError) as exc:  # Redis restarting: the next round renews them (within the TTL)
            logger.warning("could not renew this server's socket places: %s", exc)
        except Exception:  # anything else is a defect: its traceback is logged, and the next round tries again
            logger.exception("could not renew this server's socket places")


def _heartbeat_ensure() -> None:
    """Renew this process's sockets every third of MONITOR_SOCKET_TTL (one task per event loop)."""
    loop = asyncio.get_running_loop()
    task = _beats.get(loop)
    if task is None or task.done():
        _beats[loop] = loop.create_task(_heartbeat_forever())
