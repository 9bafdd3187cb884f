"""AnyOf selects exactly what `__in` selects (text, ids, across a join), with one
array parameter on PostgreSQL."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.catalog.models import Barcode, Variant
from apps.core.lookups import AnyOf, rows_read
from tests.factories import BarcodeFactory, VariantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def variants():
    skus = ["A-1", "0042", "b'quote", "x%_y", "Ünïcode", "with space ", "L" * 64]
    skus += ['d"q', "back\\slash", "a,b", "{br}", "NULL", "", " "]
    made = [VariantFactory(sku=sku) for sku in skus]
    for variant in made[:3]:
        BarcodeFactory(variant=variant)
    return made


def test_text_ids_and_joins_select_what_in_selects(variants):
    wanted = ["A-1", "0042", "x%_y", "Ünïcode", "missing", "a-1", "L" * 65]
    wanted += ['d"q', "back\\slash", "a,b", "{br}", "NULL", "", "null", "back\\\\slash"]
    assert Variant.objects.filter(AnyOf("sku", wanted)).count() == 10
    assert sorted(Variant.objects.filter(AnyOf("sku", wanted)).values_list("sku", "id")) == sorted(
        Variant.objects.filter(sku__in=wanted).values_list("sku", "id")
    )
    ids = [v.pk for v in variants[1:4]] + [999_999]
    assert sorted(Variant.objects.filter(AnyOf("id", ids)).values_list("id", flat=True)) == sorted(
        v.pk for v in variants[1:4]
    )
    joined = ["A-1", "b'quote", "Ünïcode"]
    assert sorted(
        Barcode.objects.filter(AnyOf("variant__sku", joined)).values_list("code", "variant__sku")
    ) == sorted(Barcode.objects.filter(variant__sku__in=joined).values_list("code", "variant__sku"))
    assert list(Variant.objects.filter(AnyOf("sku", []))) == []


@pytest.mark.postgres
def test_postgres_passes_one_array_parameter(variants):
    wanted = [f"S-{i}" for i in range(5000)] + ["0042"]
    with CaptureQueriesContext(connection) as queries:
        found = list(Variant.objects.filter(AnyOf("sku", wanted)).values_list("sku", flat=True))
    assert found == ["0042"]
    assert "= ANY(" in queries.captured_queries[0]["sql"]
    # Typed as the column (bigint), not as psycopg's smallest fit for small ids.
    ids = list(range(1, 4001))
    sql = str(Variant.objects.filter(AnyOf("product_id", ids)).explain())
    assert "bigint[]" in sql


def test_rows_read_gives_what_iterating_the_queryset_gives(variants):
    variants[0].compare_at_price = None
    variants[0].save()
    fields = ("id", "sku", "product__handle", "price", "compare_at_price", "active", "tracking")
    wanted = Variant.objects.filter(AnyOf("sku", ["A-1", "0042", "NULL", "missing"]))
    assert sorted(rows_read(wanted.values_list(*fields))) == sorted(wanted.values_list(*fields))
    assert rows_read(Variant.objects.filter(AnyOf("sku", [])).values_list("id")) == []
    assert rows_read(Variant.objects.none().values_list("id")) == []
