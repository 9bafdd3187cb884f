"""Demo stock documents: a transfer in transit from W01 to S01 and a stocktake being
counted at S02. Runs after the inventory demo (which stocks the locations); idempotent:
each document is recognised by its note and made only once."""

from __future__ import annotations

from apps.accounts.models import User
from apps.catalog.models import Variant
from apps.stores.models import Location

from .models import StockLevel, Stocktake, Transfer
from .services import stock_receive
from .stocktakes import stocktake_count, stocktake_start
from .transfers import LineInput, transfer_create, transfer_ship

TRANSFER_NOTE = "Demo: weekly replenishment, in transit"
STOCKTAKE_NOTE = "Demo: T-shirt wall recount"
TRANSFER_LINES = 6
COUNTED_LINES = 5


def _plain_variants(limit: int, offset: int = 0) -> list[Variant]:
    return list(
        Variant.objects.active()
        .filter(tracking=Variant.Tracking.NONE)
        .order_by("sku")[offset : offset + limit]
    )


def _on_hand(location: Location, variants: list[Variant]) -> dict[int, int]:
    return dict(
        StockLevel.objects.filter(location=location, variant__in=variants).values_list(
            "variant_id", "on_hand"
        )
    )


def seed(locations: dict[str, Location], users: dict[str, User]) -> dict[str, object]:
    actor = users.get("hq@omo.test") or User.objects.filter(role=User.Role.HQ_ADMIN).first()
    warehouse, paris, saint_germain = locations["W01"], locations["S01"], locations["S02"]
    made: dict[str, object] = {}

    transfer = Transfer.objects.filter(note=TRANSFER_NOTE).first()
    if transfer is None:
        variants = _plain_variants(TRANSFER_LINES)
        stock = _on_hand(warehouse, variants)
        quantities = [4, 6, 3, 8, 2, 5]
        for variant, quantity in zip(variants, quantities, strict=False):
            # The warehouse must hold what it ships (the inventory demo normally does).
            if stock.get(variant.pk, 0) < quantity:
                stock_receive(
                    location=warehouse,
                    variant=variant,
                    quantity=quantity - stock.get(variant.pk, 0) + 10,
                    actor=actor,
                    reference_id="demo",
                )
        transfer = transfer_create(
            source=warehouse,
            destination=paris,
            lines=[
                LineInput(variant=v, quantity=q) for v, q in zip(variants, quantities, strict=False)
            ],
            actor=actor,
            note=TRANSFER_NOTE,
        )
        transfer_ship(transfer=transfer, actor=actor)
    made["transfer"] = transfer

    stocktake = Stocktake.objects.filter(note=STOCKTAKE_NOTE).first()
    if stocktake is None:
        running = Stocktake.objects.filter(
            location=saint_germain, status=Stocktake.Status.COUNTING
        ).first()
        if running is None:
            stocktake = stocktake_start(location=saint_germain, actor=actor, note=STOCKTAKE_NOTE)
            variants = _plain_variants(COUNTED_LINES, offset=TRANSFER_LINES)
            stock = _on_hand(saint_germain, variants)
            # Mostly right, one short and one over, as a real recount goes.
            for index, variant in enumerate(variants):
                expected = max(stock.get(variant.pk, 0), 0)
                counted = expected - 1 if index == 1 and expected else expected
                counted = counted + 2 if index == 3 else counted
                stocktake_count(stocktake=stocktake, actor=actor, variant=variant, counted=counted)
        else:
            stocktake = running
    made["stocktake"] = stocktake
    return made
