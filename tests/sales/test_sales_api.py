import datetime
import uuid
from decimal import Decimal

import pytest

from apps.core.models import IdempotencyRecord
from apps.inventory.models import Discrepancy, Movement, Serial, StockLevel
from apps.inventory.services import stock_receive
from apps.sales.models import Order, OrderLine, Payment
from apps.sales.services import PaymentInput, SaleLineInput, sale_record
from tests.factories import VariantFactory

pytestmark = pytest.mark.django_db


def sale_body(**overrides):
    body = {
        "client_id": str(uuid.uuid4()),
        "occurred_at": "2026-11-20T10:15:00+01:00",
        "lines": [{"sku": "TEE-M", "quantity": 2}, {"sku": "CAP-1", "quantity": 1}],
        "member": None,
        "associate": None,
        "coupons": [],
        "points_to_redeem": 0,
        "payments": [{"method": "card", "amount": "50.80"}],
        "offline": False,
    }
    body.update(overrides)
    return body


def on_hand(location, variant):
    return StockLevel.objects.get(location=location, variant=variant).on_hand


def nothing_recorded():
    return (
        Order.objects.count(),
        OrderLine.objects.count(),
        Payment.objects.count(),
        IdempotencyRecord.objects.count(),
        Movement.objects.filter(reason="sale").count(),
    ) == (0, 0, 0, 0, 0)


def test_quote_uses_the_location_price(device_api, stocked):
    response = device_api.post(
        "/api/v1/pricing/quote",
        {"lines": [{"sku": "TEE-M", "quantity": 2}, {"sku": "CAP-1", "quantity": 1}]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json() == {
        "lines": [
            {
                "sku": "TEE-M",
                "quantity": 2,
                "unit_price": "19.90",
                "discount": "0.00",
                "total": "39.80",
                "promotions": [],
            },
            {
                "sku": "CAP-1",
                "quantity": 1,
                "unit_price": "11.00",
                "discount": "0.00",
                "total": "11.00",
                "promotions": [],
            },
        ],
        "subtotal": "50.80",
        "discount_total": "0.00",
        "total": "50.80",
        "promotions": [],
        "gifts": [],
        "points_to_earn": 0,
    }


def test_sale_is_recorded_priced_and_stock_leaves(device_api, stocked, store_a, tee, cap):
    body = sale_body()
    response = device_api.post("/api/v1/sales", body, format="json")
    assert response.status_code == 201, response.json()
    sale = response.json()
    assert sale["number"] == "SA1-000001"
    assert sale["client_id"] == body["client_id"]
    assert (sale["channel"], sale["location"], sale["status"]) == ("pos", "SA1", "completed")
    assert (sale["subtotal"], sale["discount_total"], sale["total"]) == ("50.80", "0.00", "50.80")
    assert [(line["sku"], line["quantity"], line["total"]) for line in sale["lines"]] == [
        ("TEE-M", 2, "39.80"),
        ("CAP-1", 1, "11.00"),
    ]
    assert sale["payments"] == [{"method": "card", "amount": "50.80", "reference": ""}]
    assert (sale["points_earned"], sale["points_redeemed"], sale["attribution"]) == (0, 0, None)
    assert (on_hand(store_a, tee), on_hand(store_a, cap)) == (8, 4)
    assert set(
        Movement.objects.filter(reference_type="sale", reference_id="SA1-000001").values_list(
            "variant__sku", "delta_on_hand"
        )
    ) == {("TEE-M", -2), ("CAP-1", -1)}
    detail = device_api.get("/api/v1/sales/SA1-000001")
    assert detail.status_code == 200
    assert detail.json() == sale


def test_quote_then_sale_have_the_same_totals(device_api, stocked):
    lines = [{"sku": "TEE-M", "quantity": 3}]
    quote = device_api.post("/api/v1/pricing/quote", {"lines": lines}, format="json").json()
    sale = device_api.post(
        "/api/v1/sales",
        sale_body(lines=lines, payments=[{"method": "cash", "amount": quote["total"]}]),
        format="json",
    ).json()
    assert (sale["subtotal"], sale["total"]) == (quote["subtotal"], quote["total"])


def test_replay_returns_the_first_response_and_changes_nothing(device_api, stocked, store_a, tee):
    body = sale_body()
    first = device_api.post("/api/v1/sales", body, format="json")
    again = device_api.post("/api/v1/sales", body, format="json")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert Order.objects.count() == 1
    assert on_hand(store_a, tee) == 8


def test_same_client_id_with_another_body_is_a_conflict(device_api, stocked, store_a, tee):
    body = sale_body()
    device_api.post("/api/v1/sales", body, format="json")
    changed = dict(body, lines=[{"sku": "TEE-M", "quantity": 1}])
    response = device_api.post("/api/v1/sales", changed, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"
    assert Order.objects.count() == 1
    assert on_hand(store_a, tee) == 8


def test_a_refused_sale_is_not_stored_so_the_corrected_one_goes_through(device_api, stocked):
    body = sale_body(payments=[{"method": "card", "amount": "10.00"}])
    refused = device_api.post("/api/v1/sales", body, format="json")
    assert refused.status_code == 400
    assert nothing_recorded()
    fixed = dict(body, payments=[{"method": "card", "amount": "50.80"}])
    assert device_api.post("/api/v1/sales", fixed, format="json").status_code == 201


@pytest.mark.parametrize(
    "overrides, status, code, field",
    [
        (
            {"lines": [{"sku": "TEE-M", "quantity": 1}, {"sku": "NOPE", "quantity": 1}]},
            400,
            "unknown_sku",
            "lines.1.sku",
        ),
        ({"lines": [{"sku": "TEE-M", "quantity": 0}]}, 400, "invalid", "lines.0.quantity"),
        ({"lines": [{"sku": "TEE-M", "quantity": -2}]}, 400, "invalid", "lines.0.quantity"),
        ({"payments": [{"method": "card", "amount": "50.79"}]}, 400, "invalid", "payments"),
        ({"client_id": "not-a-uuid"}, 400, "invalid", "client_id"),
        ({"payments": [{"method": "barter", "amount": "60"}]}, 400, "invalid", "payments.0.method"),
    ],
)
def test_bad_sales_are_refused_and_change_nothing(
    device_api, stocked, store_a, tee, overrides, status, code, field
):
    response = device_api.post("/api/v1/sales", sale_body(**overrides), format="json")
    assert response.status_code == status, response.json()
    body = response.json()
    assert body["code"] == code
    assert field in [error["field"] for error in body["errors"]]
    assert nothing_recorded()
    assert on_hand(store_a, tee) == 10


def test_malformed_json_is_400(device_api, stocked):
    response = device_api.post("/api/v1/sales", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert nothing_recorded()


def test_an_integration_may_not_post_pos_sales(integration_api, stocked):
    response = integration_api.post("/api/v1/sales", sale_body(), format="json")
    assert response.status_code == 403
    assert nothing_recorded()


def test_inactive_sku_at_pos_is_recorded_and_flagged(device_api, stocked, tee):
    tee.active = False
    tee.save()
    response = device_api.post("/api/v1/sales", sale_body(), format="json")
    assert response.status_code == 201
    order = Order.objects.get()
    assert order.needs_review is True
    assert "inactive SKU sold: TEE-M" in order.review_reason


def test_short_stock_is_recorded_with_a_discrepancy(device_api, stocked, store_a, cap):
    body = sale_body(
        lines=[{"sku": "CAP-1", "quantity": 7}], payments=[{"method": "cash", "amount": "77.00"}]
    )
    assert device_api.post("/api/v1/sales", body, format="json").status_code == 201
    assert on_hand(store_a, cap) == -2
    discrepancy = Discrepancy.objects.get()
    assert (discrepancy.quantity_short, discrepancy.reference_id) == (2, "SA1-000001")
    order = Order.objects.get()
    assert order.needs_review and "system count" in order.review_reason


def test_offline_sale_with_other_total_is_recorded_with_client_total(device_api, stocked):
    body = sale_body(
        offline=True,
        client_totals={"total": "48.00"},
        payments=[{"method": "cash", "amount": "48.00"}],
    )
    response = device_api.post("/api/v1/sales", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["total"] == "48.00"
    order = Order.objects.get()
    assert (
        str(order.total),
        str(order.subtotal),
        str(order.discount_total),
        str(order.server_total),
        order.needs_review,
    ) == ("48.00", "48.00", "0.00", "50.80", True)


def test_sync_answers_item_by_item_and_one_failure_keeps_the_others(
    device_api, stocked, store_a, tee, cap
):
    good = sale_body()
    bad = sale_body(lines=[{"sku": "NOPE", "quantity": 1}])
    later = sale_body(
        lines=[{"sku": "TEE-M", "quantity": 1}], payments=[{"method": "cash", "amount": "19.90"}]
    )
    device_api.post("/api/v1/sales", good, format="json")
    response = device_api.post("/api/v1/sales/sync", {"sales": [good, bad, later]}, format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["client_id"], r["status"]) for r in results] == [
        (good["client_id"], 201),
        (bad["client_id"], 400),
        (later["client_id"], 201),
    ]
    assert results[1]["error"]["code"] == "unknown_sku"
    assert results[0]["sale"]["number"] == "SA1-000001"
    assert results[2]["sale"]["number"] == "SA1-000002"
    assert Order.objects.count() == 2
    # The replayed sale moved its stock once (one movement per line), not twice.
    assert Movement.objects.filter(reason="sale", reference_id="SA1-000001").count() == 2
    assert (on_hand(store_a, tee), on_hand(store_a, cap)) == (10 - 2 - 1, 5 - 1)


def test_unknown_sale_number_is_404(device_api, stocked):
    response = device_api.get("/api/v1/sales/SA1-999999")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_serial_that_is_elsewhere_is_refused_and_nothing_recorded(device_api, store_a, store_b):
    phone = VariantFactory(sku="PHONE-1", price="300.00", tracking="serial")
    stock_receive(location=store_a, variant=phone, quantity=1, actor=None, serials=["SN-A"])
    stock_receive(location=store_b, variant=phone, quantity=1, actor=None, serials=["SN-B"])
    body = sale_body(
        lines=[{"sku": "PHONE-1", "quantity": 1, "serials": ["SN-B"]}],
        payments=[{"method": "card", "amount": "300.00"}],
    )
    response = device_api.post("/api/v1/sales", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"].startswith("lines.0")
    assert nothing_recorded()
    body["lines"][0]["serials"] = ["SN-A"]
    assert device_api.post("/api/v1/sales", body, format="json").status_code == 201
    assert Serial.objects.get(number="SN-A").status == "sold"
    assert Serial.objects.get(number="SN-B").status == "in_stock"


@pytest.mark.parametrize(
    "overrides",
    [
        {"lines": [{"sku": "TEE-M", "quantity": 10**12}]},
        {"lines": [{"sku": "TEE-M", "quantity": "two"}]},
        {"lines": []},
        {"payments": [{"method": "card", "amount": "50.805"}]},
        {"payments": [{"method": "card", "amount": "1" + "0" * 20}]},
        {"occurred_at": "yesterday"},
    ],
)
def test_absurd_input_is_a_400_never_a_500(device_api, stocked, overrides):
    response = device_api.post("/api/v1/sales", sale_body(**overrides), format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert nothing_recorded()


def test_the_order_a_sale_returns_still_queries_its_lines(stocked, device_a):
    """sale_record hands back the rows it wrote as the prefetched lines; filtering or
    ordering them must still work (the demo's returns do exactly that)."""
    order = sale_record(
        client=device_a[0],
        client_id=uuid.uuid4(),
        occurred_at=datetime.datetime(2026, 11, 20, 9, 0, tzinfo=datetime.UTC),
        lines=[SaleLineInput("TEE-M", 2), SaleLineInput("CAP-1", 1)],
        payments=[PaymentInput("card", Decimal("50.80"))],
    )
    assert [line.sku for line in order.lines.all()] == ["TEE-M", "CAP-1"]
    assert [line.sku for line in order.lines.order_by("-id")] == ["CAP-1", "TEE-M"]
    assert order.lines.filter(sku="CAP-1").count() == 1


def test_sync_item_hitting_a_database_error_answers_500_and_keeps_the_others(
    device_api, stocked, store_a, tee, monkeypatch
):
    from django.db import OperationalError

    from apps.sales import services

    first = sale_body(lines=[{"sku": "TEE-M", "quantity": 1}])
    broken = sale_body(lines=[{"sku": "TEE-M", "quantity": 1}])
    last = sale_body(lines=[{"sku": "TEE-M", "quantity": 1}])
    real_record = services.sale_record

    def record(**kwargs):
        order = real_record(**kwargs)
        if str(kwargs["client_id"]) == broken["client_id"]:
            raise OperationalError("the database went away")
        return order

    monkeypatch.setattr(services, "sale_record", record)
    response = device_api.post(
        "/api/v1/sales/sync", {"sales": [first, broken, last]}, format="json"
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["client_id"], r["status"]) for r in results] == [
        (first["client_id"], 201),
        (broken["client_id"], 500),
        (last["client_id"], 201),
    ]
    assert results[1]["error"]["code"] == "server_error"
    assert "sale" not in results[1]
    assert [r["sale"]["number"] for r in (results[0], results[2])] == ["SA1-000001", "SA1-000002"]
    # The broken item changed nothing: its order, stock and idempotency record rolled back.
    assert sorted(Order.objects.values_list("client_id", flat=True)) == sorted(
        uuid.UUID(body["client_id"]) for body in (first, last)
    )
    assert IdempotencyRecord.objects.filter(key=broken["client_id"]).count() == 0
    assert on_hand(store_a, tee) == 10 - 2
