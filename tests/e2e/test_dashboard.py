"""The location dashboard in a real browser: the chart draws, and a POS sale made
through the API moves the "sales today" tile without a reload."""

import json
import urllib.request
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from apps.inventory.models import StockLevel
from tests.e2e.threads import run_elsewhere
from tests.factories import VariantFactory, integration, pos_device


def receive(variant, location, quantity):
    with transaction.atomic():
        stock_apply(
            changes=[StockChange(variant.pk, location.pk, Reason.RECEIPT, on_hand=quantity)],
            actor=Actor(),
        )


def post_json(server, path, key, body):
    """POST over real HTTP to the live server, as a till or the online shop would."""
    # The URL is the test's own live server (http://127.0.0.1:<port>).
    request = urllib.request.Request(  # noqa: S310
        f"{server.url}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def pos_sale(server, key, sku, quantity, amount):
    body = {
        "client_id": str(uuid.uuid4()),
        "occurred_at": (timezone.now() - timedelta(seconds=5)).isoformat(),
        "lines": [{"sku": sku, "quantity": quantity}],
        "payments": [{"method": "card", "amount": amount}],
    }
    return post_json(server, "/api/v1/sales", key, body)[0]


def test_dashboard_chart_and_live_sales_tile(login, asgi_server, manager_a, store_a):
    tee = VariantFactory(sku="TEE-M", price="19.90")
    receive(tee, store_a, 10)
    _, key = pos_device(store_a)
    assert pos_sale(asgi_server, key, "TEE-M", 1, "19.90") == 201

    page = login(manager_a)
    page.goto(f"{asgi_server.url}/stores/{store_a.code}/")
    expect(page.get_by_test_id("tile-sales-count")).to_have_text("1")
    expect(page.get_by_test_id("tile-sales-revenue")).to_have_text("19.90")
    expect(page.locator("[data-testid=top-products] tr[data-sku=TEE-M]")).to_be_visible()
    page.wait_for_function("() => window.Chart && Chart.getChart('revenue-chart') !== undefined")
    chart = page.evaluate(
        """() => {
          const chart = Chart.getChart('revenue-chart');
          return {
            type: chart.config.type,
            labels: chart.data.labels.length,
            stacked: chart.options.scales.y.stacked,
            series: chart.data.datasets.map((d) => [d.label, d.data[d.data.length - 1]]),
          };
        }"""
    )
    assert chart == {
        "type": "bar",
        "labels": 30,
        "stacked": True,
        "series": [["POS", 19.9], ["Online (collected here)", 0]],
    }
    expect(page.get_by_test_id("dashboard-live")).to_have_text("Live updates: on")
    page.evaluate("window.marker = 'no reload'")

    assert pos_sale(asgi_server, key, "TEE-M", 2, "39.80") == 201

    expect(page.get_by_test_id("tile-sales-count")).to_have_text("2")
    expect(page.get_by_test_id("tile-sales-revenue")).to_have_text("59.70")
    expect(page.get_by_test_id("tile-basket-value")).to_have_text("29.85")
    assert page.evaluate("window.marker") == "no reload"


def test_pickup_tiles_follow_an_online_order_live(login, asgi_server, manager_a, store_a):
    tee = VariantFactory(sku="TEE-M", price="19.90")
    receive(tee, store_a, 10)
    _, till_key = pos_device(store_a)
    _, shop_key = integration()
    page = login(manager_a)
    page.goto(f"{asgi_server.url}/stores/{store_a.code}/")
    expect(page.get_by_test_id("dashboard-live")).to_have_text("Live updates: on")
    expect(page.get_by_test_id("tile-pickups-value")).to_have_text("0")

    status, order = post_json(
        asgi_server,
        "/api/v1/online-orders",
        shop_key,
        {
            "client_id": str(uuid.uuid4()),
            "pickup_location": store_a.code,
            "lines": [{"sku": "TEE-M", "quantity": 2}],
            "payments": [{"method": "card", "amount": "39.80"}],
        },
    )
    assert status == 201

    expect(page.get_by_test_id("tile-pickups-value")).to_have_text("1")
    expect(page.get_by_test_id("tile-sales-count")).to_have_text("0")

    status, _ = post_json(asgi_server, f"/api/v1/pickups/{order['number']}/collect", till_key, {})
    assert status == 200

    # Collected here today: now a sale of this store.
    expect(page.get_by_test_id("tile-pickups-value")).to_have_text("0")
    expect(page.get_by_test_id("tile-sales-count")).to_have_text("1")
    expect(page.get_by_test_id("tile-sales-revenue")).to_have_text("39.80")


def test_low_stock_tile_follows_a_stock_change_live(login, asgi_server, manager_a, store_a):
    tee = VariantFactory(sku="TEE-M", price="19.90")
    receive(tee, store_a, 10)
    StockLevel.objects.filter(variant=tee, location=store_a).update(reorder_point=3)
    page = login(manager_a)
    page.goto(f"{asgi_server.url}/stores/{store_a.code}/")
    expect(page.get_by_test_id("dashboard-live")).to_have_text("Live updates: on")
    expect(page.get_by_test_id("tile-low-stock-value")).to_have_text("0")

    run_elsewhere(receive, tee, store_a, -8)

    expect(page.get_by_test_id("tile-low-stock-value")).to_have_text("1")
    expect(page.get_by_test_id("tile-sales-count")).to_have_text("0")
