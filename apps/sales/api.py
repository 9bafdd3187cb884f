"""POS and online-shop endpoints of the sales app (shared/pos-api.md: Pricing, Sales,
Returns, Online orders and pickups). Thin: validate, call one service, serialize."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import exception_handler
from apps.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from apps.core.idempotency import RecordKey, idempotent

from . import selectors, services
from .models import Order, Payment
from .pricing import LineInput, price_lines
from .sale_fast import sale_record_alone

logger = logging.getLogger(__name__)

PICKUP_STEPS = {
    "ready": Order.Status.READY,
    "collect": Order.Status.COLLECTED,
    "cancel": Order.Status.CANCELLED,
}


# --- input --------------------------------------------------------------------------------


# Bounds keep absurd numbers a 400, never a database overflow (500).
MAX_QUANTITY = 100_000
MAX_ID = 2**62


class LineIn(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(max_value=MAX_QUANTITY)
    lot = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    serials = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list
    )


class PaymentIn(serializers.Serializer):
    method = serializers.ChoiceField(choices=Payment.Method.choices)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class QuoteIn(serializers.Serializer):
    lines = LineIn(many=True, allow_empty=False)
    member = serializers.CharField(max_length=40, required=False, allow_null=True, default=None)
    coupons = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class ClientTotalsIn(serializers.Serializer):
    # Payments must cover it, so a negative total would record a sale paying nothing.
    total = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)


class SaleIn(QuoteIn):
    client_id = serializers.UUIDField()
    occurred_at = serializers.DateTimeField()
    associate = serializers.CharField(max_length=40, required=False, allow_null=True, default=None)
    points_to_redeem = serializers.IntegerField(
        min_value=0,
        required=False,
        default=0,
        help_text="Until loyalty exists no member has points: anything but 0 is 400 "
        "insufficient_points.",
    )
    payments = PaymentIn(many=True)
    offline = serializers.BooleanField(required=False, default=False)
    client_totals = ClientTotalsIn(required=False, allow_null=True, default=None)
    # Added field: the return this sale is the new half of (an exchange).
    exchange_of = serializers.CharField(required=False, allow_null=True, default=None)


class SyncIn(serializers.Serializer):
    sales = serializers.ListField(child=serializers.DictField(), max_length=500)


class ReturnLineIn(serializers.Serializer):
    line_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    quantity = serializers.IntegerField(max_value=MAX_QUANTITY)


class ReturnIn(serializers.Serializer):
    client_id = serializers.UUIDField()
    sale = serializers.CharField(max_length=30)
    lines = ReturnLineIn(many=True, allow_empty=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    refund = PaymentIn(many=True)
    restock = serializers.BooleanField(required=False, default=True)


class OnlineOrderIn(serializers.Serializer):
    client_id = serializers.UUIDField()
    pickup_location = serializers.CharField(max_length=20)
    lines = LineIn(many=True, allow_empty=False)
    member = serializers.CharField(max_length=40, required=False, allow_null=True, default=None)
    coupons = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    payments = PaymentIn(many=True)


def _valid(serializer_class, data) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- the sale body without the serializer -------------------------------------------------
# Building and running SaleIn's nested serializers cost more CPU than the rest of a sale's
# validation. `_sale_fast` reads the common body by hand and returns exactly what SaleIn
# would (leaf values go through the same DRF fields); anything unusual returns None and
# SaleIn runs instead, so every refusal keeps the serializer's error body.

_UUID = serializers.UUIDField()
_DATETIME = serializers.DateTimeField()
_AMOUNT = PaymentIn().fields["amount"]
_METHODS = frozenset(Payment.Method.values)


def _plain_text(value, max_length: int, *, blank: bool = False) -> bool:
    """A string DRF's CharField would keep unchanged: no surrounding blanks, no control
    character, within max_length, not blank unless allowed."""
    return (
        type(value) is str
        and len(value) <= max_length
        and (blank or value != "")
        and value.isascii()
        and value.isprintable()
        and value == value.strip()
    )


def _int(value, low: int | None = None, high: int | None = None) -> bool:
    return type(value) is int and (low is None or value >= low) and (high is None or value <= high)


def _sale_fast(body) -> dict[str, Any] | None:
    """SaleIn's validated_data for a plain sale body, or None (use SaleIn)."""
    if type(body) is not dict:
        return None
    lines, payments = body.get("lines"), body.get("payments")
    if type(lines) is not list or not lines or type(payments) is not list:
        return None
    get = body.get
    optional_texts = (get("member"), get("associate"))
    if any(v is not None and not _plain_text(v, 40) for v in optional_texts):
        return None
    coupons = get("coupons", [])
    if type(coupons) is not list or not all(_plain_text(c, 10_000) for c in coupons):
        return None
    points, offline = get("points_to_redeem", 0), get("offline", False)
    if not _int(points, low=0) or type(offline) is not bool:
        return None
    if get("client_totals") is not None or get("exchange_of") is not None:
        return None
    client_id, occurred_at = get("client_id"), get("occurred_at")
    if type(client_id) is not str or type(occurred_at) is not str or not occurred_at:
        return None
    data_lines = []
    for line in lines:
        if type(line) is not dict:
            return None
        sku, quantity = line.get("sku"), line.get("quantity")
        lot, serials = line.get("lot", ""), line.get("serials", [])
        if not _plain_text(sku, 64) or not _int(quantity, high=MAX_QUANTITY):
            return None
        if not _plain_text(lot, 64, blank=True) or type(serials) is not list:
            return None
        if not all(_plain_text(serial, 100) for serial in serials):
            return None
        data_lines.append({"sku": sku, "quantity": quantity, "lot": lot, "serials": serials})
    data_payments = []
    for payment in payments:
        if type(payment) is not dict:
            return None
        method, amount = payment.get("method"), payment.get("amount")
        reference = payment.get("reference", "")
        if type(method) is not str or method not in _METHODS:
            return None
        if type(amount) not in (str, int) or not _plain_text(reference, 100, blank=True):
            return None
        data_payments.append({"method": method, "amount": amount, "reference": reference})
    try:
        for payment in data_payments:
            payment["amount"] = _AMOUNT.run_validation(payment["amount"])
        client_uuid = _UUID.run_validation(client_id)
        occurred = _DATETIME.run_validation(occurred_at)
    except serializers.ValidationError:
        return None
    return {
        "lines": data_lines,
        "member": optional_texts[0],
        "coupons": coupons,
        "client_id": client_uuid,
        "occurred_at": occurred,
        "associate": optional_texts[1],
        "points_to_redeem": points,
        "payments": data_payments,
        "offline": offline,
        "client_totals": None,
        "exchange_of": None,
    }


def _line_inputs(lines) -> list[services.SaleLineInput]:
    return [
        services.SaleLineInput(
            sku=line["sku"],
            quantity=line["quantity"],
            lot=line.get("lot", ""),
            serials=tuple(line.get("serials", ())),
        )
        for line in lines
    ]


def _payment_inputs(payments) -> list[services.PaymentInput]:
    return [
        services.PaymentInput(p["method"], p["amount"], p.get("reference", "")) for p in payments
    ]


# --- output -------------------------------------------------------------------------------
# The serializers below document the bodies in the OpenAPI schema; the views build the
# same bodies with the plain functions after them (cheaper on the hot sale path).


class QuoteLineOut(serializers.Serializer):
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount = serializers.DecimalField(max_digits=12, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    promotions = serializers.ListField(child=serializers.CharField())


class PromotionOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)


class GiftOut(serializers.Serializer):
    sku = serializers.CharField()
    quantity = serializers.IntegerField()


class QuoteOut(serializers.Serializer):
    lines = QuoteLineOut(many=True)
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount_total = serializers.DecimalField(max_digits=12, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    promotions = PromotionOut(many=True)
    gifts = GiftOut(many=True)
    points_to_earn = serializers.IntegerField()


class SaleLineOut(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount = serializers.DecimalField(max_digits=12, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    quantity_returned = serializers.IntegerField()


class PaymentOut(serializers.Serializer):
    method = serializers.ChoiceField(choices=Payment.Method.choices)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    reference = serializers.CharField()


class SaleOut(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    client_id = serializers.UUIDField(allow_null=True)
    channel = serializers.ChoiceField(choices=Order.Channel.choices)
    location = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=Order.Status.choices)
    lines = SaleLineOut(many=True)
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount_total = serializers.DecimalField(max_digits=12, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    payments = PaymentOut(many=True)
    member = serializers.CharField(allow_null=True)
    points_earned = serializers.IntegerField()
    points_redeemed = serializers.IntegerField()
    associate = serializers.CharField(allow_null=True)
    attribution = serializers.ChoiceField(choices=["served", "bound"], allow_null=True)
    offline = serializers.BooleanField()
    needs_review = serializers.BooleanField()
    pickup_expires_at = serializers.DateTimeField(
        required=False, help_text="Online orders only: the end of the pickup window."
    )


class ErrorItemOut(serializers.Serializer):
    field = serializers.CharField()
    code = serializers.CharField()
    detail = serializers.CharField()


class ErrorOut(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    errors = ErrorItemOut(many=True)


class SyncResultOut(serializers.Serializer):
    client_id = serializers.CharField(allow_null=True)
    status = serializers.IntegerField()
    sale = SaleOut(required=False)
    error = ErrorOut(required=False)


class SyncOut(serializers.Serializer):
    results = SyncResultOut(many=True)


class ReturnLineOut(serializers.Serializer):
    line_id = serializers.IntegerField()
    quantity = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    restocked = serializers.BooleanField()


class RefundOut(serializers.Serializer):
    method = serializers.ChoiceField(choices=Payment.Method.choices)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)


class ReturnOut(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    sale = serializers.CharField()
    location = serializers.CharField()
    lines = ReturnLineOut(many=True)
    refund_total = serializers.DecimalField(max_digits=12, decimal_places=2)
    refund = RefundOut(many=True)
    points_reversed = serializers.IntegerField()


class PickupListOut(serializers.Serializer):
    results = SaleOut(many=True)


def _money(value) -> str:
    return f"{value:.2f}"


def order_as_dict(order: Order) -> dict[str, Any]:
    """The contract's Sale (and the Order of online orders), plus added fields."""
    body = {
        "id": order.pk,
        "number": order.number,
        "client_id": str(order.client_id) if order.client_id else None,
        "channel": order.channel,
        "location": order.location.code,
        "occurred_at": order.occurred_at.isoformat(),
        "received_at": order.received_at.isoformat(),
        "status": order.status,
        "lines": [
            {
                "id": line.pk,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": _money(line.unit_price),
                "discount": _money(line.discount),
                "total": _money(line.total),
                "quantity_returned": line.quantity_returned,
            }
            for line in order.lines.all()
        ],
        "subtotal": _money(order.subtotal),
        "discount_total": _money(order.discount_total),
        "total": _money(order.total),
        "payments": [
            {"method": p.method, "amount": _money(p.amount), "reference": p.reference}
            for p in order.payments.all()
        ],
        "member": order.member,
        "points_earned": order.points_earned,
        "points_redeemed": order.points_redeemed,
        "associate": order.associate,
        "attribution": order.attribution,
        "offline": order.offline,
        "needs_review": order.needs_review,
    }
    if order.channel == Order.Channel.ONLINE:
        body["pickup_expires_at"] = (
            order.pickup_expires_at.isoformat() if order.pickup_expires_at else None
        )
    return body


def return_as_dict(record) -> dict[str, Any]:
    return {
        "id": record.pk,
        "number": record.number,
        "sale": record.sale.number,
        "location": record.location.code,
        "lines": [
            {
                "line_id": line.order_line_id,
                "quantity": line.quantity,
                "amount": _money(line.amount),
                "restocked": line.restocked,
            }
            for line in record.lines.all()
        ],
        "refund_total": _money(record.refund_total),
        "refund": [{"method": r.method, "amount": _money(r.amount)} for r in record.refunds.all()],
        "points_reversed": record.points_reversed,
    }


# --- views --------------------------------------------------------------------------------


class QuoteView(APIView):
    @extend_schema(request=QuoteIn, responses={200: QuoteOut, 400: ErrorOut})
    def post(self, request):
        data = _valid(QuoteIn, request.data)
        location = request.user.location
        if location is None:
            raise ValidationFailed("An integration has no location to price at.")
        quote = price_lines(
            location=location,
            lines=[LineInput(line["sku"], line["quantity"]) for line in data["lines"]],
            member=data["member"],
            coupons=data["coupons"],
        )
        return Response(quote.as_dict())


def _sale_create(client, body) -> tuple[int, Any]:
    """Validate and record one sale body idempotently: (status, body)."""
    services.pos_device_location(client)
    parsed: list[dict[str, Any] | None] = []  # _sale_fast(body), once, when first needed

    def plain() -> dict[str, Any] | None:
        if not parsed:
            parsed.append(_sale_fast(body))
        return parsed[0]

    def common(data) -> dict[str, Any]:
        """What both ways of recording a sale take from its validated body."""
        return {
            "client": client,
            "client_id": data["client_id"],
            "occurred_at": data["occurred_at"],
            "lines": _line_inputs(data["lines"]),
            "payments": _payment_inputs(data["payments"]),
            "member": data["member"],
            "associate": data["associate"],
            "coupons": data["coupons"],
            "offline": data["offline"],
        }

    def create():
        data = plain() or _valid(SaleIn, body)
        client_totals = data.get("client_totals") or {}
        order = services.sale_record(
            **common(data),
            client_total=client_totals.get("total"),
            exchange_of=data["exchange_of"],
            points_to_redeem=data["points_to_redeem"],
        )
        return 201, order_as_dict(order)

    def create_alone(record: RecordKey) -> tuple[int, Any] | None:
        # PostgreSQL, a plain sale: the whole write in one statement (sale_fast).
        data = plain()
        if data is None or data["points_to_redeem"]:
            return None
        done = sale_record_alone(**common(data), record=record, render=order_as_dict)
        return None if done is None else (201, done)

    return idempotent(
        client=client, scope="sales", body=body, create=create, create_alone=create_alone
    )


class SaleCreateView(APIView):
    @extend_schema(request=SaleIn, responses={201: SaleOut, 400: ErrorOut, 409: ErrorOut})
    def post(self, request):
        status, body = _sale_create(request.user, request.data)
        return Response(body, status=status)


_SERVER_ERROR_BODY = {
    "code": "server_error",
    "detail": "The server could not record this sale; it was logged. Send it again later.",
    "errors": [],
}


class SaleSyncView(APIView):
    """An offline queue, replayed in order; each item stands alone."""

    @extend_schema(request=SyncIn, responses={200: SyncOut, 400: ErrorOut})
    def post(self, request):
        services.pos_device_location(request.user)
        data = _valid(SyncIn, request.data)
        results = []
        for item in data["sales"]:
            client_id = item.get("client_id")
            try:
                status, body = _sale_create(request.user, item)
                results.append({"client_id": client_id, "status": status, "sale": body})
            except (DomainError, APIException) as error:
                response = exception_handler(error, {})
                results.append(
                    {"client_id": client_id, "status": response.status_code, "error": response.data}
                )
            except DatabaseError:
                # A bug, not the client's fault: logged, and this item alone answers 500 so
                # the results of the others are not lost (each item is its own transaction).
                logger.exception("Sync of sale %s failed", client_id)
                results.append({"client_id": client_id, "status": 500, "error": _SERVER_ERROR_BODY})
        return Response({"results": results})


class SaleDetailView(APIView):
    @extend_schema(responses={200: SaleOut, 404: ErrorOut})
    def get(self, request, number: str):
        order = selectors.order_get_for_client(client=request.user, number=number)
        return Response(order_as_dict(order))


class ReturnCreateView(APIView):
    @extend_schema(request=ReturnIn, responses={201: ReturnOut, 400: ErrorOut, 404: ErrorOut})
    def post(self, request):
        client = request.user
        services.pos_device_location(client)

        def create():
            data = _valid(ReturnIn, request.data)
            record = services.return_record(
                client=client,
                client_id=data["client_id"],
                sale_number=data["sale"],
                lines=[
                    services.ReturnLineInput(line["line_id"], line["quantity"])
                    for line in data["lines"]
                ],
                refunds=_payment_inputs(data["refund"]),
                reason=data["reason"],
                restock=data["restock"],
            )
            return 201, return_as_dict(record)

        status, body = idempotent(client=client, scope="returns", body=request.data, create=create)
        return Response(body, status=status)


class OnlineOrderCreateView(APIView):
    @extend_schema(
        request=OnlineOrderIn, responses={201: SaleOut, 400: ErrorOut, 403: ErrorOut, 409: ErrorOut}
    )
    def post(self, request):
        client = request.user
        services.integration_require(client)

        def create():
            data = _valid(OnlineOrderIn, request.data)
            order = services.online_order_place(
                client=client,
                client_id=data["client_id"],
                pickup_location=data["pickup_location"],
                lines=_line_inputs(data["lines"]),
                payments=_payment_inputs(data["payments"]),
                member=data["member"],
                coupons=data["coupons"],
            )
            return 201, order_as_dict(order)

        status, body = idempotent(
            client=client, scope="online-orders", body=request.data, create=create
        )
        return Response(body, status=status)


class PickupListView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=list(Order.Status.values)[1:])],
        responses={200: PickupListOut},
    )
    def get(self, request):
        client = request.user
        location = services.pos_device_location(client)
        status = request.query_params.get("status") or None
        if status is not None and status not in Order.Status.values:
            raise ValidationFailed.for_field("status", f"Unknown status {status!r}.")
        orders = selectors.pickup_list(location=location, status=status)
        return Response({"results": [order_as_dict(order) for order in orders]})


class PickupTransitionView(APIView):
    @extend_schema(request=None, responses={200: SaleOut, 404: ErrorOut, 409: ErrorOut})
    def post(self, request, number: str, step: str):
        if step not in PICKUP_STEPS:
            raise NotFound()
        if not getattr(request.user, "is_pos_device", False):
            raise PermissionDenied("Only a POS device at the pickup store may do this.")
        order = services.pickup_transition(
            client=request.user, number=number, to=PICKUP_STEPS[step]
        )
        return Response(order_as_dict(order))
