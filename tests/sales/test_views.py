import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.inventory.models import Discrepancy, StockLevel
from apps.sales.models import Order
from tests.factories import pos_device
from tests.sales.test_sales_api import sale_body

pytestmark = pytest.mark.django_db


def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def sales_at_both(device_api, stocked, store_b, api):
    """Three sales at store A, two at store B (one short, raising a discrepancy)."""
    for _ in range(3):
        assert device_api.post("/api/v1/sales", sale_body(), format="json").status_code == 201
    _, key = pos_device(store_b, name="Till B")
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    for quantity in (1, 4):
        body = sale_body(
            lines=[{"sku": "TEE-M", "quantity": quantity}],
            payments=[{"method": "cash", "amount": "100.00"}],
        )
        assert api.post("/api/v1/sales", body, format="json").status_code == 201


def test_manager_sees_only_their_stores_orders(client, manager_a, sales_at_both):
    response = logged_in(client, manager_a).get(reverse("orders:index"))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('data-number="SA1-') == 3
    assert 'data-number="SB1-' not in html


def test_hq_filters_by_location_and_channel(client, hq_admin, sales_at_both):
    client = logged_in(client, hq_admin)
    html = client.get(reverse("orders:index"), {"location": "SB1"}).content.decode()
    assert html.count('data-number="SB1-') == 2 and "SA1-" not in html.split("order-table")[1]
    html = client.get(reverse("orders:index"), {"channel": "online"}).content.decode()
    assert 'data-testid="orders-empty"' in html


@pytest.mark.parametrize(
    ("params", "shown", "error"),
    [
        ({"date_to": "9999-12-31"}, 3, "To: 9999-12-31 is out of range; ignored."),
        ({"date_from": "0001-01-01"}, 3, "From: 0001-01-01 is out of range; ignored."),
        ({"date_from": "2026-13-45"}, 3, "From: &#x27;2026-13-45&#x27; is not a date"),
        ({"date_to": "tomorrow"}, 3, "To: &#x27;tomorrow&#x27; is not a date"),
        (
            {"date_from": "2026-05-02", "date_to": "2026-05-01"},
            3,
            "From is after To; the dates were ignored.",
        ),
        ({"date_from": "2000-01-01", "date_to": "9999-12-30"}, 3, None),
        ({"page": "99999999999999999999"}, 3, None),
        ({"page": "-3"}, 3, None),
        ({"page": "abc"}, 3, None),
        ({"page": "1.5"}, 3, None),
        ({"location": "SB1"}, 0, None),  # another store's: nothing, not its orders
        ({"location": "NOPE"}, 0, None),
        ({"location": "x" * 1000}, 0, None),
        ({"status": "stolen"}, 3, None),
        ({"channel": "fax"}, 3, None),
        ({"member": "nobody"}, 0, None),
        ({"member": "'; DROP TABLE sales_order; --"}, 0, None),
    ],
)
def test_bad_order_parameters_never_fail(client, manager_a, sales_at_both, params, shown, error):
    response = logged_in(client, manager_a).get(reverse("orders:index"), params)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('data-number="SA1-') == shown
    assert 'data-number="SB1-' not in html
    assert response.context["page"].number == 1
    if error:
        assert error in html
        assert len(response.context["errors"]) == 1
    else:
        assert response.context["errors"] == []


def test_order_list_date_filter_bounds_both_ends(client, manager_a, sales_at_both):
    client = logged_in(client, manager_a)
    today = Order.objects.first().occurred_at.astimezone(timezone.get_current_timezone()).date()
    html = client.get(reverse("orders:index"), {"date_from": today, "date_to": today})
    assert html.content.decode().count('data-number="SA1-') == 3
    html = client.get(reverse("orders:index"), {"date_to": today - timedelta(days=1)})
    assert 'data-number="SA1-' not in html.content.decode()
    html = client.get(reverse("orders:index"), {"date_from": today + timedelta(days=1)})
    assert 'data-number="SA1-' not in html.content.decode()


def test_discrepancy_list_page_parameter_never_fails(client, hq_admin, sales_at_both):
    client = logged_in(client, hq_admin)
    for page in ("99999999999999999999", "-1", "abc", ""):
        response = client.get(reverse("orders:discrepancies"), {"page": page})
        assert response.status_code == 200
        assert response.context["page"].number == 1
        assert len(response.context["page"].object_list) == 1


def test_order_list_queries_stay_constant(client, hq_admin, sales_at_both, device_api):
    client = logged_in(client, hq_admin)
    client.get(reverse("orders:index"))
    with CaptureQueriesContext(connection) as before:
        client.get(reverse("orders:index"))
    for _ in range(5):
        device_api.post("/api/v1/sales", sale_body(), format="json")
    with CaptureQueriesContext(connection) as after:
        client.get(reverse("orders:index"))
    assert len(after.captured_queries) == len(before.captured_queries) <= 12


def test_order_page_shows_lines_and_ledger(client, manager_a, sales_at_both):
    html = logged_in(client, manager_a).get(reverse("orders:detail", args=["SA1-000001"]))
    assert html.status_code == 200
    text = html.content.decode()
    assert "TEE-M" in text and "50.80" in text
    assert text.count("sale SA1-000001") == 2  # two ledger rows referencing the sale


def test_another_stores_order_is_404(client, manager_a, sales_at_both):
    response = logged_in(client, manager_a).get(reverse("orders:detail", args=["SB1-000001"]))
    assert response.status_code == 404


def test_manager_marks_a_discrepancy_reviewed(client, manager_b, manager_a, sales_at_both):
    discrepancy = Discrepancy.objects.get()
    # Another store's manager cannot see it, and nothing changes.
    other = logged_in(client, manager_a).post(
        reverse("orders:discrepancy-review", args=[discrepancy.pk]), HTTP_HX_REQUEST="true"
    )
    assert other.status_code == 404
    assert Discrepancy.objects.get().status == "open"
    client.logout()
    client = logged_in(client, manager_b)
    assert "SB1-000002" in client.get(reverse("orders:discrepancies")).content.decode()
    response = client.post(
        reverse("orders:discrepancy-review", args=[discrepancy.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert 'data-testid="discrepancies-empty"' in response.content.decode()
    reviewed = Discrepancy.objects.get()
    assert (reviewed.status, reviewed.reviewed_by) == ("reviewed", manager_b)


def test_associate_cannot_review(client, associate_a, device_api, stocked):
    body = sale_body(
        lines=[{"sku": "CAP-1", "quantity": 9}], payments=[{"method": "cash", "amount": "99.00"}]
    )
    device_api.post("/api/v1/sales", body, format="json")
    discrepancy = Discrepancy.objects.get()
    response = logged_in(client, associate_a).post(
        reverse("orders:discrepancy-review", args=[discrepancy.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 403
    assert Discrepancy.objects.get().status == "open"


def test_pickup_board_steps(client, manager_a, integration_api, stocked, store_a, tee):
    body = {
        "client_id": str(uuid.uuid4()),
        "pickup_location": "SA1",
        "lines": [{"sku": "TEE-M", "quantity": 1}],
        "payments": [{"method": "card", "amount": "19.90"}],
    }
    number = integration_api.post("/api/v1/online-orders", body, format="json").json()["number"]
    client = logged_in(client, manager_a)
    html = client.get(reverse("orders:pickups")).content.decode()
    assert f'data-testid="pickup-{number}"' in html.split("column-ready")[0]
    url = reverse("orders:pickup-step", args=[number, "ready"])
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'data-testid="pickup-{number}"' in response.content.decode().split("column-ready")[1]
    again = client.post(url, HTTP_HX_REQUEST="true")
    assert again.status_code == 409
    assert Order.objects.get(number=number).status == "ready"
    client.post(reverse("orders:pickup-step", args=[number, "collect"]), HTTP_HX_REQUEST="true")
    level = StockLevel.objects.get(location=store_a, variant=tee)
    assert (level.on_hand, level.reserved) == (9, 0)


def test_other_store_cannot_touch_the_pickup_from_the_board(
    client, manager_b, integration_api, stocked
):
    body = {
        "client_id": str(uuid.uuid4()),
        "pickup_location": "SA1",
        "lines": [{"sku": "TEE-M", "quantity": 1}],
        "payments": [{"method": "card", "amount": "19.90"}],
    }
    number = integration_api.post("/api/v1/online-orders", body, format="json").json()["number"]
    response = logged_in(client, manager_b).post(
        reverse("orders:pickup-step", args=[number, "collect"]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 404
    assert Order.objects.get(number=number).status == "reserved"


def test_discrepancy_list_queries_stay_constant(client, hq_admin, device_api, stocked):
    client = logged_in(client, hq_admin)
    short = sale_body(
        lines=[{"sku": "CAP-1", "quantity": 6}], payments=[{"method": "cash", "amount": "66.00"}]
    )
    device_api.post("/api/v1/sales", short, format="json")
    client.get(reverse("orders:discrepancies"))
    with CaptureQueriesContext(connection) as before:
        client.get(reverse("orders:discrepancies"))
    for _ in range(4):
        short["client_id"] = str(uuid.uuid4())
        device_api.post("/api/v1/sales", short, format="json")
    with CaptureQueriesContext(connection) as after:
        response = client.get(reverse("orders:discrepancies"))
    assert response.content.decode().count("Mark reviewed") == 5
    assert len(after.captured_queries) == len(before.captured_queries)


def test_pickups_api_queries_stay_constant(integration_api, device_api, stocked):
    def place():
        body = {
            "client_id": str(uuid.uuid4()),
            "pickup_location": "SA1",
            "lines": [{"sku": "TEE-M", "quantity": 1}, {"sku": "CAP-1", "quantity": 1}],
            "payments": [{"method": "card", "amount": "30.90"}],
        }
        assert integration_api.post("/api/v1/online-orders", body, format="json").status_code == 201

    place()
    with CaptureQueriesContext(connection) as before:
        device_api.get("/api/v1/pickups?status=reserved")
    for _ in range(3):
        place()
    with CaptureQueriesContext(connection) as after:
        response = device_api.get("/api/v1/pickups?status=reserved")
    assert len(response.json()["results"]) == 4
    assert len(after.captured_queries) == len(before.captured_queries)
