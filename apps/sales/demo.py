"""Demo sales: 60 days of orders across the stores and the online shop, with returns,
pickups in every state and a few short-stock sales, so reports have something to show.

Online orders, pickups and returns go through the sales services; POS days are written
in bulk with one ledger call per store and day (see _store_day), so stock and ledger
agree and the seed stays fast. Deterministic (random.Random(seed)) and idempotent: it does nothing
when the demo tills already have orders.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import ApiClient
from apps.accounts.services import api_client_script_create
from apps.catalog.models import Variant
from apps.core.money import round_money
from apps.inventory.ledger import Actor, Reason, StockChange, levels_lock, stock_apply
from apps.stores.models import Location

from .models import Order, OrderLine, Payment
from .pricing import variants_priced_at
from .services import (
    PaymentInput,
    ReturnLineInput,
    SaleLineInput,
    online_order_place,
    order_numbers_allocate,
    pickup_expire,
    pickup_transition,
    return_record,
)

DEMO_NAMESPACE = uuid.UUID("5a1e5d3e-0000-4000-8000-00000000d3e0")
DEMO_TILL = "Demo till"
DEMO_SHOP = "Demo online shop"
DAYS = 60
STORE_SALES_PER_DAY = (3, 6)  # per store, random in range
ONLINE_ORDERS_PER_DAY = (1, 2)
RETURN_RATE = 0.02
STOCK_TARGET = 25  # per SKU and store: more than 60 demo days sell of each


def _client(kind: str, name: str, location: Location | None) -> ApiClient:
    existing = ApiClient.objects.filter(kind=kind, name=name, location=location).first()
    if existing:
        return existing
    return api_client_script_create(kind=kind, name=name, location=location)[0]


def _topup(locations: list[Location], variants: list[Variant]) -> None:
    """Receive stock where the demo sells it, up to a target (one ledger call per store)."""
    for location in locations:
        levels = levels_lock([(location.pk, v.pk) for v in variants])
        changes = [
            StockChange(level.variant_id, level.location_id, Reason.RECEIPT, on_hand=need)
            for level in levels.values()
            if (need := STOCK_TARGET - level.on_hand) > 0
        ]
        if changes:
            stock_apply(
                changes=changes, actor=Actor(), reference_type="demo", reference_id="receipt"
            )


def _payments(rng: random.Random, total: Decimal) -> list[PaymentInput]:
    method = rng.choice(["card", "card", "card", "cash", "store_credit", "voucher"])
    if method == "cash":
        paid = (total / 5).to_integral_value(rounding="ROUND_CEILING") * 5 if total else total
        return [PaymentInput("cash", Decimal(paid))]
    return [PaymentInput(method, total)]


@transaction.atomic
def seed(locations: dict[str, Location], *, seed: int = 5) -> int:
    """Returns how many orders exist from the demo tills afterwards."""
    stores = [loc for code, loc in sorted(locations.items()) if loc.kind == Location.Kind.STORE]
    tills = {loc.pk: _client(ApiClient.Kind.POS_DEVICE, DEMO_TILL, loc) for loc in stores}
    shop = _client(ApiClient.Kind.INTEGRATION, DEMO_SHOP, None)
    demo_clients = [*tills.values(), shop]
    existing = Order.objects.filter(created_by__in=demo_clients).count()
    if existing:
        return existing
    variants = list(
        Variant.objects.filter(active=True, product__active=True, tracking="none")
        .select_related("product")
        .order_by("sku")[:120]
    )
    if not variants or not stores:
        return 0
    rng = random.Random(seed)
    ids = iter(uuid.uuid5(DEMO_NAMESPACE, str(n)) for n in range(10**7))
    today = timezone.localdate()
    tz = timezone.get_current_timezone()
    _topup(stores, variants)
    prices = {
        store.pk: variants_priced_at(location=store, skus=[v.sku for v in variants])
        for store in stores
    }
    sold: list[Order] = []
    for day_offset in range(DAYS, 0, -1):
        day = today - timedelta(days=day_offset)
        for store in stores:
            sold += _store_day(
                rng, store, tills[store.pk], day, tz, variants, prices[store.pk], ids
            )
        for _ in range(rng.randint(*ONLINE_ORDERS_PER_DAY)):
            store = rng.choice(stores)
            picks = rng.sample(variants, rng.choice([1, 2]))
            lines = [SaleLineInput(v.sku, 1) for v in picks]
            order = online_order_place(
                client=shop,
                client_id=next(ids),
                pickup_location=store.code,
                lines=lines,
                payments=[PaymentInput("card", sum((v.price for v in picks), Decimal("0")) * 2)],
            )
            # The service stamps "now"; the demo places it on its day.
            placed = timezone.make_aware(datetime.combine(day, time(rng.randint(7, 22), 0)), tz)
            Order.objects.filter(pk=order.pk).update(occurred_at=placed)
            fate = rng.random()
            till = tills[store.pk]
            if day_offset > 3 or fate < 0.5:
                if fate < 0.75:
                    pickup_transition(client=till, number=order.number, to=Order.Status.READY)
                    pickup_transition(client=till, number=order.number, to=Order.Status.COLLECTED)
                    sold.append(order)
                elif fate < 0.9:
                    pickup_transition(client=till, number=order.number, to=Order.Status.CANCELLED)
                else:
                    Order.objects.filter(pk=order.pk).update(
                        pickup_expires_at=timezone.now() - timedelta(minutes=1)
                    )
                    pickup_expire(order_id=order.pk)
            elif fate < 0.8:
                pickup_transition(client=till, number=order.number, to=Order.Status.READY)
    _returns(rng, sold, stores, tills, ids)
    return Order.objects.filter(created_by__in=demo_clients).count()


def _store_day(rng, store, till, day, tz, variants, priced, ids) -> list[Order]:
    """One store's POS day in bulk: the orders, their lines and payments in three
    inserts, and their stock in one ledger call (reference: the store's day), which
    keeps the seed fast while stock and ledger still agree. Priced with the same rule
    as pricing.price_lines (location price, rounded per line)."""
    count = rng.randint(*STORE_SALES_PER_DAY)
    numbers = order_numbers_allocate(location=store, count=count)
    orders, lines, payments, changes = [], [], [], []
    for number in numbers:
        at = timezone.make_aware(
            datetime.combine(day, time(rng.randint(9, 19), rng.randint(0, 59))), tz
        )
        picks = rng.sample(variants, rng.choice([1, 1, 2, 2, 3]))
        order_lines = []
        for position, variant in enumerate(picks):
            quantity = rng.choice([1, 1, 1, 2])
            unit_price = round_money(priced[variant.sku].effective_price)
            order_lines.append(
                OrderLine(
                    position=position,
                    variant=variant,
                    sku=variant.sku,
                    name=variant.name or variant.product.name,
                    quantity=quantity,
                    unit_price=unit_price,
                    total=round_money(unit_price * quantity),
                )
            )
            changes.append(StockChange(variant.pk, store.pk, Reason.SALE, on_hand=-quantity))
        total = sum((line.total for line in order_lines), Decimal("0"))
        order = Order(
            channel=Order.Channel.POS,
            location=store,
            number=number,
            client_id=next(ids),
            created_by=till,
            occurred_at=at,
            status=Order.Status.COMPLETED,
            subtotal=total,
            total=total,
            closed_at=at,
        )
        orders.append((order, order_lines, _payments(rng, total)))
    Order.objects.bulk_create([order for order, _, _ in orders])
    for order, order_lines, order_payments in orders:
        for line in order_lines:
            line.order = order
            lines.append(line)
        payments += [Payment(order=order, method=p.method, amount=p.amount) for p in order_payments]
    OrderLine.objects.bulk_create(lines)
    Payment.objects.bulk_create(payments)
    stock_apply(
        changes=changes,
        actor=Actor.of(till),
        reference_type="demo_sales",
        reference_id=f"{store.code}-{day.isoformat()}",
        allow_short=True,
    )
    return [order for order, _, _ in orders]


def _returns(rng, sold, stores, tills, ids) -> None:
    for order in rng.sample(sold, int(len(sold) * RETURN_RATE)):
        line = order.lines.order_by("position").first()
        at = rng.choice(stores)  # cross-store returns happen too
        amount = round_money(line.total / line.quantity)
        return_record(
            client=tills[at.pk],
            client_id=next(ids),
            sale_number=order.number,
            lines=[ReturnLineInput(line.pk, 1)],
            refunds=[PaymentInput("card", amount)],
            reason=rng.choice(["Wrong size", "Changed mind", "Faulty", "Gift"]),
            restock=rng.random() > 0.15,
        )
