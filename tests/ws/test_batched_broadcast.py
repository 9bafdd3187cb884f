"""The relay takes a stream's events batched in one layer message (apps.core.events)."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from apps.core.events import (
    PendingEvent,
    events_append,
    is_classic_redis_layer,
    redis_receive_batch,
)

from .conftest import connect, receive, send, stock_receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _stock(seq: int, on_hand: int) -> dict:
    return {"type": "stock", "seq": seq, "location": "SA1", "sku": "TEE-BLK-M", "on_hand": on_hand}


@database_sync_to_async
def _append_in_one_commit(on_hands: list[int]) -> None:
    with transaction.atomic():
        events_append(
            PendingEvent(
                stream="location.SA1",
                type="stock",
                payload={"location": "SA1", "sku": "TEE-BLK-M", "on_hand": on_hand},
            )
            for on_hand in on_hands
        )


@pytest.mark.redis
async def test_with_redis_batched_and_burst_broadcasts_reach_a_client_complete_in_order(
    device_a, store_a, variant, settings
):
    settings.OMO_WS_RELAY_INTERVAL = 60  # the table tail stays silent during this test
    communicator = await connect(device_a[1])
    await send(communicator, {"type": "resume", "after": 0})
    await send(communicator, {"type": "ping"})
    assert await receive(communicator) == {"type": "pong"}
    # One commit of three events: one "stream.events" layer message.
    await _append_in_one_commit([7, 8, 9])
    assert [await receive(communicator, timeout=1) for _ in range(3)] == [
        _stock(1, 7),
        _stock(2, 8),
        _stock(3, 9),
    ]
    # A burst of separate commits: whatever the broadcaster batches, all arrive in order.
    for _ in range(20):
        await stock_receive(store_a.pk, variant.pk, 1)
    received = [await receive(communicator, timeout=2) for _ in range(20)]
    assert [(m["seq"], m["on_hand"]) for m in received] == [(4 + n, 1 + n) for n in range(20)]
    await communicator.disconnect()


@pytest.mark.redis
async def test_with_redis_the_relay_takes_every_waiting_layer_message_in_one_receive():
    layer = get_channel_layer()
    assert is_classic_redis_layer(layer)
    channel = await layer.new_channel("relay.")
    other = await layer.new_channel("relay.")  # same Redis key, another receiver
    await layer.group_add("stream.receive-test", channel)
    try:
        for n in range(3):
            await layer.group_send("stream.receive-test", {"type": "stream.event", "n": n})
        await layer.send(other, {"type": "stream.event", "n": "not mine"})
        assert await redis_receive_batch(layer, channel) == [
            {"type": "stream.event", "n": 0},
            {"type": "stream.event", "n": 1},
            {"type": "stream.event", "n": 2},
        ]
        # Nothing waiting: it blocks until the next message arrives.
        waiting = asyncio.ensure_future(redis_receive_batch(layer, channel))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await layer.group_send("stream.receive-test", {"type": "stream.event", "n": 3})
        assert await asyncio.wait_for(waiting, 5) == [{"type": "stream.event", "n": 3}]
    finally:
        await layer.group_discard("stream.receive-test", channel)
