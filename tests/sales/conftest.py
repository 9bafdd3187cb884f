import pytest
from django.db import transaction

from apps.catalog.models import LocationPrice
from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from tests.factories import VariantFactory


def receive(location, variant, quantity):
    with transaction.atomic():
        stock_apply(
            changes=[StockChange(variant.pk, location.pk, Reason.RECEIPT, on_hand=quantity)],
            actor=Actor(),
            reference_type="test",
        )


@pytest.fixture
def tee(db):
    return VariantFactory(sku="TEE-M", price="19.90")


@pytest.fixture
def cap(db):
    return VariantFactory(sku="CAP-1", price="12.50")


@pytest.fixture
def stocked(store_a, store_b, tee, cap):
    """10 tees and 5 caps at store A, 3 tees and 3 caps at store B; caps cost 11.00 at A."""
    receive(store_a, tee, 10)
    receive(store_a, cap, 5)
    receive(store_b, tee, 3)
    receive(store_b, cap, 3)
    LocationPrice.objects.create(variant=cap, location=store_a, price="11.00")
