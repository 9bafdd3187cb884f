"""A till resuming after a bulk stock change (an import), whose events the ledger writes
as packs (Event.first_seq): it gets every change once, in order, as single messages."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from apps.core import consumers
from apps.core.models import Event
from apps.inventory import ledger_bulk
from apps.inventory.ledger import Actor, StockChange, stock_apply
from apps.inventory.models import Movement
from tests.factories import VariantFactory

from .conftest import connect, receive, send, stock_receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.postgres]


@database_sync_to_async
def _bulk_receive(location_id: int) -> list[str]:
    """Ten receipts (1..10 units) in one bulk stock_apply, on the COPY path: seq 1..10."""
    variants = [VariantFactory(sku=f"PK-{i:02d}") for i in range(10)]
    changes = [
        StockChange(v.pk, location_id, Movement.Reason.IMPORT, on_hand=i + 1)
        for i, v in enumerate(variants)
    ]
    with transaction.atomic():
        stock_apply(changes=changes, actor=Actor(), reference_type="import", reference_id="1")
    return [v.sku for v in variants]


def _stock(seq: int, sku: str, on_hand: int) -> dict:
    return {
        "type": "stock",
        "seq": seq,
        "location": "SA1",
        "sku": sku,
        "on_hand": on_hand,
        "reserved": 0,
        "available": on_hand,
    }


async def test_resuming_inside_a_pack_replays_the_rest_one_by_one_then_goes_live(
    device_a, store_a, monkeypatch
):
    monkeypatch.setattr(ledger_bulk, "BULK_MIN_CHANGES", 1)
    monkeypatch.setattr(ledger_bulk, "PACK_SIZE", 4)
    # Replay pages of 3 events: the resume below crosses pages and packs.
    monkeypatch.setattr(consumers, "REPLAY_PAGE", 3)
    skus = await _bulk_receive(store_a.pk)
    rows = await database_sync_to_async(
        lambda: list(Event.objects.order_by("seq").values_list("first_seq", "seq"))
    )()
    assert rows == [(1, 4), (5, 8), (9, 10)]  # three packs, not ten rows

    communicator = await connect(device_a[1])
    await send(communicator, {"type": "resume", "after": 2})  # inside the pack 1..4
    replayed = [await receive(communicator) for _ in range(8)]
    assert replayed == [_stock(seq, skus[seq - 1], seq) for seq in range(3, 11)]
    assert await communicator.receive_nothing(timeout=0.3)
    variant_id = await database_sync_to_async(
        lambda: Movement.objects.get(variant__sku=skus[0]).variant_id
    )()
    await stock_receive(store_a.pk, variant_id, 5)
    assert await receive(communicator) == _stock(11, skus[0], 6)
    await communicator.disconnect()
