"""Reads of stock, scoped by the caller (apps.stores.selectors decides which locations)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from apps.catalog.models import Variant
from apps.stores.models import Location
from apps.stores.selectors import location_list_visible

from .models import Discrepancy, Movement, StockAlert, StockLevel


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


def stock_levels_at(
    location: Location, *, search: str | None = None, low_only: bool = False
) -> QuerySet[StockLevel]:
    """The levels at one location (the caller got it from location_get_visible),
    annotated with sku, product_name and variant_name, ordered by SKU. `search` matches
    the SKU or product name (contains) or a barcode (exact); `low_only` keeps levels at
    or below a positive reorder point."""
    rows = (
        StockLevel.objects.filter(location=location)
        .annotate(
            sku=F("variant__sku"),
            product_name=F("variant__product__name"),
            variant_name=F("variant__name"),
        )
        .order_by("variant__sku")
    )
    search = (search or "").strip()
    if search:
        rows = rows.filter(
            Q(variant__sku__icontains=search)
            | Q(variant__product__name__icontains=search)
            | Q(variant__in=Variant.objects.filter(barcodes__code=search).values("pk"))
        )
    if low_only:
        rows = rows.filter(reorder_point__gt=0, available__lte=F("reorder_point"))
    return rows


def stock_for_variant(variant: Variant, visible_locations: QuerySet[Location]) -> QuerySet:
    """One variant's levels at the locations the caller may see, by location code."""
    return (
        StockLevel.objects.filter(variant=variant, location__in=visible_locations)
        .select_related("location")
        .order_by("location__code")
    )


def movements_for(
    *,
    visible_locations: QuerySet[Location],
    location: Location | None = None,
    variant: Variant | None = None,
    reason: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    reference_type: str | None = None,
    reference_id: str | None = None,
) -> QuerySet[Movement]:
    """Ledger rows, newest first, within the locations the caller may see. Dates are
    inclusive days in the current time zone."""
    rows = (
        Movement.objects.filter(location__in=visible_locations)
        .select_related("variant", "location", "actor_user", "actor_client", "lot")
        .order_by("-created_at", "-id")
    )
    if location is not None:
        rows = rows.filter(location=location)
    if variant is not None:
        rows = rows.filter(variant=variant)
    if reason:
        rows = rows.filter(reason=reason)
    if date_from:
        start = timezone.make_aware(datetime.combine(date_from, time.min))
        rows = rows.filter(created_at__gte=start)
    if date_to:
        end = timezone.make_aware(datetime.combine(date_to, time.max))
        rows = rows.filter(created_at__lte=end)
    if reference_type:
        rows = rows.filter(reference_type=reference_type)
    if reference_id:
        rows = rows.filter(reference_id=reference_id)
    return rows


def alerts_open_for(actor) -> QuerySet[StockAlert]:
    """The low-stock inbox: open alerts at the locations the actor may see."""
    return (
        StockAlert.objects.filter(
            status=StockAlert.Status.OPEN, level__location__in=location_list_visible(actor)
        )
        .select_related("level__variant__product", "level__location")
        .order_by("level__location__code", "level__variant__sku")
    )


def discrepancies_open_for(actor) -> QuerySet[Discrepancy]:
    """Short POS sales waiting for review, at the locations the actor may see."""
    return (
        Discrepancy.objects.filter(
            status=Discrepancy.Status.OPEN, level__location__in=location_list_visible(actor)
        )
        .select_related("level__variant", "level__location")
        .order_by("-created_at")
    )
