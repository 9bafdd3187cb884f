"""Read-only figures for the location dashboard (Overview).

"Sales" here means what was handed over at the location, counted on the location's own
calendar day (its time zone, not the server's):

- a POS sale counts on the day it happened (`occurred_at`);
- an online order counts at the store where it was picked up, on the day it was
  collected (`closed_at`); reserved, ready, cancelled and expired orders do not count.

Revenue is the orders' totals, gross: returns are not deducted. Every function takes a
location the caller already got through apps.stores.selectors (so it is in scope) and
runs a fixed number of queries, whatever the number of orders.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.core.money import ZERO, round_money
from apps.inventory.models import Discrepancy, StockAlert, Transfer
from apps.sales.models import Order, OrderLine
from apps.stores.models import Location

CHART_DAYS = 30
TOP_PRODUCTS = 10


@dataclass(frozen=True)
class DashboardTiles:
    sales_count: int
    revenue: Decimal
    average_basket: Decimal | None
    pickups_reserved: int
    pickups_ready: int
    low_stock: int
    open_discrepancies: int
    transfers_in_transit: int
    day: date

    @property
    def pickups_waiting(self) -> int:
        return self.pickups_reserved + self.pickups_ready


def location_tz(location: Location) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(location.timezone)


def location_today(location: Location, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(location_tz(location)).date()


def _day_start(day: date, tz: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def _sales_between(start: datetime, end: datetime) -> Q:
    """Orders that count as sales of the location between two instants."""
    pos = Q(
        channel=Order.Channel.POS,
        status=Order.Status.COMPLETED,
        occurred_at__gte=start,
        occurred_at__lt=end,
    )
    collected = Q(
        channel=Order.Channel.ONLINE,
        status=Order.Status.COLLECTED,
        closed_at__gte=start,
        closed_at__lt=end,
    )
    return pos | collected


def dashboard_tiles(*, location: Location, now: datetime | None = None) -> DashboardTiles:
    """The tiles' numbers for today at the location (four queries)."""
    tz = location_tz(location)
    today = location_today(location, now)
    sales = _sales_between(_day_start(today, tz), _day_start(today + timedelta(days=1), tz))
    reserved = Q(channel=Order.Channel.ONLINE, status=Order.Status.RESERVED)
    ready = Q(channel=Order.Channel.ONLINE, status=Order.Status.READY)
    orders = Order.objects.filter(sales | reserved | ready, location=location).aggregate(
        sales_count=Count("pk", filter=sales),
        revenue=Sum("total", filter=sales),
        reserved=Count("pk", filter=reserved),
        ready=Count("pk", filter=ready),
    )
    revenue = round_money(orders["revenue"] or ZERO)
    count = orders["sales_count"]
    return DashboardTiles(
        sales_count=count,
        revenue=revenue,
        average_basket=round_money(revenue / count) if count else None,
        pickups_reserved=orders["reserved"],
        pickups_ready=orders["ready"],
        low_stock=StockAlert.objects.filter(
            status=StockAlert.Status.OPEN, level__location=location
        ).count(),
        open_discrepancies=Discrepancy.objects.filter(
            status=Discrepancy.Status.OPEN, level__location=location
        ).count(),
        transfers_in_transit=Transfer.objects.filter(
            status=Transfer.Status.SHIPPED, destination=location
        ).count(),
        day=today,
    )


def revenue_by_day(
    *, location: Location, days: int = CHART_DAYS, now: datetime | None = None
) -> dict[str, list[str]]:
    """Revenue per local day over the last `days` days (today included), by channel.

    Returns {"labels": ["2026-10-26", ...], "pos": ["0.00", ...], "online": [...]}: the
    amounts as strings, so the JSON carries exact decimals (two queries).
    """
    tz = location_tz(location)
    today = location_today(location, now)
    first = today - timedelta(days=days - 1)
    start, end = _day_start(first, tz), _day_start(today + timedelta(days=1), tz)
    pos = (
        Order.objects.filter(
            location=location,
            channel=Order.Channel.POS,
            status=Order.Status.COMPLETED,
            occurred_at__gte=start,
            occurred_at__lt=end,
        )
        .annotate(day=TruncDate("occurred_at", tzinfo=tz))
        .values("day")
        .annotate(revenue=Sum("total"))
        .order_by()
    )
    online = (
        Order.objects.filter(
            location=location,
            channel=Order.Channel.ONLINE,
            status=Order.Status.COLLECTED,
            closed_at__gte=start,
            closed_at__lt=end,
        )
        .annotate(day=TruncDate("closed_at", tzinfo=tz))
        .values("day")
        .annotate(revenue=Sum("total"))
        .order_by()
    )
    labels = [first + timedelta(days=offset) for offset in range(days)]

    def series(rows) -> list[str]:
        by_day = {_as_date(row["day"]): row["revenue"] or ZERO for row in rows}
        return [str(round_money(by_day.get(day, ZERO))) for day in labels]

    return {
        "labels": [day.isoformat() for day in labels],
        "pos": series(pos),
        "online": series(online),
    }


def _as_date(value) -> date:
    # SQLite hands TruncDate back as a string on some paths; PostgreSQL as a date.
    return date.fromisoformat(value) if isinstance(value, str) else value


def week_start(location: Location, now: datetime | None = None) -> date:
    """Monday of the location's current week."""
    today = location_today(location, now)
    return today - timedelta(days=today.weekday())


def top_products_week(
    *, location: Location, now: datetime | None = None, limit: int = TOP_PRODUCTS
) -> list[dict]:
    """The best sellers since Monday (local) by units, then revenue (one query).

    Rows: {"sku", "name", "quantity", "revenue"}; sales counted as in the module doc.
    """
    tz = location_tz(location)
    monday = week_start(location, now)
    end = _day_start(location_today(location, now) + timedelta(days=1), tz)
    sales = _sales_between(_day_start(monday, tz), end)
    orders = Order.objects.filter(sales, location=location).values("pk")
    rows = (
        OrderLine.objects.filter(order__in=orders)
        .values("sku")
        .annotate(name=Max("name"), quantity=Sum("quantity"), revenue=Sum("total"))
        .order_by("-quantity", "-revenue", "sku")[:limit]
    )
    return [
        {
            "sku": row["sku"],
            "name": row["name"],
            "quantity": row["quantity"],
            "revenue": round_money(row["revenue"] or ZERO),
        }
        for row in rows
    ]
