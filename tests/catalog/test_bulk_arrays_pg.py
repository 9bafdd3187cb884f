"""The catalog bulk write passes its columns to PostgreSQL as array literals built in
Python (catalog.bulk_write._pg_array): every value must come back exactly as it went in."""

from decimal import Decimal

import pytest
from django.db import connection

from apps.catalog.bulk_write import _pg_array
from apps.catalog.models import Variant

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _round_trip(values, sql_type: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT unnest(%s::{sql_type}[])", [_pg_array(iter(values))])
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize(
    "values",
    [
        ["TEE-M", "", "a, b", "{braces}", "NULL", "Ünïcödé", " spaced "],
        ['say "hi"', "back\\slash", "plain"],
        ["TEE-M", None, ""],
        [Variant.Tracking.LOT, "none"],
        [],
    ],
    ids=["plain-text", "quotes-and-backslashes", "text-with-null", "choices", "empty"],
)
def test_text_columns_come_back_unchanged(values):
    assert _round_trip(values, "text") == [None if v is None else str(v) for v in values]


@pytest.mark.parametrize(
    ("values", "sql_type"),
    [
        ([1, 2, 3_000_000_000], "bigint"),
        ([7, None, 0], "bigint"),
        ([Decimal("19.90"), None, Decimal("0")], "numeric"),
        ([True, False, None], "boolean"),
    ],
)
def test_number_and_boolean_columns_come_back_unchanged(values, sql_type):
    assert _round_trip(values, sql_type) == values
