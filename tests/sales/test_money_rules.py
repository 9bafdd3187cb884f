"""Money rules of sales and returns: what a client may claim, what a return may refund,
amounts the database cannot hold, and who may read which order."""

from decimal import Decimal

import pytest

from apps.inventory.models import Movement
from apps.sales.models import Order, Refund, Return
from apps.sales.pricing import MAX_AMOUNT
from tests.factories import VariantFactory, pos_device
from tests.sales.test_returns_pickups_api import online_body, return_body
from tests.sales.test_sales_api import nothing_recorded, sale_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def store_b_api(store_b, api):
    _, key = pos_device(store_b, name="Till B")
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def nothing_returned():
    return (
        Return.objects.count(),
        Refund.objects.count(),
        Movement.objects.filter(reference_type="return").count(),
    ) == (0, 0, 0)


def error_of(response):
    body = response.json()
    return body["code"], [(e["field"], e["code"]) for e in body["errors"]]


# --- 1. offline client totals ---------------------------------------------------------------


def test_negative_offline_total_without_payment_is_refused(device_api, stocked):
    body = sale_body(offline=True, client_totals={"total": "-100.00"}, payments=[])
    response = device_api.post("/api/v1/sales", body, format="json")
    assert response.status_code == 400
    assert error_of(response) == ("invalid", [("client_totals.total", "min_value")])
    assert nothing_recorded()


def test_offline_total_must_be_covered_by_the_payments(device_api, stocked):
    body = sale_body(
        offline=True,
        client_totals={"total": "48.00"},
        payments=[{"method": "cash", "amount": "47.99"}],
    )
    response = device_api.post("/api/v1/sales", body, format="json")
    assert response.status_code == 400
    assert error_of(response) == ("invalid", [("payments", "invalid")])
    assert nothing_recorded()


# --- 2. refunds never exceed what was paid --------------------------------------------------


def offline_sale(device_api, lines, total):
    body = sale_body(
        lines=lines,
        offline=True,
        client_totals={"total": total},
        payments=[{"method": "cash", "amount": total}],
    )
    response = device_api.post("/api/v1/sales", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_return_of_an_offline_sale_refunds_what_was_paid_not_the_server_price(device_api, stocked):
    sale = offline_sale(
        device_api, [{"sku": "TEE-M", "quantity": 2}, {"sku": "CAP-1", "quantity": 1}], "1.00"
    )
    tee_line, cap_line = (line["id"] for line in sale["lines"])
    everything = [{"line_id": tee_line, "quantity": 2}, {"line_id": cap_line, "quantity": 1}]

    at_server_price = return_body(sale, everything, [{"method": "cash", "amount": "50.80"}])
    response = device_api.post("/api/v1/returns", at_server_price, format="json")
    assert response.status_code == 400
    assert error_of(response) == ("invalid", [("refund", "invalid")])
    assert nothing_returned()

    # Scaled by 1.00 / 50.80 with the telescoping rounding: 0.39 + 0.39 + 0.22.
    one_tee = return_body(
        sale, [{"line_id": tee_line, "quantity": 1}], [{"method": "cash", "amount": "0.39"}]
    )
    response = device_api.post("/api/v1/returns", one_tee, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["refund_total"] == "0.39"
    rest = return_body(
        sale,
        [{"line_id": tee_line, "quantity": 1}, {"line_id": cap_line, "quantity": 1}],
        [{"method": "cash", "amount": "0.61"}],
    )
    response = device_api.post("/api/v1/returns", rest, format="json")
    assert response.status_code == 201, response.json()
    assert [line["amount"] for line in response.json()["lines"]] == ["0.39", "0.22"]
    assert sum(Return.objects.values_list("refund_total", flat=True)) == Decimal("1.00")


def test_refunds_in_all_are_capped_at_what_was_paid(device_api, stocked):
    # Three lines of 11.00 paid 2.00 in all: each scaled share rounds to 0.67 (2.01).
    cap_lines = [{"sku": "CAP-1", "quantity": 1}] * 3
    sale = offline_sale(device_api, cap_lines, "2.00")
    line_ids = [line["id"] for line in sale["lines"]]
    amounts = []
    for line_id in line_ids:
        expected = "0.67" if len(amounts) < 2 else "0.66"
        body = return_body(
            sale, [{"line_id": line_id, "quantity": 1}], [{"method": "cash", "amount": expected}]
        )
        response = device_api.post("/api/v1/returns", body, format="json")
        assert response.status_code == 201, response.json()
        amounts.append(response.json()["refund_total"])
    assert amounts == ["0.67", "0.67", "0.66"]
    assert sum(Return.objects.values_list("refund_total", flat=True)) == Decimal("2.00")


def test_a_whole_return_of_rounded_shares_refunds_exactly_what_was_paid(device_api, stocked):
    sale = offline_sale(device_api, [{"sku": "CAP-1", "quantity": 1}] * 3, "2.00")
    lines = [{"line_id": line["id"], "quantity": 1} for line in sale["lines"]]
    too_much = return_body(sale, lines, [{"method": "cash", "amount": "2.01"}])
    response = device_api.post("/api/v1/returns", too_much, format="json")
    assert response.status_code == 400
    assert nothing_returned()
    response = device_api.post(
        "/api/v1/returns",
        return_body(sale, lines, [{"method": "cash", "amount": "2.00"}]),
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["refund_total"] == "2.00"


def test_a_normal_sale_still_refunds_its_line_totals(device_api, stocked):
    sale = device_api.post("/api/v1/sales", sale_body(), format="json").json()
    lines = [{"line_id": line["id"], "quantity": line["quantity"]} for line in sale["lines"]]
    response = device_api.post(
        "/api/v1/returns",
        return_body(sale, lines, [{"method": "card", "amount": "50.80"}]),
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["refund_total"] == "50.80"


# --- 3. who may read an order ---------------------------------------------------------------


def test_another_stores_device_cannot_read_an_online_order(
    integration_api, device_api, store_b_api, stocked
):
    response = integration_api.post(
        "/api/v1/online-orders", online_body(member="M-42"), format="json"
    )
    assert response.status_code == 201, response.json()
    number = response.json()["number"]

    response = store_b_api.get(f"/api/v1/sales/{number}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "M-42" not in response.content.decode()

    assert device_api.get(f"/api/v1/sales/{number}").json()["member"] == "M-42"
    assert integration_api.get(f"/api/v1/sales/{number}").status_code == 200


def test_any_device_reads_a_pos_sale_of_any_store_for_returns(device_api, store_b_api, stocked):
    number = device_api.post("/api/v1/sales", sale_body(), format="json").json()["number"]
    response = store_b_api.get(f"/api/v1/sales/{number}")
    assert response.status_code == 200
    assert (response.json()["number"], response.json()["location"]) == (number, "SA1")


# --- 4. amounts the database cannot hold ----------------------------------------------------


@pytest.fixture
def gold(db):
    return VariantFactory(sku="GOLD-1", price=str(MAX_AMOUNT))


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([{"sku": "GOLD-1", "quantity": 2}], "lines.0.quantity"),
        ([{"sku": "TEE-M", "quantity": 1}, {"sku": "GOLD-1", "quantity": 2}], "lines.1.quantity"),
        ([{"sku": "GOLD-1", "quantity": 1}, {"sku": "TEE-M", "quantity": 1}], "lines"),
    ],
)
def test_totals_beyond_the_database_are_a_400_naming_the_field(
    device_api, stocked, gold, lines, field
):
    quote = device_api.post("/api/v1/pricing/quote", {"lines": lines}, format="json")
    assert quote.status_code == 400
    assert error_of(quote) == ("invalid", [(field, "invalid")])
    body = sale_body(lines=lines, payments=[{"method": "card", "amount": "1.00"}])
    response = device_api.post("/api/v1/sales", body, format="json")
    assert response.status_code == 400
    assert error_of(response) == ("invalid", [(field, "invalid")])
    assert nothing_recorded()


def test_the_largest_total_is_still_accepted(device_api, stocked, gold):
    body = sale_body(
        lines=[{"sku": "GOLD-1", "quantity": 1}],
        payments=[{"method": "card", "amount": str(MAX_AMOUNT)}],
    )
    response = device_api.post("/api/v1/sales", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["total"] == "9999999999.99"


def test_payments_beyond_the_database_are_a_400(device_api, stocked, integration_api):
    payments = [{"method": "card", "amount": str(MAX_AMOUNT)}] * 2
    response = device_api.post("/api/v1/sales", sale_body(payments=payments), format="json")
    assert response.status_code == 400
    assert error_of(response) == ("invalid", [("payments", "invalid")])
    response = integration_api.post(
        "/api/v1/online-orders", online_body(payments=payments), format="json"
    )
    assert response.status_code == 400
    assert error_of(response) == ("invalid", [("payments", "invalid")])
    assert nothing_recorded()


# --- 6. points that cannot be redeemed yet --------------------------------------------------


@pytest.mark.parametrize("points", [1, 10**20])
def test_points_to_redeem_is_insufficient_points_until_loyalty_exists(device_api, stocked, points):
    response = device_api.post(
        "/api/v1/sales", sale_body(points_to_redeem=points, member="M-1"), format="json"
    )
    assert response.status_code == 400
    assert error_of(response) == (
        "insufficient_points",
        [("points_to_redeem", "insufficient_points")],
    )
    assert nothing_recorded()


def test_no_points_to_redeem_records_the_sale(device_api, stocked):
    response = device_api.post("/api/v1/sales", sale_body(points_to_redeem=0), format="json")
    assert response.status_code == 201
    assert Order.objects.get().points_redeemed == 0
