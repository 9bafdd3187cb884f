"""Every write of the sales app: POS sales, online orders and pickups, returns.

Stock moves only through the inventory services (stock_sell, stock_reserve, stock_collect,
stock_release, stock_restock, all on the stock_apply ledger), in the same transaction as
the order rows, with ("sale" | "order" | "return", <number>) as the ledger reference.
Each service is atomic; the API layer adds idempotency (apps.core.idempotency) around
the creating ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from apps.accounts.models import ApiClient
from apps.catalog.models import Variant
from apps.core.errors import (
    InactiveSku,
    InsufficientStock,
    InvalidTransition,
    NotFound,
    NotReturnable,
    PermissionDenied,
    ValidationFailed,
)
from apps.core.events import event_append, location_stream
from apps.core.money import ZERO, round_money
from apps.core.rows import prepared_cursor, rows_insert
from apps.inventory.ledger import Actor
from apps.inventory.models import StockLevel
from apps.inventory.services import (
    SellLine,
    stock_collect,
    stock_release,
    stock_reserve,
    stock_restock,
    stock_sell,
)
from apps.stores.models import Location
from apps.stores.selectors import location_list_visible

from .models import Counter, Order, OrderLine, Payment, Refund, Return, ReturnLine
from .pricing import MAX_AMOUNT, LineInput, Quote, price_lines

Status = Order.Status


@dataclass(frozen=True)
class SaleLineInput:
    sku: str
    quantity: int
    lot: str = ""
    serials: tuple[str, ...] = ()


@dataclass(frozen=True)
class PaymentInput:
    method: str
    amount: Decimal
    reference: str = ""


@dataclass(frozen=True)
class ReturnLineInput:
    line_id: int
    quantity: int


@dataclass
class _Review:
    reasons: list[str] = field(default_factory=list)

    def add(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)


# --- numbers ------------------------------------------------------------------------------

_COUNTER_SQL = "UPDATE sales_counter SET last = last + %s WHERE name = %s RETURNING last"


def _counter_next(name: str, count: int = 1) -> int:
    """Take `count` numbers of a counter; return the last. The row lock is held until
    the caller commits, so numbers are unique and follow commit order."""
    with prepared_cursor() as cursor:
        cursor.execute(_COUNTER_SQL, [count, name])
        row = cursor.fetchone()
        if row is None:
            Counter.objects.bulk_create([Counter(name=name)], ignore_conflicts=True)
            cursor.execute(_COUNTER_SQL, [count, name])
            row = cursor.fetchone()
    return row[0]


def order_numbers_allocate(*, location: Location, count: int) -> list[str]:
    last = _counter_next(f"order.{location.code}", count)
    return [f"{location.code}-{n:06d}" for n in range(last - count + 1, last + 1)]


def order_number_allocate(*, location: Location) -> str:
    return f"{location.code}-{_counter_next(f'order.{location.code}'):06d}"


def return_number_allocate(*, location: Location) -> str:
    return f"{location.code}-R{_counter_next(f'return.{location.code}'):06d}"


# --- shared checks --------------------------------------------------------------------------


def pos_device_location(client) -> Location:
    if not getattr(client, "is_api_client", False) or client.kind != ApiClient.Kind.POS_DEVICE:
        raise PermissionDenied("Only a POS device may do this.")
    return client.location


def integration_require(client) -> None:
    if not getattr(client, "is_api_client", False) or client.kind != ApiClient.Kind.INTEGRATION:
        raise PermissionDenied("Only an integration (the online shop) may place online orders.")


def _payments_check(payments: Sequence[PaymentInput], total: Decimal) -> None:
    methods = set(Payment.Method.values)
    for index, payment in enumerate(payments):
        if payment.method not in methods:
            raise ValidationFailed.for_field(
                f"payments.{index}.method", f"Unknown payment method {payment.method!r}."
            )
        if payment.amount < 0:
            raise ValidationFailed.for_field(
                f"payments.{index}.amount", "A payment cannot be negative."
            )
    paid = sum((payment.amount for payment in payments), ZERO)
    if paid > MAX_AMOUNT:
        raise ValidationFailed.for_field(
            "payments", f"Payments ({paid:.2f}) add up to more than {MAX_AMOUNT}."
        )
    if paid < total:
        raise ValidationFailed.for_field(
            "payments", f"Payments ({paid:.2f}) do not cover the total ({total:.2f})."
        )


def _order_lines(order: Order, quote: Quote, lines: Sequence[SaleLineInput]) -> list[OrderLine]:
    rows = [
        OrderLine(
            order=order,
            position=position,
            variant=priced.variant,
            sku=priced.sku,
            name=priced.variant.name or priced.variant.product.name,
            quantity=priced.quantity,
            unit_price=priced.unit_price,
            discount=priced.discount,
            total=priced.total,
            lot=line.lot,
            serials=list(line.serials),
        )
        for position, (priced, line) in enumerate(zip(quote.lines, lines, strict=True))
    ]
    rows_insert(rows)
    return rows


def _children_keep(order: Order, lines: list[OrderLine], payments: list[Payment]) -> None:
    """Keep the rows just written as the order's prefetched lines and payments, so the
    response is serialized without reading them back."""
    cached = {}
    for name, rows in (("lines", lines), ("payments", payments)):
        # A QuerySet with its result cache filled, as prefetch_related leaves it, so
        # order.lines.filter()/order_by() still work (a plain list would not).
        queryset = getattr(order, name).all()
        queryset._result_cache = list(rows)
        queryset._prefetch_done = True
        cached[name] = queryset
    order._prefetched_objects_cache = cached


def _payments_create(order: Order, payments: Sequence[PaymentInput]) -> list[Payment]:
    rows = [
        Payment(order=order, method=p.method, amount=p.amount, reference=p.reference)
        for p in payments
    ]
    rows_insert(rows)
    return rows


# --- POS sales ----------------------------------------------------------------------------


# No savepoint when nested (the API's idempotent() transaction): an error inside rolls
# the whole transaction back anyway, and a savepoint is two more round trips per sale.
@transaction.atomic(savepoint=False)
def sale_record(
    *,
    client: ApiClient,
    client_id: uuid.UUID,
    occurred_at: datetime,
    lines: Sequence[SaleLineInput],
    payments: Sequence[PaymentInput],
    member: str | None = None,
    associate: str | None = None,
    coupons: Sequence[str] = (),
    offline: bool = False,
    client_total: Decimal | None = None,
    exchange_of: str | None = None,
    points_to_redeem: int = 0,
) -> Order:
    """Record a POS sale at the device's location.

    The goods are in the customer's hand, so the sale is recorded even when the system
    count is short (a Discrepancy is raised by the ledger) or a SKU is inactive; both
    flag the order for review. An offline sale whose client total differs from the
    server's price is recorded with the client's total and flagged; payments must
    still cover it. Until loyalty exists no member has points, so any points_to_redeem
    is refused with `insufficient_points`.
    Raises PermissionDenied, UnknownSku, ValidationFailed, NotFound (exchange_of).
    """
    location = pos_device_location(client)
    if points_to_redeem:
        raise ValidationFailed.for_field(
            "points_to_redeem",
            f"Not enough points to redeem {points_to_redeem}: the member has 0.",
            code="insufficient_points",
        )
    if client_total is not None and not ZERO <= client_total <= MAX_AMOUNT:
        raise ValidationFailed.for_field(
            "client_totals.total", f"A total must be between 0.00 and {MAX_AMOUNT}."
        )
    quote = price_lines(
        location=location,
        lines=[LineInput(line.sku, line.quantity) for line in lines],
        member=member,
        coupons=coupons,
    )
    review = _Review()
    inactive = [line.sku for line in quote.lines if not line.sellable]
    if inactive:
        review.add(f"inactive SKU sold: {', '.join(inactive)}")
    total, server_total = quote.total, None
    if offline and client_total is not None and client_total != quote.total:
        total, server_total = client_total, quote.total
        review.add(f"offline total {client_total:.2f} differs from {quote.total:.2f}")
    _payments_check(payments, total)
    exchanged = None
    if exchange_of:
        exchanged = Return.objects.filter(number=exchange_of).first()
        if exchanged is None:
            raise NotFound(f"No return {exchange_of!r} to exchange.")
    number = order_number_allocate(location=location)
    # Lots leave first-expiring first; serials must be in stock here (400 otherwise).
    applied = stock_sell(
        location=location,
        lines=[
            SellLine(priced.variant, priced.quantity, line.lot or None, line.serials)
            for priced, line in zip(quote.lines, lines, strict=True)
        ],
        actor=client,
        reference_type="sale",
        reference_id=number,
    )
    if applied.shortfalls:
        review.add("sold more than the system count")
    order = Order(
        channel=Order.Channel.POS,
        location=location,
        number=number,
        client_id=client_id,
        created_by=client,
        occurred_at=occurred_at,
        status=Status.COMPLETED,
        subtotal=quote.subtotal if server_total is None else total,
        discount_total=quote.discount_total if server_total is None else ZERO,
        total=total,
        server_total=server_total,
        member=member,
        associate=associate,
        offline=offline,
        needs_review=bool(review.reasons),
        review_reason="; ".join(review.reasons)[:255],
        exchange_of=exchanged,
        closed_at=timezone.now(),
    )
    rows_insert([order])
    _children_keep(order, _order_lines(order, quote, lines), _payments_create(order, payments))
    return order


# --- online orders and pickups ------------------------------------------------------------


def pickup_window() -> timedelta:
    return timedelta(hours=getattr(settings, "OMO_PICKUP_WINDOW_HOURS", 72))


def _alternatives(*, exclude: Location, needed: dict[int, int]) -> list[dict]:
    """Other active stores that have every line available, in one query."""
    condition = Q()
    for variant_id, quantity in needed.items():
        condition |= Q(variant_id=variant_id, available__gte=quantity)
    rows = (
        StockLevel.objects.filter(condition)
        .filter(location__active=True, location__kind=Location.Kind.STORE)
        .exclude(location=exclude)
        .values("location__code")
        .annotate(lines=Count("id"), available=Min("available"))
        .filter(lines=len(needed))
        .order_by("-available", "location__code")
    )
    return [{"location": row["location__code"], "available": row["available"]} for row in rows]


def _pickup_event(order: Order) -> None:
    event_append(
        stream=location_stream(order.location.code),
        type="pickup",
        payload={"number": order.number, "status": order.status},
    )


@transaction.atomic
def online_order_place(
    *,
    client: ApiClient,
    client_id: uuid.UUID,
    pickup_location: str,
    lines: Sequence[SaleLineInput],
    payments: Sequence[PaymentInput],
    member: str | None = None,
    coupons: Sequence[str] = (),
) -> Order:
    """Place an online order for pickup, reserving every line at the store or nothing.

    Raises PermissionDenied, ValidationFailed, UnknownSku, InactiveSku and
    InsufficientStock (with `alternatives`: other stores that could serve all lines).
    """
    integration_require(client)
    location = Location.objects.filter(
        code=pickup_location, active=True, kind=Location.Kind.STORE
    ).first()
    if location is None:
        raise ValidationFailed.for_field(
            "pickup_location", f"{pickup_location!r} is not a store open for pickups."
        )
    quote = price_lines(
        location=location,
        lines=[LineInput(line.sku, line.quantity) for line in lines],
        member=member,
        coupons=coupons,
    )
    for index, priced in enumerate(quote.lines):
        if not priced.sellable:
            raise InactiveSku.for_field(
                f"lines.{index}.sku", f"{priced.sku} is not sold any more.", code="inactive_sku"
            )
    _payments_check(payments, quote.total)
    number = order_number_allocate(location=location)
    needed: dict[int, int] = {}
    for priced in quote.lines:
        needed[priced.variant.pk] = needed.get(priced.variant.pk, 0) + priced.quantity
    try:
        stock_reserve(
            location=location,
            lines=[(priced.variant, priced.quantity) for priced in quote.lines],
            actor=client,
            reference_type="order",
            reference_id=number,
        )
    except InsufficientStock as error:
        raise InsufficientStock(
            f"Not enough stock at {location.code} for this order.",
            errors=error.errors,
            extra={**error.extra, "alternatives": _alternatives(exclude=location, needed=needed)},
        ) from error
    now = timezone.now()
    order = Order.objects.create(
        channel=Order.Channel.ONLINE,
        location=location,
        number=number,
        client_id=client_id,
        created_by=client,
        occurred_at=now,
        status=Status.RESERVED,
        subtotal=quote.subtotal,
        discount_total=quote.discount_total,
        total=quote.total,
        member=member,
        pickup_expires_at=now + pickup_window(),
    )
    _children_keep(order, _order_lines(order, quote, lines), _payments_create(order, payments))
    _pickup_event(order)
    return order


_ALLOWED = {
    Status.READY: {Status.RESERVED},
    Status.COLLECTED: {Status.RESERVED, Status.READY},
    Status.CANCELLED: {Status.RESERVED, Status.READY},
    Status.EXPIRED: {Status.RESERVED, Status.READY},
}


def _pickup_lock(*, number: str, location: Location | None) -> Order:
    queryset = Order.objects.select_for_update().filter(number=number, channel=Order.Channel.ONLINE)
    if location is not None:
        queryset = queryset.filter(location=location)
    order = queryset.first()
    if order is None:
        raise NotFound(f"No pickup {number!r} here.")
    return order


def _still_reserved(order: Order) -> tuple[list[tuple[Variant, int]], list[str]]:
    """The order's units per variant, cut to what its location still has reserved, and
    the cut lines ("SKU kept/ordered").

    A POS sale at a location that forbids negative stock may have taken units set aside
    for pickups (the shelf is the truth; the ledger cut `reserved` and raised a
    Discrepancy), so an order may find fewer reserved units than it holds. The levels
    stay locked until commit, so nothing cuts them between this read and the move.
    """
    ordered: dict[int, int] = {}
    variants: dict[int, Variant] = {}
    for line in order.lines.select_related("variant"):
        ordered[line.variant_id] = ordered.get(line.variant_id, 0) + line.quantity
        variants[line.variant_id] = line.variant
    reserved = dict(
        StockLevel.objects.select_for_update()
        .filter(location_id=order.location_id, variant_id__in=sorted(ordered))
        .order_by("variant_id")
        .values_list("variant_id", "reserved")
    )
    lines: list[tuple[Variant, int]] = []
    cut: list[str] = []
    for variant_id, quantity in sorted(ordered.items()):
        units = min(quantity, reserved.get(variant_id, 0))
        if units < quantity:
            cut.append(f"{variants[variant_id].sku} {units}/{quantity}")
        if units:
            lines.append((variants[variant_id], units))
    return lines, cut


def _pickup_move(order: Order, to: str, actor) -> Order:
    """Ready, collect, cancel or expire a pickup. Closing it releases (or collects) what
    is still reserved for it; where a sale took some of its reserved units, the order
    closes all the same and is flagged for review instead of being stuck open.
    Raises InvalidTransition."""
    if order.status not in _ALLOWED[to]:
        raise InvalidTransition(f"Order {order.number} is {order.status}; it cannot become {to}.")
    now = timezone.now()
    if to in (Status.COLLECTED, Status.CANCELLED, Status.EXPIRED):
        lines, cut = _still_reserved(order)
        move = stock_collect if to == Status.COLLECTED else stock_release
        if lines:
            move(
                location=order.location,
                lines=lines,
                actor=actor,
                reference_type="order",
                reference_id=order.number,
            )
        if cut:
            reasons = [r for r in order.review_reason.split("; ") if r]
            reasons.append(f"{to} with reservation cut by a sale: {', '.join(cut)}")
            order.needs_review = True
            order.review_reason = "; ".join(reasons)[:255]
        order.closed_at = now
    else:
        order.ready_at = now
    order.status = to
    order.save(update_fields=["status", "closed_at", "ready_at", "needs_review", "review_reason"])
    _pickup_event(order)
    return order


@transaction.atomic
def pickup_transition(*, client: ApiClient, number: str, to: str) -> Order:
    """Move a pickup at the device's own location: ready, collected or cancelled.

    Raises PermissionDenied, NotFound (not a pickup of this location), InvalidTransition.
    """
    location = pos_device_location(client)
    if to not in (Status.READY, Status.COLLECTED, Status.CANCELLED):
        raise ValidationFailed(f"Unknown pickup step {to!r}.")
    order = _pickup_lock(number=number, location=location)
    order.location = location
    return _pickup_move(order, to, client)


@transaction.atomic
def pickup_transition_by_user(*, user, number: str, to: str) -> Order:
    """The same from the back-office pickups board, for a location the user manages or
    works at (associates run the counter)."""
    order = _pickup_lock(number=number, location=None)
    if not location_list_visible(user).filter(pk=order.location_id).exists():
        raise NotFound(f"No pickup {number!r} here.")
    if to not in (Status.READY, Status.COLLECTED, Status.CANCELLED):
        raise ValidationFailed(f"Unknown pickup step {to!r}.")
    return _pickup_move(order, to, user)


@transaction.atomic
def pickup_expire(*, order_id: int, now: datetime | None = None) -> bool:
    """Expire one pickup past its window and release its stock; safe to run twice."""
    now = now or timezone.now()
    order = Order.objects.select_for_update().select_related("location").filter(pk=order_id).first()
    if order is None or not order.is_pickup_open or not order.pickup_expires_at:
        return False
    if order.pickup_expires_at > now:
        return False
    _pickup_move(order, Status.EXPIRED, Actor())
    return True


# --- returns ------------------------------------------------------------------------------


def refund_share(
    line: OrderLine,
    returned_before: int,
    quantity: int,
    *,
    paid_total: Decimal | None = None,
    server_total: Decimal | None = None,
) -> Decimal:
    """Pro rata of the line's total (after its discounts). Telescoping differences of
    rounded cumulative shares, so returning a line in parts refunds exactly its total.

    An offline sale recorded at the client's total (`paid_total`) instead of the server's
    price (`server_total`) refunds its lines scaled by paid_total / server_total."""
    scaled = paid_total is not None and server_total is not None and server_total > 0

    def share(units: int) -> Decimal:
        if scaled:
            return round_money(line.total * units * paid_total / (line.quantity * server_total))
        return round_money(line.total * units / line.quantity)

    return share(returned_before + quantity) - share(returned_before)


def _refunds_cap(amounts: dict[int, Decimal], left: Decimal) -> None:
    """Take what the line shares exceed `left` (what the customer paid, less earlier
    refunds) off the last lines, so no sale refunds more in all than was paid."""
    excess = sum(amounts.values(), ZERO) - left
    for line_id in sorted(amounts, reverse=True):
        if excess <= 0:
            return
        taken = min(excess, amounts[line_id])
        amounts[line_id] -= taken
        excess -= taken


@transaction.atomic
def return_record(
    *,
    client: ApiClient,
    client_id: uuid.UUID,
    sale_number: str,
    lines: Sequence[ReturnLineInput],
    refunds: Sequence[PaymentInput],
    reason: str = "",
    restock: bool = True,
) -> Return:
    """Return lines of any sale (any location, any channel) at the device's location.

    Refund per line: its total pro rata of the quantity (scaled to the client's total
    when an offline sale was recorded at it), and never more in all than the sale's
    total less earlier refunds; the refunds by method must sum to exactly that.
    Raises PermissionDenied, NotFound, NotReturnable, ValidationFailed.
    """
    location = pos_device_location(client)
    # The sale row is locked first (then its lines): concurrent returns of one sale
    # queue here, so the cap on what is refunded in all sees every earlier return.
    sale = Order.objects.select_for_update().filter(number=sale_number).first()
    if sale is None:
        raise NotFound(f"No sale {sale_number!r}.")
    if sale.status not in (Status.COMPLETED, Status.COLLECTED):
        raise NotReturnable(f"Order {sale.number} is {sale.status}: nothing was handed over.")
    if not lines:
        raise ValidationFailed.for_field("lines", "At least one line is required.")
    wanted: dict[int, int] = {}
    for index, line in enumerate(lines):
        if line.quantity <= 0:
            raise ValidationFailed.for_field(
                f"lines.{index}.quantity", "Quantity must be a whole number above zero."
            )
        wanted[line.line_id] = wanted.get(line.line_id, 0) + line.quantity
    # Lock the sale's lines in id order: concurrent returns of one line queue here.
    locked = {
        line.pk: line
        for line in OrderLine.objects.select_for_update(of=("self",))
        .select_related("variant")
        .filter(order=sale, pk__in=wanted)
        .order_by("pk")
    }
    for index, line in enumerate(lines):
        order_line = locked.get(line.line_id)
        if order_line is None:
            raise NotReturnable.for_field(
                f"lines.{index}.line_id",
                f"Line {line.line_id} is not part of sale {sale.number}.",
                code="not_returnable",
            )
        if order_line.quantity_returned + wanted[line.line_id] > order_line.quantity:
            left = order_line.quantity - order_line.quantity_returned
            raise NotReturnable.for_field(
                f"lines.{index}.quantity",
                f"Only {left} of {order_line.sku} can still be returned.",
                code="not_returnable",
            )
    paid_total = sale.total if sale.server_total is not None else None
    amounts = {
        line_id: refund_share(
            locked[line_id],
            locked[line_id].quantity_returned,
            quantity,
            paid_total=paid_total,
            server_total=sale.server_total,
        )
        for line_id, quantity in wanted.items()
    }
    refunded_before = Return.objects.filter(sale=sale).aggregate(total=Sum("refund_total"))
    _refunds_cap(amounts, max(sale.total - (refunded_before["total"] or ZERO), ZERO))
    refund_total = sum(amounts.values(), ZERO)
    for index, refund in enumerate(refunds):
        if refund.method not in Payment.Method.values:
            raise ValidationFailed.for_field(
                f"refund.{index}.method", f"Unknown refund method {refund.method!r}."
            )
        if refund.amount < 0:
            raise ValidationFailed.for_field(
                f"refund.{index}.amount", "A refund cannot be negative."
            )
    refunded = sum((refund.amount for refund in refunds), ZERO)
    if refunded != refund_total:
        raise ValidationFailed.for_field(
            "refund", f"Refunds ({refunded:.2f}) must equal the refund total ({refund_total:.2f})."
        )

    number = return_number_allocate(location=location)
    restocked = []
    for line_id in sorted(wanted):
        line, quantity = locked[line_id], wanted[line_id]
        # Serial-tracked: the next serials of the line not returned yet come back.
        serials = line.serials[line.quantity_returned : line.quantity_returned + quantity]
        restocked.append(SellLine(line.variant, quantity, line.lot or None, tuple(serials)))
    stock_restock(
        location=location,
        lines=restocked,
        actor=client,
        reference_type="return",
        reference_id=number,
        damaged=not restock,
    )
    for line_id, quantity in wanted.items():
        locked[line_id].quantity_returned += quantity
    OrderLine.objects.bulk_update(list(locked.values()), ["quantity_returned"])
    record = Return.objects.create(
        number=number,
        sale=sale,
        location=location,
        client_id=client_id,
        created_by=client,
        reason=reason[:255],
        restock=restock,
        refund_total=refund_total,
    )
    record.location = location
    ReturnLine.objects.bulk_create(
        [
            ReturnLine(
                return_record=record,
                order_line=locked[line_id],
                quantity=quantity,
                amount=amounts[line_id],
                restocked=restock,
            )
            for line_id, quantity in wanted.items()
        ]
    )
    Refund.objects.bulk_create(
        [
            Refund(return_record=record, method=r.method, amount=r.amount, reference=r.reference)
            for r in refunds
        ]
    )
    return record
