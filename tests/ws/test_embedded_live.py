"""Embedded mode (the in-memory channel layer): a stock change made by an HTTP request
reaches a websocket client of the same server live (ARCHITECTURE: live stock works in
both modes)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from channels.db import database_sync_to_async

from apps.inventory.models import StockLevel
from tests.asgi import http_exchange, http_scope
from tests.factories import VariantFactory

from .conftest import connect, receive, send, stock_receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def tee(transactional_db):
    return VariantFactory(sku="TEE-M", price="19.90")


async def _post(path: str, body: dict, key: str) -> tuple[int, dict]:
    data = json.dumps(body).encode()
    headers = [
        (b"authorization", f"Token {key}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
    ]
    status, _, content = await http_exchange(http_scope("POST", path, headers=headers), data)
    return status, json.loads(content)


@pytest.mark.timeout(30)  # before the fix the request hung
async def test_a_sale_posted_over_http_reaches_a_till_live(in_memory_layer, device_a, store_a, tee):
    # Debug mode makes the loop refuse calls from threads that do not own it: a layer
    # send from the request's thread (or a loop of its own) fails instead of racing.
    asyncio.get_running_loop().set_debug(True)
    await stock_receive(store_a.pk, tee.pk, 10)  # seq 1
    communicator = await connect(device_a[1])
    await send(communicator, {"type": "resume", "after": 1})
    assert await communicator.receive_nothing(timeout=0.2)

    status, sale = await _post(
        "/api/v1/sales",
        {
            "client_id": str(uuid.uuid4()),
            "occurred_at": "2026-11-20T10:15:00+01:00",
            "lines": [{"sku": "TEE-M", "quantity": 1}],
            "member": None,
            "associate": None,
            "coupons": [],
            "points_to_redeem": 0,
            "payments": [{"method": "card", "amount": "19.90"}],
            "offline": False,
        },
        device_a[1],
    )

    assert status == 201, sale
    # Sent before the answer: already there, not on some later tick or poll.
    assert await receive(communicator, timeout=0.5) == {
        "type": "stock",
        "seq": 2,
        "location": "SA1",
        "sku": "TEE-M",
        "on_hand": 9,
        "reserved": 0,
        "available": 9,
    }
    on_hand = await database_sync_to_async(
        lambda: StockLevel.objects.get(location=store_a, variant=tee).on_hand
    )()
    assert on_hand == 9
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()
