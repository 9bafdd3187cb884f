"""/ws/pos/: auth, resume, watch, ping, bad frames, slow clients (shared/pos-api.md)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.utils import timezone

from apps.accounts.models import ApiClient
from apps.core import presence
from apps.core.consumers import PosConsumer
from apps.core.models import Event
from apps.stores.models import Location
from tests.factories import LocationFactory, pos_device

from .conftest import (
    connect,
    pickup_append,
    receive,
    receive_close_code,
    send,
    signal_append,
    stock_receive,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def stock(seq: int, on_hand: int, location: str = "SA1", sku: str = "TEE-BLK-M") -> dict:
    return {
        "type": "stock",
        "seq": seq,
        "location": location,
        "sku": sku,
        "on_hand": on_hand,
        "reserved": 0,
        "available": on_hand,
    }


async def test_subprotocol_token_is_echoed_and_ping_pongs(device_a):
    communicator = await connect(device_a[1])
    assert communicator.accepted_subprotocol == f"token.{device_a[1]}"
    await send(communicator, {"type": "ping"})
    assert await receive(communicator) == {"type": "pong"}
    await communicator.disconnect()


async def test_query_token_is_accepted(device_a):
    communicator = await connect(device_a[1], via="query")
    assert communicator.accepted_subprotocol is None
    await send(communicator, {"type": "ping"})
    assert await receive(communicator) == {"type": "pong"}
    await communicator.disconnect()


@pytest.mark.parametrize("via", ["subprotocol", "query"])
async def test_unknown_token_is_closed_with_4401(db, via):
    communicator = await connect("abcdefgh.not-a-key", via=via)
    message = await receive(communicator)
    assert message["type"] == "error" and message["code"] == "unauthorized"
    assert await receive_close_code(communicator) == 4401


async def test_missing_token_is_closed_with_4401(db):
    from omo_site.asgi import application
    from tests.asgi import WebsocketCommunicator

    communicator = WebsocketCommunicator(application, "/ws/pos/")
    connected, _ = await communicator.connect()
    assert connected
    assert (await receive(communicator))["code"] == "unauthorized"
    assert await receive_close_code(communicator) == 4401


async def test_revoked_token_is_closed_with_4401(device_a):
    client, key = device_a
    await database_sync_to_async(ApiClient.objects.filter(pk=client.pk).update)(
        revoked_at=timezone.now()
    )
    communicator = await connect(key)
    assert (await receive(communicator))["code"] == "unauthorized"
    assert await receive_close_code(communicator) == 4401


async def test_a_key_revoked_while_connected_is_closed_with_4401(device_a, monkeypatch):
    monkeypatch.setattr(presence, "HEARTBEAT_SECONDS", 0.2)
    client, key = device_a
    communicator = await connect(key)
    await send(communicator, {"type": "ping"})
    assert await receive(communicator) == {"type": "pong"}
    await database_sync_to_async(ApiClient.objects.filter(pk=client.pk).update)(
        revoked_at=timezone.now()
    )
    message = await receive(communicator)
    assert (message["type"], message["code"]) == ("error", "unauthorized")
    assert await receive_close_code(communicator) == 4401


async def test_resume_replays_exactly_the_changes_after_n_then_goes_live(
    device_a, store_a, variant
):
    for quantity in (5, 3, 2):  # seq 1, 2, 3
        await stock_receive(store_a.pk, variant.pk, quantity)
    communicator = await connect(device_a[1])
    await send(communicator, {"type": "resume", "after": 1})
    assert await receive(communicator) == stock(2, 8)
    assert await receive(communicator) == stock(3, 10)
    assert await communicator.receive_nothing(timeout=0.3)
    await stock_receive(store_a.pk, variant.pk, 4)
    assert await receive(communicator) == stock(4, 14)
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_fresh_client_resumes_from_zero(device_a, store_a, variant):
    await stock_receive(store_a.pk, variant.pk, 7)
    communicator = await connect(device_a[1])
    await send(communicator, {"type": "resume", "after": 0})
    assert await receive(communicator) == stock(1, 7)
    await communicator.disconnect()


async def test_resume_from_the_future_is_invalid_and_changes_nothing(device_a, store_a, variant):
    await stock_receive(store_a.pk, variant.pk, 5)
    communicator = await connect(device_a[1])
    await send(communicator, {"type": "resume", "after": 99})
    message = await receive(communicator)
    assert (message["type"], message["code"], message["last"]) == ("error", "invalid", 1)
    # Nothing is live yet; a correct resume still works on the same connection.
    await send(communicator, {"type": "resume", "after": 0})
    assert await receive(communicator) == stock(1, 5)
    await communicator.disconnect()


async def test_resume_from_pruned_history_asks_for_a_full_read(device_a, store_a, variant):
    for quantity in (1, 1, 1):
        await stock_receive(store_a.pk, variant.pk, quantity)
    await database_sync_to_async(Event.objects.filter(stream="location.SA1", seq__lte=2).delete)()
    communicator = await connect(device_a[1])
    await send(communicator, {"type": "resume", "after": 0})
    message = await receive(communicator)
    assert (message["type"], message["code"], message["last"]) == ("error", "resync_required", 3)
    assert await communicator.receive_nothing(timeout=0.3)  # no partial replay
    await stock_receive(store_a.pk, variant.pk, 1)
    assert await receive(communicator) == stock(4, 4)
    await communicator.disconnect()


async def test_resume_twice_is_refused(device_a, store_a):
    communicator = await connect(device_a[1])
    await send(communicator, {"type": "resume", "after": 0})
    await send(communicator, {"type": "resume", "after": 0})
    assert (await receive(communicator))["code"] == "invalid"
    await communicator.disconnect()


async def test_watch_adds_readable_locations_and_refuses_the_others(
    device_a, store_a, store_b, variant
):
    online = await database_sync_to_async(LocationFactory)(code="WEB", kind=Location.Kind.ONLINE)
    communicator = await connect(device_a[1])
    await send(communicator, {"type": "resume", "after": 0})
    await send(communicator, {"type": "watch", "locations": ["SB1", "WEB", "NOPE"]})
    errors = [await receive(communicator), await receive(communicator)]
    assert [(e["code"], e["location"]) for e in errors] == [
        ("forbidden_location", "WEB"),
        ("forbidden_location", "NOPE"),
    ]
    await stock_receive(online.pk, variant.pk, 9)  # may not see: never arrives
    await stock_receive(store_b.pk, variant.pk, 6)
    assert await receive(communicator) == stock(1, 6, location="SB1")
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_pickups_come_for_the_own_location_only(device_a, store_a, store_b, variant):
    communicator = await connect(device_a[1])
    await send(communicator, {"type": "resume", "after": 0})
    await send(communicator, {"type": "watch", "locations": ["SB1"]})
    await send(communicator, {"type": "ping"})
    assert await receive(communicator) == {"type": "pong"}
    await pickup_append("SB1", "W-000001", "ready")  # watched, but not the device's
    await stock_receive(store_b.pk, variant.pk, 1)  # SB1 seq 2
    await pickup_append("SA1", "W-000002", "ready")
    assert await receive(communicator) == stock(2, 1, location="SB1")
    assert await receive(communicator) == {
        "type": "pickup",
        "seq": 1,
        "number": "W-000002",
        "status": "ready",
    }
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_integration_watches_any_active_location(integration_client, store_b, variant):
    communicator = await connect(integration_client[1])
    await send(communicator, {"type": "resume", "after": 0})
    await send(communicator, {"type": "watch", "locations": ["SB1"]})
    await send(communicator, {"type": "ping"})
    assert await receive(communicator) == {"type": "pong"}
    await stock_receive(store_b.pk, variant.pk, 2)
    assert await receive(communicator) == stock(1, 2, location="SB1")
    await communicator.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        '"resume"',
        "{}",
        '{"type": "subscribe"}',
        '{"type": "resume", "after": "3"}',
        '{"type": "resume", "after": -1}',
        '{"type": "resume", "after": true}',
        '{"type": "resume", "after": 1.5}',
        '{"type": "watch", "locations": "SB1"}',
        '{"type": "watch", "locations": [1, 2]}',
    ],
)
async def test_malformed_frames_get_invalid_and_the_connection_lives(device_a, frame):
    communicator = await connect(device_a[1])
    await send(communicator, frame)
    message = await receive(communicator)
    assert (message["type"], message["code"]) == ("error", "invalid")
    assert message["detail"]
    await send(communicator, {"type": "ping"})
    assert await receive(communicator) == {"type": "pong"}
    await communicator.disconnect()


async def test_binary_frame_is_invalid(device_a):
    communicator = await connect(device_a[1])
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert (await receive(communicator))["code"] == "invalid"
    await communicator.disconnect()


async def test_catalog_and_promotions_signals_reach_every_connection(device_a, integration_client):
    device = await connect(device_a[1])
    shop = await connect(integration_client[1])
    await signal_append("catalog")
    await signal_append("promotions")
    for communicator in (device, shop):
        assert await receive(communicator) == {"type": "catalog", "seq": 1}
        assert await receive(communicator) == {"type": "promotions", "seq": 1}
        await communicator.disconnect()


async def test_slow_client_is_closed_while_a_fast_one_gets_everything(
    device_a, store_a, variant, settings, monkeypatch
):
    settings.OMO_WS_SEND_QUEUE = 5
    slow_client, slow_key = await database_sync_to_async(pos_device)(store_a, name="Slow till")
    never = asyncio.Event()
    original_send = PosConsumer.send

    async def send_or_stall(self, text_data=None, bytes_data=None, close=False):
        if self.client is not None and self.client.pk == slow_client.pk:
            await never.wait()  # a client that stopped reading
        await original_send(self, text_data=text_data, bytes_data=bytes_data, close=close)

    monkeypatch.setattr(PosConsumer, "send", send_or_stall)
    fast = await connect(device_a[1])
    slow = await connect(slow_key)
    for communicator in (fast, slow):
        await send(communicator, {"type": "resume", "after": 0})
    await asyncio.sleep(0.2)
    for _ in range(12):
        await stock_receive(store_a.pk, variant.pk, 1)
    assert [(await receive(fast))["seq"] for _ in range(12)] == list(range(1, 13))
    assert await receive_close_code(slow) == 4008
    await fast.disconnect()


async def test_no_gap_and_no_duplicate_across_the_replay_to_live_boundary(
    device_a, store_a, variant
):
    for _ in range(40):
        await stock_receive(store_a.pk, variant.pk, 1)
    communicator = await connect(device_a[1])

    async def more_changes():
        for _ in range(60):
            await stock_receive(store_a.pk, variant.pk, 1)

    writer = asyncio.create_task(more_changes())
    await asyncio.sleep(0.01)
    await send(communicator, {"type": "resume", "after": 10})
    received = [await receive(communicator, timeout=10) for _ in range(90)]
    await writer
    assert [m["seq"] for m in received] == list(range(11, 101))
    assert [m["on_hand"] for m in received] == list(range(11, 101))  # +1 each, in order
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_presence_counts_open_connections(device_a, store_a):
    client, key = device_a
    first = await connect(key)
    second = await connect(key)
    counts = await sync_to_async(presence.connected_counts)()
    assert counts.get(client.pk) == 2
    await first.disconnect()
    await second.disconnect()
    assert client.pk not in await sync_to_async(presence.connected_client_ids)()


@pytest.mark.redis
async def test_with_redis_the_layer_broadcast_delivers_without_the_poll(
    device_a, store_a, variant, settings
):
    settings.OMO_WS_RELAY_INTERVAL = 60  # the table tail stays silent during this test
    communicator = await connect(device_a[1])
    await send(communicator, {"type": "resume", "after": 0})
    await send(communicator, {"type": "ping"})
    assert await receive(communicator) == {"type": "pong"}
    await stock_receive(store_a.pk, variant.pk, 3)
    assert await receive(communicator, timeout=1) == stock(1, 3)
    counts = await sync_to_async(presence.connected_counts)()
    assert counts.get(device_a[0].pk) == 1
    await communicator.disconnect()
