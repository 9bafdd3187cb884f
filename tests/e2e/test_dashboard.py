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
from tests.factories import VariantFactory, pos_device


def receive(variant, location, quantity):
    with transaction.atomic():
        stock_apply(
            changes=[StockChange(variant.pk, location.pk, Reason.RECEIPT, on_hand=quantity)],
            actor=Actor(),
        )


def pos_sale(server, key, sku, quantity, amount):
    """POST /api/v1/sales over real HTTP to the live server, as a till would."""
    body = {
        "client_id": str(uuid.uuid4()),
        "occurred_at": (timezone.now() - timedelta(seconds=5)).isoformat(),
        "lines": [{"sku": sku, "quantity": quantity}],
        "payments": [{"method": "card", "amount": amount}],
    }
    # The URL is the test's own live server (http://127.0.0.1:<port>).
    request = urllib.request.Request(  # noqa: S310
        f"{server.url}/api/v1/sales",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status


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
