"""Main paths of the order screens in a real browser against the ASGI server."""

import json
import threading
import urllib.request
import uuid

from django.db import transaction
from playwright.sync_api import expect

from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from apps.inventory.models import Discrepancy, StockLevel
from apps.sales.models import Order
from tests.factories import VariantFactory, integration, pos_device


def receive(variant, location, quantity):
    with transaction.atomic():
        stock_apply(
            changes=[StockChange(variant.pk, location.pk, Reason.RECEIPT, on_hand=quantity)],
            actor=Actor(),
        )


def post_json(server, path, key, body):
    """POST over real HTTP to the live server, as a POS or the online shop would."""
    # The URL is the test's own live server (http://127.0.0.1:<port>).
    request = urllib.request.Request(  # noqa: S310
        f"{server.url}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def sale(server, key, sku, quantity, amount):
    return post_json(
        server,
        "/api/v1/sales",
        key,
        {
            "client_id": str(uuid.uuid4()),
            "occurred_at": "2026-11-20T10:15:00+01:00",
            "lines": [{"sku": sku, "quantity": quantity}],
            "payments": [{"method": "card", "amount": amount}],
        },
    )


def test_orders_filter_then_order_page(login, asgi_server, manager_a, store_a):
    tee = VariantFactory(sku="TEE-M", price="19.90")
    receive(tee, store_a, 10)
    _, key = pos_device(store_a)
    assert sale(asgi_server, key, "TEE-M", 2, "39.80")[0] == 201
    assert sale(asgi_server, key, "TEE-M", 1, "19.90")[0] == 201

    page = login(manager_a)
    page.goto(f"{asgi_server.url}/orders/")
    rows = page.locator("[data-testid=order-table] tbody tr[data-number]")
    expect(rows).to_have_count(2)
    page.locator("select[name=channel]").select_option("online")
    expect(page.get_by_test_id("orders-empty")).to_be_visible()
    expect(page).to_have_url(
        f"{asgi_server.url}/orders/?channel=online&location=&status=&member=&date_from=&date_to="
    )
    page.locator("select[name=channel]").select_option("pos")
    expect(rows).to_have_count(2)
    page.reload()
    expect(rows).to_have_count(2)

    page.get_by_role("link", name="SA1-000001").click()
    expect(page.get_by_test_id("order-number")).to_have_text("Order SA1-000001")
    expect(page.get_by_test_id("order-total")).to_have_text("39.80")
    expect(page.locator("[data-testid=order-movements] tbody tr")).to_have_count(1)
    expect(page.get_by_test_id("order-movements")).to_contain_text("sale SA1-000001")


def test_pickups_board_updates_live_then_ready_and_collect(login, asgi_server, manager_a, store_a):
    tee = VariantFactory(sku="TEE-M", price="19.90")
    receive(tee, store_a, 5)
    _, shop_key = integration()
    page = login(manager_a)
    page.goto(f"{asgi_server.url}/orders/pickups/")
    expect(page.get_by_test_id("pickups-live")).to_have_text("Live updates: on")
    expect(page.get_by_test_id("column-reserved")).to_contain_text("Reserved (0)")

    result = {}

    def place():
        result["response"] = post_json(
            asgi_server,
            "/api/v1/online-orders",
            shop_key,
            {
                "client_id": str(uuid.uuid4()),
                "pickup_location": "SA1",
                "lines": [{"sku": "TEE-M", "quantity": 2}],
                "payments": [{"method": "card", "amount": "39.80"}],
            },
        )

    thread = threading.Thread(target=place)
    thread.start()
    thread.join(timeout=10)
    status, order = result["response"]
    assert status == 201
    number = order["number"]

    # No reload: the pickup event on the location's stream refreshes the board.
    card = page.get_by_test_id(f"pickup-{number}")
    expect(
        page.get_by_test_id("column-reserved").get_by_test_id(f"pickup-{number}")
    ).to_be_visible()
    card.get_by_role("button", name="Ready").click()
    expect(page.get_by_test_id("column-ready").get_by_test_id(f"pickup-{number}")).to_be_visible()
    page.get_by_test_id(f"pickup-{number}").get_by_role("button", name="Collected").click()
    expect(
        page.get_by_test_id("column-collected").get_by_test_id(f"pickup-{number}")
    ).to_be_visible()
    assert Order.objects.get(number=number).status == "collected"
    level = StockLevel.objects.get(location=store_a, variant=tee)
    assert (level.on_hand, level.reserved) == (3, 0)


def test_discrepancy_is_reviewed(login, asgi_server, manager_a, store_a):
    VariantFactory(sku="CAP-1", price="10.00")
    _, key = pos_device(store_a)
    assert sale(asgi_server, key, "CAP-1", 2, "20.00")[0] == 201

    page = login(manager_a)
    page.goto(f"{asgi_server.url}/orders/discrepancies/")
    table = page.get_by_test_id("discrepancy-table")
    expect(table).to_contain_text("SA1-000001")
    table.get_by_role("button", name="Mark reviewed").click()
    expect(page.get_by_test_id("discrepancies-empty")).to_be_visible()
    assert Discrepancy.objects.get().status == "reviewed"
