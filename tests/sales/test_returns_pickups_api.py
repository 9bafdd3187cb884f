import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.events import events_after, location_stream
from apps.inventory.models import Discrepancy, Movement, StockLevel
from apps.sales import tasks
from apps.sales.models import Order, Return
from apps.sales.tasks import pickups_expire
from tests.factories import pos_device
from tests.sales.conftest import receive
from tests.sales.test_sales_api import sale_body

pytestmark = pytest.mark.django_db


def level(location, variant):
    level = StockLevel.objects.get(location=location, variant=variant)
    return level.on_hand, level.reserved


@pytest.fixture
def store_b_api(store_b, api):
    _, key = pos_device(store_b, name="Till B")
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


@pytest.fixture
def sold(device_api, stocked):
    """Sale SA1-000001: 2 tees (39.80) and 1 cap (11.00) at store A."""
    response = device_api.post("/api/v1/sales", sale_body(), format="json")
    assert response.status_code == 201
    return response.json()


def return_body(sale, lines, refund, **overrides):
    body = {
        "client_id": str(uuid.uuid4()),
        "sale": sale["number"],
        "lines": lines,
        "reason": "too small",
        "refund": refund,
        "restock": True,
    }
    body.update(overrides)
    return body


def test_cross_store_return_restocks_at_the_returning_store(
    store_b_api, sold, store_a, store_b, tee
):
    tee_line = sold["lines"][0]["id"]
    body = return_body(
        sold, [{"line_id": tee_line, "quantity": 1}], [{"method": "cash", "amount": "19.90"}]
    )
    response = store_b_api.post("/api/v1/returns", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["number"], data["sale"], data["location"]) == ("SB1-R000001", "SA1-000001", "SB1")
    assert (data["refund_total"], data["points_reversed"]) == ("19.90", 0)
    assert level(store_b, tee) == (4, 0)
    assert level(store_a, tee) == (8, 0)
    replay = store_b_api.post("/api/v1/returns", body, format="json")
    assert replay.status_code == 201 and replay.json() == data
    assert Return.objects.count() == 1


def test_returning_more_than_sold_net_of_returns_is_refused(device_api, sold, store_a, tee):
    tee_line = sold["lines"][0]["id"]
    first = return_body(
        sold, [{"line_id": tee_line, "quantity": 1}], [{"method": "card", "amount": "19.90"}]
    )
    assert device_api.post("/api/v1/returns", first, format="json").status_code == 201
    again = return_body(
        sold, [{"line_id": tee_line, "quantity": 2}], [{"method": "card", "amount": "39.80"}]
    )
    response = device_api.post("/api/v1/returns", again, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "not_returnable"
    assert response.json()["errors"][0]["field"] == "lines.0.quantity"
    assert Return.objects.count() == 1
    assert level(store_a, tee) == (9, 0)


def test_return_of_unknown_sale_is_404_and_changes_nothing(device_api, stocked):
    body = return_body(
        {"number": "SA1-424242"},
        [{"line_id": 1, "quantity": 1}],
        [{"method": "cash", "amount": "1.00"}],
    )
    response = device_api.post("/api/v1/returns", body, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert Return.objects.count() == 0


def test_refunds_must_equal_the_pro_rata_total(device_api, sold, store_a, tee):
    body = return_body(
        sold,
        [{"line_id": sold["lines"][0]["id"], "quantity": 1}],
        [{"method": "cash", "amount": "20.00"}],
    )
    response = device_api.post("/api/v1/returns", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "refund"
    assert Return.objects.count() == 0
    assert level(store_a, tee) == (8, 0)


def test_damaged_return_is_written_off(device_api, sold, store_a, cap):
    body = return_body(
        sold,
        [{"line_id": sold["lines"][1]["id"], "quantity": 1}],
        [{"method": "card", "amount": "11.00"}],
        restock=False,
    )
    assert device_api.post("/api/v1/returns", body, format="json").status_code == 201
    assert level(store_a, cap) == (4, 0)
    reasons = list(
        Movement.objects.filter(reference_type="return")
        .order_by("id")
        .values_list("reason", "delta_on_hand")
    )
    assert reasons == [("return", 1), ("write_off", -1)]


def online_body(**overrides):
    body = {
        "client_id": str(uuid.uuid4()),
        "pickup_location": "SA1",
        "lines": [{"sku": "TEE-M", "quantity": 2}, {"sku": "CAP-1", "quantity": 1}],
        "payments": [{"method": "card", "amount": "50.80"}],
    }
    body.update(overrides)
    return body


def test_online_order_reserves_then_ready_then_collect(
    integration_api, device_api, stocked, store_a, tee
):
    response = integration_api.post("/api/v1/online-orders", online_body(), format="json")
    assert response.status_code == 201, response.json()
    order = response.json()
    assert (order["status"], order["channel"], order["location"]) == ("reserved", "online", "SA1")
    assert level(store_a, tee) == (10, 2)
    listed = device_api.get("/api/v1/pickups?status=reserved").json()["results"]
    assert [o["number"] for o in listed] == [order["number"]]

    ready = device_api.post(f"/api/v1/pickups/{order['number']}/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    collected = device_api.post(f"/api/v1/pickups/{order['number']}/collect")
    assert collected.status_code == 200 and collected.json()["status"] == "collected"
    assert level(store_a, tee) == (8, 0)
    events = [
        (e.type, e.payload.get("status"))
        for e in events_after(stream=location_stream("SA1"), after=0)
        if e.type == "pickup"
    ]
    assert events == [("pickup", "reserved"), ("pickup", "ready"), ("pickup", "collected")]


def test_transition_the_status_does_not_allow_is_409(
    integration_api, device_api, stocked, store_a, tee
):
    number = integration_api.post("/api/v1/online-orders", online_body(), format="json").json()[
        "number"
    ]
    assert device_api.post(f"/api/v1/pickups/{number}/cancel").status_code == 200
    assert level(store_a, tee) == (10, 0)
    response = device_api.post(f"/api/v1/pickups/{number}/collect")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert Order.objects.get(number=number).status == "cancelled"
    assert level(store_a, tee) == (10, 0)


def test_another_stores_device_cannot_touch_the_pickup(
    integration_api, store_b_api, stocked, store_a, tee
):
    number = integration_api.post("/api/v1/online-orders", online_body(), format="json").json()[
        "number"
    ]
    response = store_b_api.post(f"/api/v1/pickups/{number}/collect")
    assert response.status_code == 404
    assert Order.objects.get(number=number).status == "reserved"
    assert level(store_a, tee) == (10, 2)
    assert store_b_api.get("/api/v1/pickups").json()["results"] == []


def test_insufficient_stock_lists_alternatives_and_reserves_nothing(
    integration_api, stocked, store_a, store_b, tee, cap
):
    body = online_body(
        lines=[{"sku": "TEE-M", "quantity": 3}, {"sku": "CAP-1", "quantity": 3}],
        payments=[{"method": "card", "amount": "200.00"}],
        pickup_location="SA1",
    )
    # Store A has 5 caps and 10 tees: ask for more caps than it has.
    body["lines"][1]["quantity"] = 6
    response = integration_api.post("/api/v1/online-orders", body, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert response.json()["alternatives"] == []
    body = online_body(
        client_id=str(uuid.uuid4()),
        pickup_location="SA1",
        lines=[{"sku": "CAP-1", "quantity": 6}],
        payments=[{"method": "card", "amount": "66.00"}],
    )
    receive(store_b, cap, 5)
    response = integration_api.post("/api/v1/online-orders", body, format="json")
    assert response.status_code == 409
    assert response.json()["alternatives"] == [{"location": "SB1", "available": 8}]
    assert Order.objects.count() == 0
    assert level(store_a, tee) == (10, 0)


def test_inactive_sku_is_refused_online(integration_api, stocked, store_a, tee):
    tee.active = False
    tee.save()
    response = integration_api.post("/api/v1/online-orders", online_body(), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "inactive_sku"
    assert response.json()["errors"][0]["field"] == "lines.0.sku"
    assert Order.objects.count() == 0
    assert level(store_a, tee) == (10, 0)


def test_pos_device_cannot_place_online_orders(device_api, stocked):
    response = device_api.post("/api/v1/online-orders", online_body(), format="json")
    assert response.status_code == 403
    assert Order.objects.count() == 0


def test_expiry_releases_stock_and_is_safe_twice(integration_api, stocked, store_a, tee):
    number = integration_api.post("/api/v1/online-orders", online_body(), format="json").json()[
        "number"
    ]
    Order.objects.filter(number=number).update(
        pickup_expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert pickups_expire() == 1
    assert pickups_expire() == 0
    assert Order.objects.get(number=number).status == "expired"
    assert level(store_a, tee) == (10, 0)


def test_exchange_is_a_return_and_a_new_sale_linked(device_api, sold, store_a, tee, cap):
    returned = device_api.post(
        "/api/v1/returns",
        return_body(
            sold,
            [{"line_id": sold["lines"][0]["id"], "quantity": 1}],
            [{"method": "store_credit", "amount": "19.90"}],
        ),
        format="json",
    ).json()
    new_sale = sale_body(
        lines=[{"sku": "CAP-1", "quantity": 1}],
        payments=[{"method": "store_credit", "amount": "11.00"}],
        exchange_of=returned["number"],
    )
    response = device_api.post("/api/v1/sales", new_sale, format="json")
    assert response.status_code == 201
    order = Order.objects.get(number=response.json()["number"])
    assert order.exchange_of.number == returned["number"]
    assert order.exchange_of.sale.number == sold["number"]
    assert level(store_a, tee) == (9, 0)
    assert level(store_a, cap) == (3, 0)


def test_exchange_of_an_unknown_return_is_404_and_records_nothing(device_api, sold):
    body = sale_body(exchange_of="SA1-R424242")
    response = device_api.post("/api/v1/sales", body, format="json")
    assert response.status_code == 404
    assert Order.objects.count() == 1


def test_quote_names_the_unknown_sku(device_api, stocked):
    response = device_api.post(
        "/api/v1/pricing/quote",
        {"lines": [{"sku": "TEE-M", "quantity": 1}, {"sku": "GHOST", "quantity": 1}]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_sku"
    assert response.json()["errors"] == [
        {"field": "lines.1.sku", "code": "unknown_sku", "detail": "Unknown SKU 'GHOST'."}
    ]


def test_integration_cannot_read_pickups(integration_api, stocked):
    assert integration_api.get("/api/v1/pickups").status_code == 403


@pytest.fixture
def pickup_cut_by_a_sale(integration_api, device_api, store_a, tee):
    """A no-negative store with 1 tee on hand, reserved for a pickup; the till sells 3
    tees anyway (the shelf is the truth): the sale is recorded, the reservation cut."""
    store_a.allows_negative_stock = False
    store_a.save()
    receive(store_a, tee, 1)
    body = online_body(
        lines=[{"sku": "TEE-M", "quantity": 1}], payments=[{"method": "card", "amount": "19.90"}]
    )
    pickup = integration_api.post("/api/v1/online-orders", body, format="json")
    assert pickup.status_code == 201, pickup.json()
    assert level(store_a, tee) == (1, 1)
    sale = device_api.post(
        "/api/v1/sales",
        sale_body(
            lines=[{"sku": "TEE-M", "quantity": 3}],
            payments=[{"method": "card", "amount": "59.70"}],
        ),
        format="json",
    )
    assert sale.status_code == 201, sale.json()
    assert level(store_a, tee) == (0, 0)
    discrepancy = Discrepancy.objects.get()
    assert (discrepancy.quantity_short, discrepancy.reference_type, discrepancy.reference_id) == (
        3,
        "sale",
        sale.json()["number"],
    )
    return pickup.json()["number"]


def closed_with_review(number, status):
    order = Order.objects.get(number=number)
    assert (order.status, order.needs_review) == (status, True)
    assert order.review_reason == f"{status} with reservation cut by a sale: TEE-M 0/1"
    assert order.closed_at is not None
    assert not Movement.objects.filter(reference_type="order", reference_id=number).exclude(
        reason="reservation"
    )


def test_pickup_cut_by_a_sale_can_still_be_cancelled(
    device_api, pickup_cut_by_a_sale, store_a, tee
):
    response = device_api.post(f"/api/v1/pickups/{pickup_cut_by_a_sale}/cancel")
    assert response.status_code == 200, response.json()
    closed_with_review(pickup_cut_by_a_sale, "cancelled")
    assert level(store_a, tee) == (0, 0)


def test_pickup_cut_by_a_sale_can_still_expire(pickup_cut_by_a_sale, store_a, tee):
    Order.objects.filter(number=pickup_cut_by_a_sale).update(
        pickup_expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert pickups_expire() == 1
    closed_with_review(pickup_cut_by_a_sale, "expired")
    assert level(store_a, tee) == (0, 0)


def test_pickup_cut_by_a_sale_can_still_be_collected_with_review(
    device_api, pickup_cut_by_a_sale, store_a, tee
):
    assert device_api.post(f"/api/v1/pickups/{pickup_cut_by_a_sale}/ready").status_code == 200
    response = device_api.post(f"/api/v1/pickups/{pickup_cut_by_a_sale}/collect")
    assert response.status_code == 200, response.json()
    closed_with_review(pickup_cut_by_a_sale, "collected")
    assert level(store_a, tee) == (0, 0)


def test_pickup_partly_cut_collects_what_is_still_reserved(
    integration_api, device_api, store_a, tee
):
    store_a.allows_negative_stock = False
    store_a.save()
    receive(store_a, tee, 2)
    body = online_body(
        lines=[{"sku": "TEE-M", "quantity": 2}], payments=[{"method": "card", "amount": "39.80"}]
    )
    number = integration_api.post("/api/v1/online-orders", body, format="json").json()["number"]
    sale = device_api.post(
        "/api/v1/sales",
        sale_body(
            lines=[{"sku": "TEE-M", "quantity": 1}],
            payments=[{"method": "card", "amount": "19.90"}],
        ),
        format="json",
    )
    assert sale.status_code == 201, sale.json()
    assert level(store_a, tee) == (1, 1)
    assert Discrepancy.objects.get().quantity_short == 1
    response = device_api.post(f"/api/v1/pickups/{number}/collect")
    assert response.status_code == 200, response.json()
    assert level(store_a, tee) == (0, 0)
    order = Order.objects.get(number=number)
    assert (order.status, order.needs_review) == ("collected", True)
    assert order.review_reason == "collected with reservation cut by a sale: TEE-M 1/2"
    collected = Movement.objects.get(reference_type="order", reference_id=number, reason="sale")
    assert (collected.delta_on_hand, collected.delta_reserved) == (-1, -1)


def test_one_failing_pickup_does_not_stop_the_expiry_run(
    integration_api, stocked, store_a, tee, monkeypatch
):
    numbers = [
        integration_api.post("/api/v1/online-orders", online_body(), format="json").json()["number"]
        for _ in range(2)
    ]
    Order.objects.filter(number__in=numbers).update(
        pickup_expires_at=timezone.now() - timedelta(minutes=1)
    )
    broken = Order.objects.get(number=numbers[0]).pk
    real_expire = tasks.pickup_expire

    def expire(*, order_id, now=None):
        if order_id == broken:
            raise RuntimeError("boom")
        return real_expire(order_id=order_id, now=now)

    monkeypatch.setattr(tasks, "pickup_expire", expire)
    assert pickups_expire() == 1
    statuses = dict(Order.objects.filter(number__in=numbers).values_list("number", "status"))
    assert statuses == {numbers[0]: "reserved", numbers[1]: "expired"}
    assert level(store_a, tee) == (10, 2)
