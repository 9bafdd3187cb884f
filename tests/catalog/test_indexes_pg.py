"""The catalog's reads keep an index after migration 0005 dropped the LIKE-pattern
twins (each cost a write per imported row). Plans are read with only bitmap scans
enabled, so that a tiny test table still shows which index can serve the query's
condition at all (a bitmap scan needs one)."""

import pytest
from django.db import connection, transaction

from apps.catalog.models import Barcode, Product, Variant
from apps.catalog.selectors import product_list_queryset
from tests.factories import BarcodeFactory, VariantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

UPPER_SKU_INDEXES = ("catalog_variant_sku_upper_pattern", "catalog_variant_sku_trgm")


def _plan(queryset) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        for scan in ("seqscan", "indexscan", "indexonlyscan"):
            cursor.execute(f"SET LOCAL enable_{scan} = off")
        return queryset.order_by().explain()


def _index_names(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def catalog():
    for number in range(3):
        variant = VariantFactory(sku=f"TEE-{number:03d}")
        BarcodeFactory(variant=variant, code=f"200000000000{number}")


def test_each_written_table_keeps_only_the_indexes_that_reads_use():
    assert _index_names("catalog_product") == {
        "catalog_product_pkey",
        "catalog_product_handle_key",
        "catalog_product_category_id_35bf920b",
        "catalog_product_name_trgm",
        "product_name_id",
        "product_brand",
    }
    assert _index_names("catalog_variant") == {
        "catalog_variant_pkey",
        "catalog_variant_sku_key",
        "catalog_variant_product_id_8a21d193",
        "catalog_variant_sku_upper_pattern",
        "catalog_variant_sku_trgm",
        "catalog_variant_name_trgm",
        "variant_change_seq_id",
    }
    assert _index_names("catalog_barcode") == {
        "catalog_barcode_pkey",
        "catalog_barcode_code_key",
        "catalog_barcode_variant_id_f6de32e8",
    }


def _upper_sku_index(plan: str) -> bool:
    """Whether the plan reads one of the two indexes on UPPER(sku) (pattern, trigram)."""
    return any(name in plan for name in UPPER_SKU_INDEXES)


def test_sku_prefix_search_finds_by_prefix_through_an_upper_sku_index(catalog):
    found = product_list_queryset(query="tee-00").values_list("variants__sku", flat=True)
    assert sorted(found) == ["TEE-000", "TEE-001", "TEE-002"]
    assert product_list_queryset(query="EE-00").count() == 0  # a prefix, not contains
    assert _upper_sku_index(_plan(Variant.objects.filter(sku__istartswith="tee-00")))


def test_exact_lookups_use_the_unique_indexes(catalog):
    assert "catalog_variant_sku_key" in _plan(Variant.objects.filter(sku="TEE-001"))
    assert "catalog_barcode_code_key" in _plan(Barcode.objects.filter(code="2000000000001"))
    assert "catalog_product_handle_key" in _plan(Product.objects.filter(handle="any-handle"))


def test_case_insensitive_sku_check_uses_an_upper_sku_index(catalog):
    taken = Variant.objects.filter(sku__iexact="tee-001")
    assert list(taken.values_list("sku", flat=True)) == ["TEE-001"]
    assert _upper_sku_index(_plan(taken))
