"""movement_reference (migration 0008) holds every ledger row but an import's: an
order's movements are still found through it, an import's rows cost it nothing."""

import pytest
from django.db import connection, transaction

from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from apps.inventory.models import IMPORT_REFERENCE_TYPE, Movement
from tests.factories import VariantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _receive(variant, location, reference_type: str, reference_id: str) -> None:
    stock_apply(
        changes=[StockChange(variant.pk, location.pk, Reason.RECEIPT, on_hand=2)],
        actor=Actor(),
        reference_type=reference_type,
        reference_id=reference_id,
    )


def _plan(queryset) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        return queryset.explain()


def test_lookup_by_reference_uses_the_index_and_import_rows_stay_out(store_a):
    variant = VariantFactory()
    _receive(variant, store_a, "sale", "S01-000001")
    _receive(variant, store_a, "return", "R01-000001")
    _receive(variant, store_a, IMPORT_REFERENCE_TYPE, "7")

    by_order = Movement.objects.filter(
        reference_type__in=("sale", "order"), reference_id="S01-000001"
    ) | Movement.objects.filter(reference_type="return", reference_id__in=["R01-000001"])
    assert sorted(by_order.values_list("reference_type", "reference_id")) == [
        ("return", "R01-000001"),
        ("sale", "S01-000001"),
    ]
    assert "movement_reference" in _plan(by_order)
    assert "movement_reference" in _plan(Movement.objects.filter(reference_type="transfer_in"))
    # An import's rows are still in the ledger, found by scanning, not in the index.
    assert Movement.objects.filter(reference_type=IMPORT_REFERENCE_TYPE).count() == 1
    assert "movement_reference" not in _plan(
        Movement.objects.filter(reference_type=IMPORT_REFERENCE_TYPE, reference_id="7")
    )
