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
