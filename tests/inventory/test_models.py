"""What a ledger row names cannot be deleted through the ORM: Movement.actor_user,
actor_client and lot have no foreign key constraint, so Django's PROTECT check is what
refuses, and the refusal changes nothing."""

import pytest
from django.db.models import ProtectedError

from apps.accounts.models import ApiClient, User
from apps.inventory.models import Lot, Movement, StockLevel
from apps.inventory.services import SellLine, stock_receive, stock_sell
from tests.factories import VariantFactory

pytestmark = pytest.mark.django_db


def _ledger():
    return (
        list(StockLevel.objects.order_by("id").values_list("id", "on_hand", "reserved")),
        list(
            Movement.objects.order_by("id").values_list(
                "id", "delta_on_hand", "actor_user_id", "actor_client_id", "lot_id"
            )
        ),
    )


def test_user_named_by_the_ledger_is_not_deleted(store_a, hq_admin):
    stock_receive(location=store_a, variant=VariantFactory(), quantity=5, actor=hq_admin)
    before = _ledger()
    with pytest.raises(ProtectedError) as refused:
        hq_admin.delete()
    assert [type(row) for row in refused.value.protected_objects] == [Movement]
    assert User.objects.filter(pk=hq_admin.pk).exists()
    assert _ledger() == before
    assert before[1][0][2] == hq_admin.pk


def test_api_client_named_by_the_ledger_is_not_deleted(store_a, device_a):
    client, _ = device_a
    tee = VariantFactory()
    stock_receive(location=store_a, variant=tee, quantity=5, actor=None)
    stock_sell(
        location=store_a,
        lines=[SellLine(tee, 1)],
        actor=client,
        reference_type="s",
        reference_id="1",
    )
    before = _ledger()
    with pytest.raises(ProtectedError) as refused:
        client.delete()
    assert [type(row) for row in refused.value.protected_objects] == [Movement]
    assert ApiClient.objects.filter(pk=client.pk).exists()
    assert _ledger() == before
    assert before[1][1][3] == client.pk


def test_lot_named_by_the_ledger_is_not_deleted(store_a):
    cream = VariantFactory(sku="CREAM-1", tracking="lot")
    stock_receive(location=store_a, variant=cream, quantity=4, lot_code="L1", actor=None)
    lot = Lot.objects.get(variant=cream)
    before = _ledger()
    with pytest.raises(ProtectedError) as refused:
        lot.delete()
    assert Movement in {type(row) for row in refused.value.protected_objects}
    assert Lot.objects.filter(pk=lot.pk).exists()
    assert _ledger() == before
    assert before[1][0][4] == lot.pk
