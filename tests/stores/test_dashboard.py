"""The location dashboard: exact figures, the tiles fragment, the chart data, scope."""

import json
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.inventory.models import Discrepancy, StockAlert, StockLevel, Transfer
from apps.reports.selectors import dashboard_tiles, revenue_by_day, top_products_week
from apps.sales.models import Order, OrderLine
from tests.factories import LocationFactory, VariantFactory

PARIS = ZoneInfo("Europe/Paris")
# Wednesday 11 March 2026, 12:00 in Paris (11:00 UTC).
NOW = datetime(2026, 3, 11, 12, 0, tzinfo=PARIS)
numbers = count(1)


def order(location, *, total, at, channel="pos", status=None, closed_at=None, lines=()):
    status = status or (
        Order.Status.COMPLETED if channel == Order.Channel.POS else Order.Status.RESERVED
    )
    created = Order.objects.create(
        channel=channel,
        location=location,
        number=f"T-{next(numbers)}",
        occurred_at=at,
        status=status,
        subtotal=Decimal(total),
        total=Decimal(total),
        closed_at=closed_at,
    )
    for position, (variant, quantity, line_total) in enumerate(lines, start=1):
        OrderLine.objects.create(
            order=created,
            position=position,
            variant=variant,
            sku=variant.sku,
            name=variant.product.name,
            quantity=quantity,
            unit_price=Decimal(line_total) / quantity,
            total=Decimal(line_total),
        )
    return created


@pytest.fixture
def day_of_orders(store_a, store_b):
    """Store A (Paris) on NOW's day: what counts as today's sales and what does not."""
    yesterday_late = datetime(2026, 3, 10, 23, 30, tzinfo=PARIS)  # 22:30 UTC, same UTC day
    today_early = datetime(2026, 3, 11, 0, 10, tzinfo=PARIS)  # 23:10 UTC the day before
    order(store_a, total="100.00", at=yesterday_late)
    order(store_a, total="30.00", at=today_early)
    order(store_a, total="12.50", at=NOW - timedelta(hours=1))
    # Online, placed yesterday, collected here this morning: a sale of today.
    order(
        store_a,
        total="20.00",
        at=yesterday_late,
        channel="online",
        status=Order.Status.COLLECTED,
        closed_at=NOW - timedelta(hours=2),
    )
    # Collected yesterday evening (local): yesterday's.
    order(
        store_a,
        total="7.00",
        at=yesterday_late - timedelta(hours=3),
        channel="online",
        status=Order.Status.COLLECTED,
        closed_at=yesterday_late,
    )
    order(store_a, total="40.00", at=NOW, channel="online", status=Order.Status.RESERVED)
    order(store_a, total="41.00", at=NOW, channel="online", status=Order.Status.RESERVED)
    order(store_a, total="42.00", at=NOW, channel="online", status=Order.Status.READY)
    order(store_a, total="43.00", at=NOW, channel="online", status=Order.Status.CANCELLED)
    order(store_b, total="999.00", at=NOW)
    order(store_b, total="50.00", at=NOW, channel="online", status=Order.Status.READY)


def test_sales_today_follow_the_location_timezone(day_of_orders, store_a):
    tiles = dashboard_tiles(location=store_a, now=NOW)

    assert tiles.day.isoformat() == "2026-03-11"
    # 30.00 + 12.50 (POS today) + 20.00 (collected today); not the 23:30 sale of yesterday.
    assert tiles.sales_count == 3
    assert tiles.revenue == Decimal("62.50")
    assert tiles.average_basket == Decimal("20.83")
    assert (tiles.pickups_reserved, tiles.pickups_ready, tiles.pickups_waiting) == (2, 1, 3)


def test_sales_today_in_another_timezone_shift_the_day(day_of_orders, store_a):
    # NOW is 07:00 in New York; the 00:10 Paris sale was 19:10 there the evening before.
    store_a.timezone = "America/New_York"
    tiles = dashboard_tiles(location=store_a, now=NOW)

    assert tiles.day.isoformat() == "2026-03-11"
    assert tiles.sales_count == 2
    assert tiles.revenue == Decimal("32.50")  # 12.50 (POS, 06:00) + 20.00 (collected 05:00)


def test_empty_location_has_zero_and_no_basket(store_a):
    tiles = dashboard_tiles(location=store_a, now=NOW)

    assert (tiles.sales_count, tiles.revenue, tiles.average_basket) == (0, Decimal("0.00"), None)
    assert (tiles.pickups_waiting, tiles.low_stock, tiles.open_discrepancies) == (0, 0, 0)
    assert tiles.transfers_in_transit == 0


def test_stock_tiles_count_only_this_location(store_a, store_b):
    warehouse = LocationFactory(code="WH1", kind="warehouse")
    variants = [VariantFactory(sku=f"SKU-{n}") for n in range(3)]
    levels_a = [StockLevel.objects.create(variant=v, location=store_a) for v in variants]
    level_b = StockLevel.objects.create(variant=variants[0], location=store_b)
    StockAlert.objects.create(level=levels_a[0], available_when_raised=1, reorder_point=2)
    StockAlert.objects.create(level=levels_a[1], available_when_raised=0, reorder_point=2)
    StockAlert.objects.create(
        level=levels_a[2], available_when_raised=0, reorder_point=2, status="resolved"
    )
    StockAlert.objects.create(level=level_b, available_when_raised=0, reorder_point=2)
    Discrepancy.objects.create(level=levels_a[0], quantity_short=2)
    Discrepancy.objects.create(level=levels_a[1], quantity_short=1, status="reviewed")
    Discrepancy.objects.create(level=level_b, quantity_short=1)
    Transfer.objects.create(number="TR-1", source=warehouse, destination=store_a, status="shipped")
    Transfer.objects.create(number="TR-2", source=store_b, destination=store_a, status="shipped")
    Transfer.objects.create(number="TR-3", source=warehouse, destination=store_a, status="draft")
    Transfer.objects.create(number="TR-4", source=warehouse, destination=store_a, status="received")
    Transfer.objects.create(number="TR-5", source=store_a, destination=store_b, status="shipped")

    tiles = dashboard_tiles(location=store_a, now=NOW)

    assert (tiles.low_stock, tiles.open_discrepancies, tiles.transfers_in_transit) == (2, 1, 2)


def test_revenue_by_day_buckets_local_days_by_channel(day_of_orders, store_a):
    chart = revenue_by_day(location=store_a, now=NOW)

    assert len(chart["labels"]) == len(chart["pos"]) == len(chart["online"]) == 30
    assert chart["labels"][0] == "2026-02-10"
    assert chart["labels"][-2:] == ["2026-03-10", "2026-03-11"]
    assert chart["pos"][-2:] == ["100.00", "42.50"]
    assert chart["online"][-2:] == ["7.00", "20.00"]
    assert set(chart["pos"][:-2]) == set(chart["online"][:-2]) == {"0.00"}


def test_revenue_by_day_ignores_older_days(store_a):
    order(store_a, total="5.00", at=datetime(2026, 2, 9, 23, 59, tzinfo=PARIS))
    order(store_a, total="6.00", at=datetime(2026, 2, 10, 0, 0, tzinfo=PARIS))

    chart = revenue_by_day(location=store_a, now=NOW)

    assert chart["pos"][0] == "6.00"
    assert sum(Decimal(value) for value in chart["pos"]) == Decimal("6.00")


def test_top_products_since_monday(store_a, store_b):
    tee, cap, mug = (VariantFactory(sku=sku) for sku in ("TEE-M", "CAP-1", "MUG-2"))
    monday = datetime(2026, 3, 9, 9, 0, tzinfo=PARIS)
    order(store_a, total="59.70", at=monday, lines=[(tee, 3, "59.70")])
    order(store_a, total="37.50", at=NOW, lines=[(cap, 3, "37.50")])
    order(store_a, total="19.90", at=NOW, lines=[(tee, 1, "19.90")])
    # Last Sunday, another store, a reservation not collected: none count.
    order(store_a, total="99.00", at=monday - timedelta(hours=10), lines=[(mug, 9, "99.00")])
    order(store_b, total="99.00", at=NOW, lines=[(mug, 9, "99.00")])
    order(
        store_a,
        total="99.00",
        at=NOW,
        channel="online",
        status=Order.Status.READY,
        lines=[(mug, 9, "99.00")],
    )

    rows = top_products_week(location=store_a, now=NOW)

    assert [(row["sku"], row["quantity"], row["revenue"]) for row in rows] == [
        ("TEE-M", 4, Decimal("79.60")),
        ("CAP-1", 3, Decimal("37.50")),
    ]


def _orders_now(location, how_many):
    now = timezone.now()
    variant = VariantFactory()
    for _ in range(how_many):
        order(location, total="10.00", at=now, lines=[(variant, 1, "10.00")])
        order(location, total="5.00", at=now, channel="online", status=Order.Status.READY)


def test_dashboard_page_has_tiles_chart_data_and_table(client, manager_a, store_a):
    _orders_now(store_a, 2)
    client.force_login(manager_a)

    response = client.get(f"/stores/{store_a.code}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="tile-sales-count">2<' in html
    assert 'data-testid="tile-sales-revenue">20.00<' in html
    assert 'data-testid="tile-basket-value">10.00<' in html
    assert 'data-testid="tile-pickups-value">2<' in html
    assert f'href="/stock/{store_a.code}/?low=1"' in html
    assert 'href="/orders/pickups/"' in html
    assert "chart-4.6.1.umd.min.js" in html and "js/dashboard.js" in html
    chart = json.loads(html.split('id="revenue-data" type="application/json">')[1].split("<")[0])
    today = timezone.now().astimezone(PARIS).date().isoformat()
    assert chart["labels"][-1] == today
    assert chart["pos"][-1] == "20.00" and chart["online"][-1] == "0.00"
    assert response.context["top_products"][0]["quantity"] == 2


def test_tiles_fragment_is_only_the_tiles(client, manager_a, store_a):
    _orders_now(store_a, 1)
    client.force_login(manager_a)

    response = client.get(f"/stores/{store_a.code}/", HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="dashboard-tiles"')
    assert "<html" not in html and "revenue-data" not in html
    # Refetched on the location stream's events (debounced), polled only while offline.
    assert (
        'hx-trigger="dashboard-changed from:body delay:500ms, '
        'every 30s [!window.OmoDashboardLive]"' in html
    )
    assert 'data-testid="tile-sales-count">1<' in html


@pytest.mark.parametrize("fragment", [False, True])
def test_dashboard_queries_do_not_grow_with_orders(
    client, manager_a, store_a, django_assert_max_num_queries, fragment
):
    headers = {"HTTP_HX_REQUEST": "true"} if fragment else {}
    client.force_login(manager_a)
    client.get(f"/stores/{store_a.code}/")  # session settles on this location
    _orders_now(store_a, 5)
    limit = 8 if fragment else 13
    with django_assert_max_num_queries(limit):
        assert client.get(f"/stores/{store_a.code}/", **headers).status_code == 200
    _orders_now(store_a, 45)
    with django_assert_max_num_queries(limit):
        response = client.get(f"/stores/{store_a.code}/", **headers)
    assert 'data-testid="tile-sales-count">50<' in response.content.decode()


def test_another_stores_manager_gets_404(client, manager_b, store_a):
    client.force_login(manager_b)

    assert client.get(f"/stores/{store_a.code}/").status_code == 404
    assert client.get(f"/stores/{store_a.code}/", HTTP_HX_REQUEST="true").status_code == 404


def test_associate_sees_the_dashboard_read_only(client, associate_a, store_a):
    _orders_now(store_a, 1)
    client.force_login(associate_a)

    response = client.get(f"/stores/{store_a.code}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="tile-sales-count">1<' in html
    assert 'data-testid="devices-link"' not in html
    assert "hx-post" not in html
