"""The Redis channel layer as configured survives an idle receive (issue 4)."""

import asyncio

import pytest
from channels.layers import get_channel_layer


@pytest.mark.redis
@pytest.mark.asyncio
async def test_idle_layer_receive_outlasts_the_blocking_pop():
    # channels_redis blocks 5 s per pop; with redis-py 8's default 5 s socket timeout an
    # idle receive raised TimeoutError, which kills a consumer's receive loop.
    layer = get_channel_layer()
    channel = await layer.new_channel()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 7)
