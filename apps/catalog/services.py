"""Writes to the catalog. Every variant change goes through `catalog_changes_record`."""

from __future__ import annotations

from collections.abc import Iterable

from apps.core.events import event_append

from .models import Variant

CATALOG_STREAM = "catalog"


def catalog_changes_record(*, variant_ids: Iterable[int]) -> int:
    """Move the sync cursor of these variants: one "catalog" event, whose commit-ordered
    sequence number becomes their `change_seq`. Call inside the writing transaction,
    after the rows changed. POS catalog sync pages by (change_seq, id), so a change
    committed after a cursor was issued always sorts after it. Returns the seq."""
    ids = sorted(set(variant_ids))
    if not ids:
        return 0
    event = event_append(stream=CATALOG_STREAM, type="catalog", payload={"count": len(ids)})
    Variant.objects.filter(pk__in=ids).update(change_seq=event.seq)
    return event.seq
