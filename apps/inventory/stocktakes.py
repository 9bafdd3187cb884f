"""Stocktakes: a count sheet per location, counted against expected, posted as movements.

The rule that makes counting while the store keeps selling right: each line remembers
`expected`, the level's on hand at the moment the line was (last) counted. Posting
writes `counted - expected` as a stocktake movement, applied to whatever on hand is at
posting time. A sale made after the line was counted has already taken its unit from
on hand and is not in `expected`, so it is neither lost nor counted twice:

    counted 10 (expected 12) -> sale of 1 -> post: on hand 11 + (10 - 12) = 9 = 10 - 1.

Only counted lines are posted; variants nobody counted are left alone.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, F, QuerySet, Sum
from django.utils import timezone

from apps.catalog.models import Variant
from apps.core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from apps.stores.models import Location
from apps.stores.selectors import location_can_manage, location_list_visible

from .ledger import QUANTITY_MAX, Actor, Reason, StockChange, levels_lock, stock_apply
from .models import LotLevel, StockLevel, Stocktake, StocktakeLine
from .transfers import quantity_parse, variant_by_code

Status = Stocktake.Status
REFERENCE_TYPE = "stocktake"


def stocktake_list_visible(actor) -> QuerySet[Stocktake]:
    return (
        Stocktake.objects.filter(location__in=location_list_visible(actor).values("pk"))
        .select_related("location")
        .annotate(line_count=Count("lines"))
    )


def stocktake_get_visible(actor, pk) -> Stocktake:
    """Raises NotFound for a stocktake of a location the actor may not see."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound("No such stocktake.") from None
    stocktake = (
        Stocktake.objects.filter(location__in=location_list_visible(actor).values("pk"), pk=pk)
        .select_related("location")
        .first()
    )
    if stocktake is None:
        raise NotFound("No such stocktake.")
    return stocktake


def stocktake_lines(stocktake: Stocktake) -> QuerySet[StocktakeLine]:
    """Lines with their difference (counted - expected), last counted first."""
    return (
        stocktake.lines.select_related("variant__product")
        .annotate(difference=F("counted") - F("expected"))
        .order_by("-counted_at", "-pk")
    )


def stocktake_totals(stocktake: Stocktake) -> dict:
    return stocktake.lines.aggregate(
        lines=Count("pk"), counted=Sum("counted"), expected=Sum("expected")
    )


def _require_manager(actor, location: Location) -> None:
    if location_can_manage(actor, location):
        return
    if not location_list_visible(actor).filter(pk=location.pk).exists():
        raise NotFound("No such stocktake.")
    raise PermissionDenied(f"Only the managers of {location.code} may count stock there.")


def _lock(stocktake: Stocktake) -> Stocktake:
    return Stocktake.objects.select_for_update().select_related("location").get(pk=stocktake.pk)


@transaction.atomic
def stocktake_start(*, location: Location, actor, note: str = "") -> Stocktake:
    """Open a count sheet. One counting stocktake per location at a time.
    Raises Conflict (stocktake_in_progress), NotFound / PermissionDenied."""
    if not location_list_visible(actor).filter(pk=location.pk).exists():
        raise NotFound(f"No location {location.code!r}.")
    _require_manager(actor, location)
    # Serialises two managers pressing "start" together at the same location. NO KEY:
    # not to wait for a stock write creating levels there, which holds the row FOR KEY
    # SHARE until its commit (ledger.locations_lock; an import's apply, seconds).
    Location.objects.select_for_update(no_key=True).filter(pk=location.pk).first()
    running = Stocktake.objects.filter(location=location, status=Status.COUNTING).first()
    if running is not None:
        raise Conflict(
            f"{running.number} is already counting at {location.code}.",
            code="stocktake_in_progress",
            extra={"stocktake": running.pk},
        )
    stocktake = Stocktake.objects.create(
        number=f"ST-tmp-{timezone.now().timestamp()}",
        location=location,
        note=(note or "").strip()[:255],
        started_by=actor,
    )
    stocktake.number = f"ST-{stocktake.pk:06d}"
    stocktake.save(update_fields=["number"])
    return stocktake


@transaction.atomic
def stocktake_count(
    *,
    stocktake: Stocktake,
    actor,
    variant: Variant | None = None,
    code: str = "",
    counted: object = None,
    increment: int | None = None,
) -> StocktakeLine:
    """Record a count: `counted` sets the line (typed quantity), `increment` adds to it
    (a scanned barcode adds 1).

    `expected` is taken from the level's on hand now, each time the count changes, so
    the difference posted later is relative to the stock as it was when the shelf was
    counted (see the module docstring). Raises UnknownSku, ValidationFailed,
    InvalidTransition (not counting), NotFound / PermissionDenied.
    """
    stocktake = _lock(stocktake)
    _require_manager(actor, stocktake.location)
    if stocktake.status != Status.COUNTING:
        raise InvalidTransition(f"{stocktake.number} is {stocktake.get_status_display().lower()}.")
    if variant is None:
        variant = variant_by_code(code)
    if variant.tracking == Variant.Tracking.SERIAL:
        raise ValidationFailed.for_field(
            "code", f"{variant.sku} is serial-tracked: check its serial numbers, not a count."
        )
    if counted is None and increment is None:
        increment = 1
    quantity = (
        quantity_parse(counted, field="counted", allow_zero=True) if counted is not None else None
    )
    on_hand = (
        StockLevel.objects.filter(location_id=stocktake.location_id, variant=variant)
        .values_list("on_hand", flat=True)
        .first()
    ) or 0
    line = (
        StocktakeLine.objects.select_for_update()
        .filter(stocktake=stocktake, variant=variant)
        .first()
    )
    if line is None:
        line = StocktakeLine(stocktake=stocktake, variant=variant, counted=0)
    line.counted = quantity if quantity is not None else line.counted + int(increment)
    if not 0 <= line.counted <= QUANTITY_MAX:
        raise ValidationFailed.for_field("counted", f"Count at most {QUANTITY_MAX:,} units.")
    line.expected = on_hand
    line.save()
    line.variant = variant
    return line


def _lot_split(location_id: int, variant_id: int, delta: int) -> list[tuple[int, int]]:
    """(lot_id, signed units) for a lot-tracked difference: a shortfall comes off the
    first-expiring lots first (what they do not cover off the last one); a surplus goes
    to the first-expiring lot held here. Empty when the variant has no lot here."""
    holdings = list(
        LotLevel.objects.filter(location_id=location_id, lot__variant_id=variant_id)
        .order_by(F("lot__expires_on").asc(nulls_last=True), "lot__code")
        .values_list("lot_id", "on_hand")
    )
    if not holdings:
        return []
    if delta > 0:
        stocked = [lot_id for lot_id, on_hand in holdings if on_hand > 0]
        return [((stocked or [holdings[0][0]])[0], delta)]
    taken, remaining = [], -delta
    for lot_id, on_hand in holdings:
        units = min(max(on_hand, 0), remaining)
        if units:
            taken.append((lot_id, -units))
            remaining -= units
    if remaining:
        last_id, units = taken[-1] if taken else (holdings[-1][0], 0)
        taken = taken[:-1] if taken else taken
        taken.append((last_id, units - remaining))
    return taken


@transaction.atomic
def stocktake_post(*, stocktake: Stocktake, actor) -> Stocktake:
    """Post counted - expected for every counted line whose count differs.

    The count is the shelf's truth, so a line may take on hand below what is reserved
    (a discrepancy is raised then, as for a short sale). Raises InvalidTransition
    (already posted or cancelled: nothing changes), NotFound / PermissionDenied."""
    stocktake = _lock(stocktake)
    _require_manager(actor, stocktake.location)
    if stocktake.status != Status.COUNTING:
        raise InvalidTransition(f"{stocktake.number} is {stocktake.get_status_display().lower()}.")
    differing = [
        (variant_id, tracking, counted, expected)
        for variant_id, tracking, counted, expected in stocktake.lines.order_by(
            "variant_id"
        ).values_list("variant_id", "variant__tracking", "counted", "expected")
        if counted != expected
    ]
    location_id = stocktake.location_id
    levels_lock((location_id, variant_id) for variant_id, *_ in differing)
    changes: list[StockChange] = []
    for variant_id, tracking, counted, expected in differing:
        note = f"counted {counted}, expected {expected}"
        lots = _lot_split(location_id, variant_id, counted - expected) if tracking == "lot" else []
        changes += [
            StockChange(
                variant_id, location_id, Reason.STOCKTAKE, on_hand=units, lot_id=lot_id, note=note
            )
            for lot_id, units in lots or [(None, counted - expected)]
        ]
    if changes:
        applied = stock_apply(
            changes=changes,
            actor=Actor.of(actor),
            reference_type=REFERENCE_TYPE,
            reference_id=stocktake.number,
            allow_short=True,
        )
        for movement in applied.movements:
            if movement.lot_id:
                LotLevel.objects.bulk_create(
                    [LotLevel(lot_id=movement.lot_id, location_id=location_id)],
                    ignore_conflicts=True,
                )
                LotLevel.objects.filter(lot_id=movement.lot_id, location_id=location_id).update(
                    on_hand=F("on_hand") + movement.delta_on_hand
                )
    stocktake.status = Status.POSTED
    stocktake.posted_at = timezone.now()
    stocktake.save(update_fields=["status", "posted_at"])
    return stocktake


@transaction.atomic
def stocktake_cancel(*, stocktake: Stocktake, actor) -> Stocktake:
    """Drop a counting stocktake; no stock moves. Raises InvalidTransition."""
    stocktake = _lock(stocktake)
    _require_manager(actor, stocktake.location)
    if stocktake.status != Status.COUNTING:
        raise InvalidTransition(f"{stocktake.number} is {stocktake.get_status_display().lower()}.")
    stocktake.status = Status.CANCELLED
    stocktake.save(update_fields=["status"])
    return stocktake
