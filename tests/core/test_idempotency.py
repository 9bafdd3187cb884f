import time
import uuid

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core import idempotency
from apps.core.idempotency import idempotent, lost_race
from apps.core.models import IdempotencyRecord
from apps.inventory.models import StockLevel
from apps.sales.models import Order
from tests.factories import VariantFactory

pytestmark = pytest.mark.django_db


def integrity_error_of(write) -> IntegrityError:
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        write()
    return caught.value


def record(client, key):
    return IdempotencyRecord.objects.create(
        client=client,
        scope="sales",
        key=key,
        fingerprint="f",
        response_status=201,
        response_body="{}",
    )


def test_a_duplicate_idempotency_record_is_a_lost_race(device_a):
    client, _ = device_a
    key = uuid.uuid4()
    record(client, key)
    assert lost_race(integrity_error_of(lambda: record(client, key))) is True


def test_a_duplicate_order_client_id_is_a_lost_race(device_a, store_a):
    client, _ = device_a
    client_id = uuid.uuid4()

    def order(number):
        return Order.objects.create(
            number=number,
            channel=Order.Channel.POS,
            status=Order.Status.COMPLETED,
            location=store_a,
            created_by=client,
            client_id=client_id,
            occurred_at=timezone.now(),
            subtotal=0,
            total=0,
        )

    order("SA1-900001")
    assert lost_race(integrity_error_of(lambda: order("SA1-900002"))) is True


def test_a_check_constraint_is_not_a_lost_race(store_a):
    variant = VariantFactory(sku="TEE-M")
    error = integrity_error_of(
        lambda: StockLevel.objects.create(location=store_a, variant=variant, reserved=-1)
    )
    assert lost_race(error) is False


def test_another_integrity_error_is_raised_at_once_and_stores_nothing(device_a, monkeypatch):
    client, _ = device_a
    slept = []
    monkeypatch.setattr(idempotency.time, "sleep", slept.append)

    def create():
        raise IntegrityError('new row violates check constraint "stock_reserved_not_negative"')

    started = time.monotonic()
    with pytest.raises(IntegrityError, match="stock_reserved_not_negative"):
        idempotent(
            client=client, scope="sales", body={"client_id": str(uuid.uuid4())}, create=create
        )
    assert time.monotonic() - started < 1
    assert slept == []
    assert IdempotencyRecord.objects.count() == 0
