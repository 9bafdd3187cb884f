"""A plain POS sale on PostgreSQL is one statement (`sales_sale_record_fast`, sales
migration 0003) and writes exactly what the portable path writes: the same responses,
order, line, payment, ledger, event, level and idempotency rows; what it does not cover
(a shortfall, an inactive SKU, an offline total) falls back and is recorded as before."""

import io
import json
import uuid

import pytest
from django.core.management import call_command
from django.db import transaction
from rest_framework.test import APIClient

from apps.accounts.services import api_key_cache_clear
from apps.catalog.models import LocationPrice
from apps.core.models import Event, IdempotencyRecord
from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from apps.inventory.models import Discrepancy, Movement, StockLevel
from apps.sales import api as sales_api
from apps.sales.models import Order, OrderLine, Payment
from tests.factories import LocationFactory, VariantFactory, pos_device

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

CLIENT_IDS = [str(uuid.uuid4()) for _ in range(8)]


def _body(index, lines, payments, **extra):
    return {
        "client_id": CLIENT_IDS[index],
        "occurred_at": "2026-11-20T10:15:00+01:00",
        "lines": lines,
        "payments": payments,
        **extra,
    }


# (body, whether the fast path takes it)
SCRIPT = [
    (_body(0, [{"sku": "TEE-M", "quantity": 2}], [{"method": "card", "amount": "39.80"}]), True),
    (
        _body(
            1,
            [{"sku": "CAP-1", "quantity": 1}, {"sku": "TEE-M", "quantity": 1}],
            [
                {"method": "cash", "amount": "20.00", "reference": "drawer 2"},
                {"method": "card", "amount": "10.90", "reference": 'say "hi" \\ </>'},
            ],
            member="M-001",
            associate="AS-9",
            coupons=[],
        ),
        True,
    ),
    (_body(2, [{"sku": "MUG-1", "quantity": 3}], [{"method": "cash", "amount": "30.00"}]), True),
    # Offline without a client total: recorded as offline, priced by the server.
    (
        _body(
            3,
            [{"sku": "TEE-M", "quantity": 1}],
            [{"method": "cash", "amount": "19.90"}],
            offline=True,
        ),
        True,
    ),
    # More than on hand: the general path records it with a discrepancy.
    (_body(4, [{"sku": "CAP-1", "quantity": 9}], [{"method": "card", "amount": "99.00"}]), False),
    # An offline total that differs: the general path flags it.
    (
        _body(
            5,
            [{"sku": "MUG-1", "quantity": 1}],
            [{"method": "cash", "amount": "9.00"}],
            offline=True,
            client_totals={"total": "9.00"},
        ),
        False,
    ),
    # The same SKU twice: the general path.
    (
        _body(
            6,
            [{"sku": "TEE-M", "quantity": 1}, {"sku": "TEE-M", "quantity": 1}],
            [{"method": "card", "amount": "39.80"}],
        ),
        False,
    ),
]


@pytest.fixture
def two_stores(db):
    """Two stores stocked alike, a device at each."""
    tee = VariantFactory(sku="TEE-M", price="19.90")
    cap = VariantFactory(sku="CAP-1", price="12.50")
    mug = VariantFactory(sku="MUG-1", price="9.99")
    stores = [LocationFactory(code="FA1", name="Fast"), LocationFactory(code="GB1", name="General")]
    devices = []
    for store in stores:
        with transaction.atomic():
            stock_apply(
                changes=[
                    StockChange(tee.pk, store.pk, Reason.RECEIPT, on_hand=10),
                    StockChange(cap.pk, store.pk, Reason.RECEIPT, on_hand=5),
                    StockChange(mug.pk, store.pk, Reason.RECEIPT, on_hand=8),
                ],
                actor=Actor(),
                reference_type="test",
            )
        LocationPrice.objects.create(variant=cap, location=store, price="11.00")
        LocationPrice.objects.create(variant=mug, location=store, price="10.00")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {pos_device(store)[1]}")
        devices.append(client)
    return stores, devices


def _spy(monkeypatch, taken):
    real = sales_api.sale_record_alone

    def spy(**kwargs):
        done = real(**kwargs)
        if done is not None:
            taken.append(str(kwargs["client_id"]))
        return done

    monkeypatch.setattr(sales_api, "sale_record_alone", spy)


def _normal(value, code):
    """A response or stored body with what differs between the stores taken out."""
    text = json.dumps(value).replace(code, "<store>")
    body = json.loads(text)
    body.pop("id"), body.pop("received_at")
    for line in body["lines"]:
        line.pop("id")
    return body


def _rows(store):
    code = store.code
    orders = {o.pk: o.number for o in Order.objects.filter(location=store)}

    def strip(rows, *names):
        return [{k: v for k, v in row.items() if k not in names} for row in rows]

    return {
        "orders": strip(
            Order.objects.filter(location=store).order_by("number").values(),
            "id",
            "location_id",
            "created_by_id",
            "received_at",
            "closed_at",
        ),
        "lines": [
            {**row, "order_id": orders[row["order_id"]]}
            for row in strip(
                OrderLine.objects.filter(order__location=store).order_by("id").values(), "id"
            )
        ],
        "payments": [
            {**row, "order_id": orders[row["order_id"]]}
            for row in strip(
                Payment.objects.filter(order__location=store).order_by("id").values(), "id"
            )
        ],
        "movements": strip(
            Movement.objects.filter(location=store).order_by("id").values(),
            "id",
            "level_id",
            "location_id",
            "actor_client_id",
            "created_at",
        ),
        "events": strip(
            Event.objects.filter(stream=f"location.{code}").order_by("seq").values(),
            "id",
            "stream",
            "created_at",
        ),
        "levels": list(
            StockLevel.objects.filter(location=store)
            .order_by("variant_id")
            .values_list("variant_id", "on_hand", "reserved", "available", "seq")
        ),
        "discrepancies": list(
            Discrepancy.objects.filter(level__location=store)
            .order_by("id")
            .values_list("level__variant_id", "quantity_short", "reference_type", "reference_id")
        ),
    }


def test_fast_and_general_paths_write_the_same(two_stores, monkeypatch):
    (fast_store, general_store), (fast_device, general_device) = two_stores
    taken: list[str] = []
    _spy(monkeypatch, taken)
    fast = [fast_device.post("/api/v1/sales", body, format="json") for body, _ in SCRIPT]
    assert taken == [body["client_id"] for body, expected in SCRIPT if expected]

    monkeypatch.setattr(sales_api, "sale_record_alone", lambda **kwargs: None)
    general = [general_device.post("/api/v1/sales", body, format="json") for body, _ in SCRIPT]

    assert [r.status_code for r in fast] == [r.status_code for r in general] == [201] * len(SCRIPT)
    assert [_normal(r.json(), "FA1") for r in fast] == [_normal(r.json(), "GB1") for r in general]
    fast_rows = json.loads(json.dumps(_rows(fast_store), default=str).replace("FA1", "<store>"))
    general_rows = json.loads(
        json.dumps(_rows(general_store), default=str).replace("GB1", "<store>")
    )
    assert fast_rows == general_rows
    assert len(fast_rows["orders"]) == len(SCRIPT)
    assert len(fast_rows["discrepancies"]) == 1

    # Each stored response is the response, byte for byte once parsed; a replay returns it.
    for response in fast:
        record = IdempotencyRecord.objects.get(
            key=response.json()["client_id"], client__location=fast_store
        )
        assert (record.response_status, json.loads(record.response_body)) == (201, response.json())
    again = fast_device.post("/api/v1/sales", SCRIPT[1][0], format="json")
    assert (again.status_code, again.content) == (201, fast[1].content)
    detail = fast_device.get(f"/api/v1/sales/{fast[1].json()['number']}")
    assert detail.json() == fast[1].json()

    out = io.StringIO()
    call_command("check_stock", stdout=out)
    assert "match" in out.getvalue()


def test_a_plain_sale_is_three_queries_and_a_replay_one(
    two_stores, django_assert_num_queries, settings
):
    settings.OMO_API_KEY_CACHE_SECONDS = 60  # as in production: the key is not read again
    api_key_cache_clear()
    (store, _), (device, _) = two_stores
    body = SCRIPT[0][0]
    device.post("/api/v1/sales", {**body, "client_id": str(uuid.uuid4())}, format="json")
    # The idempotency lookup, the pricing read, the one statement that writes everything.
    with django_assert_num_queries(3):
        first = device.post("/api/v1/sales", body, format="json")
    with django_assert_num_queries(1):
        again = device.post("/api/v1/sales", body, format="json")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert StockLevel.objects.get(location=store, variant__sku="TEE-M").on_hand == 6
    api_key_cache_clear()


def test_refusals_on_the_fast_path_change_nothing(two_stores):
    (store, _), (device, _) = two_stores
    before = (Order.objects.count(), Movement.objects.count(), IdempotencyRecord.objects.count())
    unknown = _body(7, [{"sku": "NOPE", "quantity": 1}], [{"method": "cash", "amount": "1.00"}])
    short_paid = _body(7, [{"sku": "TEE-M", "quantity": 1}], [{"method": "cash", "amount": "1.00"}])
    assert device.post("/api/v1/sales", unknown, format="json").json()["code"] == "unknown_sku"
    response = device.post("/api/v1/sales", short_paid, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert response.json()["errors"][0]["field"] == "payments"
    after = (Order.objects.count(), Movement.objects.count(), IdempotencyRecord.objects.count())
    assert after == before
    # The same client_id, corrected, goes through; another body for it is then a conflict.
    fixed = {**short_paid, "payments": [{"method": "cash", "amount": "19.90"}]}
    assert device.post("/api/v1/sales", fixed, format="json").status_code == 201
    conflict = device.post("/api/v1/sales", short_paid, format="json")
    assert (conflict.status_code, conflict.json()["code"]) == (409, "idempotency_conflict")
    assert Order.objects.filter(location=store).count() == 1
