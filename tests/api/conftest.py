"""Helpers for the POS API tests: stock is changed the one legal way (stock_apply)."""

from django.db import transaction

from apps.catalog.services import catalog_changes_record
from apps.inventory.ledger import Actor, StockChange, stock_apply


def stock_receive(location, variant, quantity: int, reserved: int = 0):
    """Receive `quantity` (and reserve `reserved`) through the ledger; returns the level."""
    changes = [
        StockChange(
            variant_id=variant.pk,
            location_id=location.pk,
            reason="receipt",
            on_hand=quantity,
        )
    ]
    if reserved:
        changes.append(
            StockChange(
                variant_id=variant.pk,
                location_id=location.pk,
                reason="reservation",
                reserved=reserved,
            )
        )
    with transaction.atomic():
        applied = stock_apply(changes=changes, actor=Actor())
    return applied.levels[(location.pk, variant.pk)]


def catalog_touch(*variants) -> int:
    """Record a catalog change for these variants, as the catalog services do."""
    with transaction.atomic():
        return catalog_changes_record(variant_ids=[v.pk for v in variants])
