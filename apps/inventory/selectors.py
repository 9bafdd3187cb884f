"""Reads of stock, scoped by the caller (apps.stores.selectors decides which locations)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import F, QuerySet

from .models import StockLevel


def stock_level_rows(*, location_ids: Iterable[int] | QuerySet) -> QuerySet:
    """Stock levels at these locations as plain dicts: id, seq, on_hand, reserved,
    available, sku, location_code. One query and no model instances, because the POS
    stock read is a hot path. The caller must pass only locations the actor may see."""
    return StockLevel.objects.filter(location_id__in=location_ids).values(
        "id",
        "seq",
        "on_hand",
        "reserved",
        "available",
        sku=F("variant__sku"),
        location_code=F("location__code"),
    )
