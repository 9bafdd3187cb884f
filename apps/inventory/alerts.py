"""Low-stock alerts: one open alert per level while available is at or below its
reorder point (> 0); resolved when it recovers. Evaluated after commit by a Celery task
(`tasks.stock_alerts_evaluate`) for the levels whose available crossed the threshold."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from .models import StockAlert, StockLevel


def alert_needed(*, available: int, reorder_point: int) -> bool:
    return reorder_point > 0 and available <= reorder_point


def threshold_crossed(*, before: int, after: int, reorder_point: int) -> bool:
    """Cheap check on values the ledger already has: did this change cross the line?"""
    return alert_needed(available=before, reorder_point=reorder_point) != alert_needed(
        available=after, reorder_point=reorder_point
    )


@transaction.atomic
def alerts_evaluate(level_ids: Iterable[int]) -> tuple[int, int]:
    """Open or resolve the alerts of these levels from their current figures.

    Safe to run twice or concurrently: the levels are locked in id order and the
    database allows one open alert per level. Returns (opened, resolved).
    """
    ids = sorted(set(level_ids))
    if not ids:
        return (0, 0)
    levels = list(
        StockLevel.objects.select_for_update()
        .filter(pk__in=ids)
        .order_by("pk")
        .only("pk", "on_hand", "reserved", "reorder_point")
    )
    open_for = set(
        StockAlert.objects.filter(level_id__in=ids, status=StockAlert.Status.OPEN).values_list(
            "level_id", flat=True
        )
    )
    to_open, to_resolve = [], []
    for level in levels:
        available = level.on_hand - level.reserved
        low = alert_needed(available=available, reorder_point=level.reorder_point)
        if low and level.pk not in open_for:
            to_open.append(
                StockAlert(
                    level_id=level.pk,
                    available_when_raised=available,
                    reorder_point=level.reorder_point,
                )
            )
        elif not low and level.pk in open_for:
            to_resolve.append(level.pk)
    StockAlert.objects.bulk_create(to_open)
    if to_resolve:
        StockAlert.objects.filter(level_id__in=to_resolve, status=StockAlert.Status.OPEN).update(
            status=StockAlert.Status.RESOLVED, resolved_at=timezone.now()
        )
    return (len(to_open), len(to_resolve))
