"""Indexes that leave out rows no read can want: movement_reference (migration 0009)
holds every ledger row but an import's, and the variant name trigram index (catalog
0006) every variant but those with a blank name. The reads that used them still do,
and find the same rows."""

import pytest
from django.db import connection, transaction

from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from apps.inventory.models import IMPORT_REFERENCE_TYPE, Movement
from apps.inventory.selectors import _contains_matches, stock_levels_at
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
    """The plan with only bitmap scans enabled: on a tiny table it still shows which
    index can serve the condition (a bitmap scan needs one)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for scan in ("seqscan", "indexscan", "indexonlyscan"):
            cursor.execute(f"SET LOCAL enable_{scan} = off")
        return queryset.order_by().explain()


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


def test_stock_search_by_variant_name_uses_the_index_without_blank_names(store_a):
    named = VariantFactory(sku="LIN-1", name="Linen shirt navy")
    blank = VariantFactory(sku="LIN-2", name="")
    for variant in (named, blank):
        _receive(variant, store_a, "receipt", "1")

    found = stock_levels_at(store_a, search="SHIRT NAV")
    assert [level.sku for level in found] == ["LIN-1"]
    assert [level.sku for level in stock_levels_at(store_a, search="lin-")] == ["LIN-1", "LIN-2"]
    by_variant, _ = _contains_matches("shirt nav")
    assert "catalog_variant_name_trgm" in _plan(by_variant)
