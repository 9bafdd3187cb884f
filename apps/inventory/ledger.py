"""The one way stock changes: `stock_apply` (ARCHITECTURE rules 1, 2 and 4).

Every stock-changing service (receive, adjust, reserve, sell, transfer, stocktake,
import) builds a list of `StockChange`s and calls `stock_apply` inside its transaction.
It locks the touched levels in a fixed order (location, variant), checks the rules,
updates the balances, appends one ledger Movement per change and one event per changed
level on the location's stream, all in the caller's transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from apps.catalog.models import Variant
from apps.core.errors import InsufficientStock, ValidationFailed
from apps.core.events import PendingEvent, events_append, location_stream
from apps.stores.models import Location

from .models import Discrepancy, Movement, StockLevel

Reason = Movement.Reason


@dataclass(frozen=True)
class StockChange:
    variant_id: int
    location_id: int
    reason: str
    on_hand: int = 0  # signed change to on hand
    reserved: int = 0  # signed change to reserved
    lot_id: int | None = None
    serial: str = ""
    note: str = ""


@dataclass(frozen=True)
class Actor:
    """Who made a change: a back-office user, an API client, or the system (both None)."""

    user_id: int | None = None
    client_id: int | None = None

    @classmethod
    def of(cls, principal) -> Actor:
        if principal is None:
            return cls()
        if getattr(principal, "is_api_client", False):
            return cls(client_id=principal.pk)
        return cls(user_id=principal.pk)


@dataclass(frozen=True)
class Shortfall:
    """A change that took on hand below what the system counted (POS policy)."""

    level: StockLevel
    movement: Movement | None  # None when a no-negative location was already at zero
    quantity_short: int


@dataclass
class AppliedStock:
    movements: list[Movement]
    levels: dict[tuple[int, int], StockLevel]  # (location_id, variant_id) -> level after
    shortfalls: list[Shortfall]


def levels_lock(keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], StockLevel]:
    """Lock (creating where missing) the levels for (location_id, variant_id) keys.

    Always in (location, variant) order, so two transactions that touch the same levels
    take their locks in the same order and cannot deadlock.
    """
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    location_ids = {location_id for location_id, _ in wanted}
    policies = dict(
        Location.objects.filter(pk__in=location_ids).values_list("pk", "allows_negative_stock")
    )
    StockLevel.objects.bulk_create(
        [
            StockLevel(
                location_id=location_id,
                variant_id=variant_id,
                negative_allowed=policies.get(location_id, True),
            )
            for location_id, variant_id in wanted
        ],
        ignore_conflicts=True,
    )
    by_location: dict[int, list[int]] = defaultdict(list)
    for location_id, variant_id in wanted:
        by_location[location_id].append(variant_id)
    locked: dict[tuple[int, int], StockLevel] = {}
    for location_id in sorted(by_location):
        rows = (
            StockLevel.objects.select_for_update()
            .filter(location_id=location_id, variant_id__in=by_location[location_id])
            .order_by("variant_id")
        )
        for level in rows:
            locked[(level.location_id, level.variant_id)] = level
    return locked


def stock_apply(
    *,
    changes: Sequence[StockChange],
    actor: Actor,
    reference_type: str = "",
    reference_id: str = "",
    allow_short: bool = False,
) -> AppliedStock:
    """Apply stock changes atomically in the caller's transaction.

    Rules: `reserved` never goes below zero; a reservation never takes more than is
    available; on hand never goes below what is reserved or below zero, except with
    `allow_short` (a POS sale of goods already in the customer's hand), where the change
    is recorded and reported as a Shortfall for the caller to raise a discrepancy -
    and the location's policy decides whether on hand may actually go negative.

    Raises ValidationFailed (a zero change) and InsufficientStock (naming the SKUs).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("stock_apply must run inside the caller's transaction")
    for change in changes:
        if change.on_hand == 0 and change.reserved == 0:
            raise ValidationFailed("A stock change must change something.")
    levels = levels_lock((c.location_id, c.variant_id) for c in changes)

    movements: list[Movement] = []
    shortfalls: list[tuple[StockLevel, StockChange, int]] = []
    short_skus: list[int] = []
    for change in changes:
        level = levels[(change.location_id, change.variant_id)]
        old_on_hand, old_reserved = level.on_hand, level.reserved
        new_on_hand = level.on_hand + change.on_hand
        new_reserved = level.reserved + change.reserved
        if new_reserved < 0:
            raise ValidationFailed(
                f"Cannot release more than is reserved (variant {change.variant_id})."
            )
        if change.reserved > 0 and new_reserved > new_on_hand:
            short_skus.append(change.variant_id)
            continue
        if change.on_hand < 0 and new_on_hand < new_reserved:
            if not allow_short:
                short_skus.append(change.variant_id)
                continue
            short = min(-change.on_hand, new_reserved - new_on_hand)
            shortfalls.append((level, change, short))
            if new_on_hand < 0 and not level.negative_allowed:
                # The location forbids negative stock: the sale is still recorded, but
                # on hand stops at zero; the discrepancy carries the difference.
                new_on_hand = max(0, new_on_hand)
                new_reserved = min(new_reserved, new_on_hand)
        level.on_hand, level.reserved = new_on_hand, new_reserved
        if new_on_hand == old_on_hand and new_reserved == old_reserved:
            continue
        movements.append(
            Movement(
                level=level,
                variant_id=change.variant_id,
                location_id=change.location_id,
                # The actual change, which a no-negative location may have capped.
                delta_on_hand=new_on_hand - old_on_hand,
                delta_reserved=new_reserved - old_reserved,
                on_hand_after=new_on_hand,
                reserved_after=new_reserved,
                reason=change.reason,
                reference_type=reference_type,
                reference_id=str(reference_id),
                actor_user_id=actor.user_id,
                actor_client_id=actor.client_id,
                lot_id=change.lot_id,
                serial=change.serial,
                note=change.note,
            )
        )
    if short_skus:
        raise InsufficientStock(
            "Not enough stock available.", extra={"variants": sorted(set(short_skus))}
        )
    return _write(levels, movements, shortfalls, reference_type, reference_id)


def _write(levels, movements, shortfalls, reference_type, reference_id) -> AppliedStock:
    touched = {(m.location_id, m.variant_id) for m in movements}
    movement_of = {(m.location_id, m.variant_id, m.reason): m for m in movements}
    codes = dict(Location.objects.filter(pk__in={k[0] for k in touched}).values_list("pk", "code"))
    skus = dict(Variant.objects.filter(pk__in={k[1] for k in touched}).values_list("pk", "sku"))
    ordered = sorted(touched)
    events = events_append(
        [
            PendingEvent(
                stream=location_stream(codes[location_id]),
                type="stock",
                payload={
                    "location": codes[location_id],
                    "sku": skus[variant_id],
                    "on_hand": levels[(location_id, variant_id)].on_hand,
                    "reserved": levels[(location_id, variant_id)].reserved,
                    "available": levels[(location_id, variant_id)].on_hand
                    - levels[(location_id, variant_id)].reserved,
                },
            )
            for location_id, variant_id in ordered
        ]
    )
    for key, event in zip(ordered, events, strict=True):
        levels[key].seq = event.seq
    now = timezone.now()
    for key in ordered:
        levels[key].updated_at = now
    for movement in movements:
        movement.seq = levels[(movement.location_id, movement.variant_id)].seq
    StockLevel.objects.bulk_update(
        [levels[k] for k in ordered], ["on_hand", "reserved", "seq", "updated_at"]
    )
    Movement.objects.bulk_create(movements)
    found = [
        Shortfall(level, movement_of.get((c.location_id, c.variant_id, c.reason)), short)
        for level, c, short in shortfalls
    ]
    # The shelf is the truth: a short sale is recorded, and raised for a manager here.
    Discrepancy.objects.bulk_create(
        [
            Discrepancy(
                level=item.level,
                movement=item.movement,
                quantity_short=item.quantity_short,
                reference_type=reference_type,
                reference_id=str(reference_id),
            )
            for item in found
        ]
    )
    return AppliedStock(
        movements=movements, levels={k: levels[k] for k in ordered}, shortfalls=found
    )
