"""The embedded set-up's in-process channel layer: its clean-up of expired messages runs at most once a second."""
import asyncio
import time

import channels.layers
import pytest
from channels.layers import get_channel_layer

from proctoring.channel_layers import InMemoryChannelLayer, RetryingRedisChannelLayer


def test_the_embedded_set_up_uses_the_layer_that_cleans_up_less_often(settings):
    # The scaled set-up (REDIS_URL) shares Redis's layer between processes; the embedded one keeps this one.
    expected = RetryingRedisChannelLayer if settings.REDIS_URL else InMemoryChannelLayer
    assert isinstance(get_channel_layer(), expected)


@pytest.mark.parametrize("seconds", [0.0, 1.0])
def test_expired_messages_and_memberships_go_at_most_once_a_second(monkeypatch, seconds):
    layer = InMemoryChannelLayer(expiry=60, group_expiry=3600)
    walks = []
    base = channels.layers.InMemoryChannelLayer
    real = base._clean_expired
    monkeypatch.setattr(base, "_clean_expired", lambda self: walks.append(1) or real(self))
    monkeypatch.setattr(InMemoryChannelLayer, "CLEAN_EVERY_SECONDS", seconds)

    async def run():
        for i in range(50):
            await layer.group_add(f"session.{i}", f"specific.x!{i:012d}")
        await layer.send("specific.old!aaaaaaaaaaaa", {"type": "old"})
        for _ in range(100):
            await layer.group_send("instructors", {"type": "session.update"})
        return len(walks)

    walked = asyncio.run(run())
    # Once a second: one walk for the 100 group sends (the first); with no interval, Channels' own behaviour,
    # one each.
    assert walked == (1 if seconds else 100)
    # An expired message still goes, at the next clean-up after the interval (here: at once).
    monkeypatch.setattr(InMemoryChannelLayer, "CLEAN_EVERY_SECONDS", 0.0)
    layer.channels["specific.old!aaaaaaaaaaaa"]._queue[0] = (time.time() - 1, {"type": "old"})
    asyncio.run(layer.group_send("instructors", {"type": "session.update"}))
    assert "specific.old!aaaaaaaaaaaa" not in layer.channels


@pytest.mark.scaled_only
def test_a_send_on_redis_is_one_round_trip_and_keeps_channels_redis_rules(settings):
    """A worker's answer to a frame is one send: the four commands of channels_redis's run as one script, which
    keeps its rules (capacity, expiry of old messages and of the key) and its messages, local channels included."""
    import uuid

    from channels.exceptions import ChannelFull

    layer = RetryingRedisChannelLayer(hosts=[settings.REDIS_URL], capacity=3, expiry=60,
                                      prefix=f"test-{uuid.uuid4().hex[:8]}:")

    async def run():
        connection = layer.connection(0)
        commands = []
        execute = connection.execute_command

        async def counted(*args, **kwargs):
            commands.append(args[0])
            return await execute(*args, **kwargs)

        connection.execute_command = counted
        local = await layer.new_channel()  # "specific.<process>!<id>", as a consumer's channel
        await layer.send(local, {"type": "frame.outcome", "n": 1})
        assert commands == ["EVAL"]
        del connection.execute_command
        assert await layer.receive(local) == {"type": "frame.outcome", "n": 1}

        key = layer.prefix + "general"
        for n in range(3):
            await layer.send("general", {"type": "t", "n": n})
        with pytest.raises(ChannelFull):
            await layer.send("general", {"type": "t", "n": 3})
        assert 0 < await connection.ttl(key) <= 60
        # Messages past the expiry are dropped before the capacity is checked, as channels_redis does.
        await connection.zadd(key, {b"old": 1.0})
        await connection.zremrangebyscore(key, 2, "+inf")
        await layer.send("general", {"type": "t", "n": 4})
        assert await connection.zcard(key) == 1
        assert await layer.receive("general") == {"type": "t", "n": 4}
        await layer.flush()

    asyncio.run(run())
