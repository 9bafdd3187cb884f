"""Real threads against PostgreSQL: one sale per client_id, returns never exceed."""

import threading
import uuid

import pytest
from django.db import close_old_connections
from rest_framework.test import APIClient

from apps.core.models import IdempotencyRecord
from apps.inventory.models import Movement, StockLevel
from apps.sales.models import Order, Return
from tests.sales.test_sales_api import sale_body

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(count, request):
    barrier = threading.Barrier(count)
    responses = [None] * count

    def worker(index):
        try:
            barrier.wait()
            responses[index] = request()
        finally:
            close_old_connections()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def client_for(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_concurrent_replays_record_one_sale(device_a, stocked, store_a, tee):
    body = sale_body()
    responses = run_concurrently(
        8, lambda: client_for(device_a[1]).post("/api/v1/sales", body, format="json")
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert Order.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
    assert StockLevel.objects.get(location=store_a, variant=tee).on_hand == 8
    assert Movement.objects.filter(reason="sale").count() == 2


def test_concurrent_returns_of_one_line_cannot_exceed_what_was_sold(
    device_a, stocked, store_a, tee
):
    sale = client_for(device_a[1]).post("/api/v1/sales", sale_body(), format="json").json()
    line_id = sale["lines"][0]["id"]

    def return_one():
        body = {
            "client_id": str(uuid.uuid4()),
            "sale": sale["number"],
            "lines": [{"line_id": line_id, "quantity": 1}],
            "refund": [{"method": "cash", "amount": "19.90"}],
        }
        return client_for(device_a[1]).post("/api/v1/returns", body, format="json")

    responses = run_concurrently(5, return_one)
    assert sorted(r.status_code for r in responses) == [201, 201, 400, 400, 400]
    assert Return.objects.count() == 2
    assert StockLevel.objects.get(location=store_a, variant=tee).on_hand == 10
