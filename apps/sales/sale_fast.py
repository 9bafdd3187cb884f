"""A plain POS sale on PostgreSQL in one statement (the function of migration 0003).

`sale_record` writes a sale in a dozen round trips inside a transaction that holds the
location's order counter and stock stream locks throughout; `sale_record_alone` writes
the same rows, and the idempotency record of its response, with one call of
`sales_sale_record_fast`, which commits by itself. It prices and checks the sale with
the same functions as `sale_record` (so a refusal is the same error), and returns None,
having written nothing, for anything it does not cover: then the caller runs the
general path. Covered: a sale at the device's location of active, untracked variants
(no lot, no serial), each once, that the stock on hand covers, with no client total,
exchange or points. Everything else (a shortfall and its discrepancy, inactive SKUs,
lots and serials, offline totals) is the general path's.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models.base import ModelState
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from apps.accounts.models import ApiClient
from apps.catalog.models import Variant
from apps.core.idempotency import RecordKey
from apps.core.rows import prepared_cursor
from apps.inventory.ledger import (
    FAST_PATH_MAX_LEVELS,
    QUANTITY_MAX,
    Actor,
    Reason,
    StockChange,
    stock_fast_applied,
    stock_fast_encoded,
)

from .models import Order, OrderLine, Payment
from .pricing import LineInput, price_lines
from .services import (
    PaymentInput,
    SaleLineInput,
    _payments_check,
    pos_device_location,
)

_SQL = (
    "SELECT * FROM sales_sale_record_fast(%s, %s, %s::jsonb, %s, %s, %s::jsonb, %s::jsonb,"
    " %s::jsonb, %s, %s, %s, %s, %s::jsonb)"
)
# Raised by the function when the ledger refuses its fast path: nothing was written.
_LEDGER_REFUSED = "OMO01"
_CREATED = 201


def _refused(error: DatabaseError) -> bool:
    return getattr(error.__cause__, "sqlstate", None) == _LEDGER_REFUSED


@functools.cache
def _fields(model) -> tuple:
    return tuple((field.attname, field) for field in model._meta.concrete_fields)


def _unsaved(model, **values):
    """An instance to render, not to save: every concrete field at its default, then
    `values` (attnames), without Model.__init__'s per-field descriptor work (a POS
    sale's order, lines and payments cost more to build than the rest of its checks)."""
    instance = model.__new__(model)
    instance.__dict__.update({name: field.get_default() for name, field in _fields(model)})
    instance.__dict__.update(values)
    instance._state = ModelState()
    return instance


def sale_record_alone(
    *,
    client: ApiClient,
    client_id: uuid.UUID,
    occurred_at: datetime,
    lines: Sequence[SaleLineInput],
    payments: Sequence[PaymentInput],
    member: str | None,
    associate: str | None,
    coupons: Sequence[str],
    offline: bool,
    record: RecordKey,
    render: Callable[[Order], dict[str, Any]],
) -> Any | None:
    """Record a plain POS sale and the idempotency record of its response (`render` of
    the order, status 201) in one statement: the stored response body, or None when this
    path does not apply (nothing written; run `sale_record`).
    Raises what `sale_record` raises for the same input (UnknownSku, ValidationFailed),
    and IntegrityError when a concurrent replay of the same client_id won."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or db.in_atomic_block or not db.get_autocommit():
        return None
    location = pos_device_location(client)
    if not lines or len(lines) > FAST_PATH_MAX_LEVELS:
        return None
    if any(line.lot or line.serials for line in lines):
        return None
    quote = price_lines(
        location=location,
        lines=[LineInput(line.sku, line.quantity) for line in lines],
        member=member,
        coupons=coupons,
    )
    variants = [priced.variant for priced in quote.lines]
    if (
        any(not priced.sellable or priced.quantity > QUANTITY_MAX for priced in quote.lines)
        or any(variant.tracking != Variant.Tracking.NONE for variant in variants)
        or len({variant.pk for variant in variants}) != len(variants)
    ):
        return None
    _payments_check(payments, quote.total)

    now = timezone.now()
    # The values only the database knows (ids, the number) are rendered as this token,
    # unguessable by the client, and the text cut there for the function to fill in.
    token = uuid.uuid4().hex
    order = _unsaved(
        Order,
        id=token,
        channel=Order.Channel.POS,
        location_id=location.pk,
        number=token,
        client_id=client_id,
        created_by_id=client.pk,
        occurred_at=occurred_at,
        received_at=now,
        status=Order.Status.COMPLETED,
        subtotal=quote.subtotal,
        discount_total=quote.discount_total,
        total=quote.total,
        member=member,
        associate=associate,
        offline=offline,
        closed_at=now,
    )
    order._state.fields_cache["location"] = location
    order_lines = [
        _unsaved(
            OrderLine,
            id=token,
            order_id=token,
            position=position,
            variant_id=priced.variant.pk,
            sku=priced.sku,
            name=priced.variant.name or priced.variant.product.name,
            quantity=priced.quantity,
            unit_price=priced.unit_price,
            discount=priced.discount,
            total=priced.total,
            lot="",
            serials=[],
        )
        for position, priced in enumerate(quote.lines)
    ]
    order_payments = [
        _unsaved(Payment, order_id=token, method=p.method, amount=p.amount, reference=p.reference)
        for p in payments
    ]
    # Read by `render` through order.lines.all() and order.payments.all().
    order._prefetched_objects_cache = {"lines": order_lines, "payments": order_payments}
    pieces = json.dumps(render(order), cls=JSONEncoder).split(f'"{token}"')
    if len(pieces) != len(order_lines) + 3:
        return None  # a body that does not show each id and the number once
    changes = [
        StockChange(variant.pk, location.pk, Reason.SALE, on_hand=-priced.quantity)
        for variant, priced in zip(variants, quote.lines, strict=True)
    ]
    parameters = [
        location.pk,
        location.code,
        stock_fast_encoded(changes),
        client.pk,
        now,
        json.dumps(
            {
                "client_id": str(client_id),
                "occurred_at": occurred_at.isoformat(),
                "subtotal": str(quote.subtotal),
                "discount_total": str(quote.discount_total),
                "total": str(quote.total),
                "member": member,
                "associate": associate,
                "offline": offline,
            }
        ),
        json.dumps(
            [
                [
                    line.variant_id,
                    line.sku,
                    line.name,
                    line.quantity,
                    str(line.unit_price),
                    str(line.discount),
                    str(line.total),
                    "",
                    [],
                ]
                for line in order_lines
            ]
        ),
        json.dumps([[p.method, str(p.amount), p.reference] for p in order_payments]),
        record.scope,
        record.key,
        record.fingerprint,
        _CREATED,
        json.dumps(pieces),
    ]
    try:
        with prepared_cursor(db) as cursor:
            cursor.execute(_SQL, parameters)
            rows = cursor.fetchall()
    except DatabaseError as error:
        if _refused(error):
            return None
        raise
    order_id, number, line_ids = rows[0][0], rows[0][1], rows[0][2]
    stock_fast_applied(changes, [row[3:] for row in rows], Actor.of(client), "sale", number, now)
    text = pieces[0] + str(order_id) + pieces[1] + json.dumps(number)
    for piece, line_id in zip(pieces[2:-1], line_ids, strict=True):
        text += piece + str(line_id)
    return json.loads(text + pieces[-1])
