"""Reads of the sales app, scoped by who asks (apps.stores.selectors)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from apps.core.errors import NotFound
from apps.inventory.models import Discrepancy, Movement
from apps.stores.models import Location
from apps.stores.selectors import location_list_visible

from .models import Order, OrderLine, Return

PICKUP_LIST_LIMIT = 200


def order_get_for_client(*, client, number: str) -> Order:
    """An order an API client may read (pos-api.md: GET /sales/<number>): any location's
    POS sale, for cross-store returns; an online order only for the devices of its pickup
    location and for integrations of its channel. Anything else is NotFound, so a device
    cannot learn another store's pickups (member, payment references)."""
    visible = Q(channel=Order.Channel.POS)
    if getattr(client, "is_pos_device", False):
        visible |= Q(channel=Order.Channel.ONLINE, location_id=client.location_id)
    elif getattr(client, "is_api_client", False):
        visible |= Q(channel=client.channel)
    order = (
        Order.objects.select_related("location")
        .prefetch_related("lines", "payments")
        .filter(visible, number=number)
        .first()
    )
    if order is None:
        raise NotFound(f"No sale {number!r}.")
    return order


def pickup_list(*, location: Location, status: str | None = None) -> list[Order]:
    """Online orders to pick up at a location: open ones first by expiry, bounded."""
    queryset = (
        Order.objects.filter(location=location, channel=Order.Channel.ONLINE)
        .select_related("location")
        .prefetch_related("lines", "payments")
    )
    if status:
        queryset = queryset.filter(status=status)
    return list(queryset.order_by("pickup_expires_at", "id")[:PICKUP_LIST_LIMIT])


def _day_start(day: date, tz) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), tz)


def order_list_visible(
    *,
    actor,
    channel: str | None = None,
    location_code: str | None = None,
    status: str | None = None,
    member: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Order]:
    """Orders at the locations the actor may see, newest first, filtered."""
    queryset = Order.objects.filter(location__in=location_list_visible(actor)).select_related(
        "location"
    )
    if channel:
        queryset = queryset.filter(channel=channel)
    if location_code:
        queryset = queryset.filter(location__code=location_code)
    if status:
        queryset = queryset.filter(status=status)
    if member:
        queryset = queryset.filter(member=member)
    tz = timezone.get_current_timezone()
    if date_from:
        queryset = queryset.filter(occurred_at__gte=_day_start(date_from, tz))
    if date_to and date_to < date.max:
        queryset = queryset.filter(occurred_at__lt=_day_start(date_to + timedelta(days=1), tz))
    return queryset.order_by("-occurred_at", "-id")


def order_get_visible(*, actor, number: str) -> Order:
    order = (
        Order.objects.filter(location__in=location_list_visible(actor), number=number)
        .select_related("location", "exchange_of")
        .prefetch_related(
            "lines",
            "payments",
            Prefetch(
                "returns",
                queryset=Return.objects.select_related("location").prefetch_related(
                    Prefetch("lines"), "refunds"
                ),
            ),
        )
        .first()
    )
    if order is None:
        raise NotFound(f"No order {number!r}.")
    return order


def order_movements(*, order: Order) -> list[Movement]:
    """The ledger rows the order and its returns wrote."""
    return_numbers = [r.number for r in order.returns.all()]
    movements = Movement.objects.filter(
        reference_type__in=("sale", "order"), reference_id=order.number
    ) | Movement.objects.filter(reference_type="return", reference_id__in=return_numbers)
    return list(movements.select_related("variant", "location").order_by("id"))


def discrepancy_list_visible(*, actor, status: str | None = Discrepancy.Status.OPEN):
    queryset = Discrepancy.objects.filter(
        level__location__in=location_list_visible(actor)
    ).select_related("level__variant", "level__location", "reviewed_by")
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at", "-id")


def pickup_board(*, location: Location) -> dict[str, list[Order]]:
    """Columns of the pickups board: reserved, ready, collected today."""
    today = _day_start(timezone.localdate(), timezone.get_current_timezone())
    open_or_collected_today = Q(status__in=[Order.Status.RESERVED, Order.Status.READY]) | Q(
        status=Order.Status.COLLECTED, closed_at__gte=today
    )
    orders = Order.objects.filter(
        open_or_collected_today, location=location, channel=Order.Channel.ONLINE
    ).order_by("pickup_expires_at", "id")
    board: dict[str, list[Order]] = {"reserved": [], "ready": [], "collected": []}
    orders = list(orders[: PICKUP_LIST_LIMIT * 3])
    lines_by_order: dict[int, list[OrderLine]] = {}
    for line in OrderLine.objects.filter(order__in=[o.pk for o in orders]):
        lines_by_order.setdefault(line.order_id, []).append(line)
    for order in orders:
        order.board_lines = lines_by_order.get(order.pk, [])
        board[order.status].append(order)
    return board
