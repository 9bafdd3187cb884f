"""Demo stock: every store and the warehouse stocked through the ledger (one bulk
`stock_apply` per location, so check_stock holds), lots with expiry dates for
cosmetics, serial numbers for electronics, reorder points, and a few items below their
reorder point (open alerts). Idempotent: does nothing once demo stock exists.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from django.db import transaction

from apps.catalog.models import Variant
from apps.stores.models import Location

from .alerts import alerts_evaluate
from .ledger import Actor, Reason, StockChange, stock_apply
from .models import Lot, LotLevel, Movement, Serial, StockLevel

REFERENCE = ("demo", "opening-stock")
SERIALS_PER_STORE = 2
LOW_STOCK_ITEMS = 8


def _quantity(rng: random.Random, location: Location, tracking: str) -> int:
    warehouse = location.kind == Location.Kind.WAREHOUSE
    if tracking == Variant.Tracking.SERIAL:
        return 6 if warehouse else SERIALS_PER_STORE
    return rng.randint(40, 160) if warehouse else rng.randint(0, 24)


@transaction.atomic
def seed(locations: dict[str, Location], variants: list[Variant] | None = None) -> int:
    """Stock the stores and the warehouse; returns the number of levels made (0 when the
    demo stock is already there)."""
    if Movement.objects.filter(reference_type=REFERENCE[0], reference_id=REFERENCE[1]).exists():
        return 0
    if variants is None:
        variants = list(Variant.objects.order_by("sku"))
    variants = sorted(variants, key=lambda v: v.sku)
    stocked = [
        location
        for location in sorted(locations.values(), key=lambda loc: loc.code)
        if location.kind in (Location.Kind.STORE, Location.Kind.WAREHOUSE)
    ]
    rng = random.Random(3)
    today = date.today()
    lot_tracked = [v for v in variants if v.tracking == Variant.Tracking.LOT]
    Lot.objects.bulk_create(
        [
            Lot(variant=v, code=f"{v.sku}-{n}", expires_on=today + timedelta(days=days))
            for v in lot_tracked
            for n, days in ((1, rng.randint(40, 200)), (2, rng.randint(250, 540)))
        ],
        ignore_conflicts=True,
    )
    lots: dict[int, list[int]] = {}
    for lot in Lot.objects.filter(variant__in=lot_tracked).order_by("expires_on"):
        lots.setdefault(lot.variant_id, []).append(lot.pk)
    serial_count = 0
    made = 0
    for location in stocked:
        changes: list[StockChange] = []
        lot_levels: list[LotLevel] = []
        serials: list[Serial] = []
        for variant in variants:
            quantity = _quantity(rng, location, variant.tracking)
            if quantity <= 0:
                continue
            if variant.tracking == Variant.Tracking.SERIAL:
                for _ in range(quantity):
                    serial_count += 1
                    number = f"SN{variant.pk:05d}{serial_count:06d}"
                    serials.append(Serial(variant=variant, number=number, location=location))
                    changes.append(
                        StockChange(
                            variant.pk, location.pk, Reason.RECEIPT, on_hand=1, serial=number
                        )
                    )
            elif variant.tracking == Variant.Tracking.LOT and lots.get(variant.pk):
                first = quantity // 3
                for lot_id, units in zip(lots[variant.pk], (first, quantity - first), strict=False):
                    if units:
                        changes.append(
                            StockChange(
                                variant.pk,
                                location.pk,
                                Reason.RECEIPT,
                                on_hand=units,
                                lot_id=lot_id,
                            )
                        )
                        lot_levels.append(LotLevel(lot_id=lot_id, location=location, on_hand=units))
            else:
                changes.append(
                    StockChange(variant.pk, location.pk, Reason.RECEIPT, on_hand=quantity)
                )
        applied = stock_apply(
            changes=changes,
            actor=Actor(),
            reference_type=REFERENCE[0],
            reference_id=REFERENCE[1],
        )
        LotLevel.objects.bulk_create(lot_levels, batch_size=1000)
        Serial.objects.bulk_create(serials, batch_size=1000)
        made += len(applied.levels)
    _reorder_points(stocked, rng)
    return made


def _reorder_points(stocked: list[Location], rng: random.Random) -> None:
    """Reorder points for the stores' plain items that are comfortably stocked, and a
    few items (at the first two stores) set just above what is on hand: open alerts."""
    stores = [location for location in stocked if location.kind == Location.Kind.STORE]
    StockLevel.objects.filter(
        location__in=stores, variant__tracking=Variant.Tracking.NONE, on_hand__gte=4
    ).update(reorder_point=3)
    candidates = list(
        StockLevel.objects.filter(
            location__in=stores[:2],
            variant__tracking=Variant.Tracking.NONE,
            on_hand__gte=4,
            on_hand__lte=10,
        )
        .order_by("location_id", "variant_id")
        .values_list("pk", "on_hand")
    )
    picked = rng.sample(candidates, min(LOW_STOCK_ITEMS, len(candidates)))
    for pk, on_hand in picked:
        StockLevel.objects.filter(pk=pk).update(reorder_point=on_hand + rng.randint(0, 3))
    alerts_evaluate([pk for pk, _ in picked])
