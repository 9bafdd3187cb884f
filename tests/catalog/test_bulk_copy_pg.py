"""The catalog bulk write COPYs its new rows in the text format, built in Python
(catalog.bulk_copy): every value must come back exactly as it went in."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from apps.catalog.bulk_copy import copy_column, copy_rows, copy_value, copy_write

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

COLUMNS = ("number", "amount", "flag", "label", "at")


def _round_trip(rows: list[tuple]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE copied (position serial, number bigint, amount numeric,"
            " flag boolean, label text, at timestamptz) ON COMMIT DROP"
        )
        columns = [copy_column(list(values)) for values in zip(*rows, strict=True)]
        half = len(rows) // 2
        pieces = [copy_rows(columns, len(rows))] if rows else []
        if half:  # in two pieces, as the write sends its chunks
            pieces = [
                copy_rows([c if isinstance(c, str) else c[:half] for c in columns], half),
                copy_rows(
                    [c if isinstance(c, str) else c[half:] for c in columns], len(rows) - half
                ),
            ]
        copy_write(cursor, "copied", COLUMNS, pieces)
        cursor.execute("SELECT number, amount, flag, label, at FROM copied ORDER BY position")
        return cursor.fetchall()


MOMENT = datetime(2026, 11, 24, 13, 5, 7, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "labels",
    [
        ["TEE-M", "", "a, b", "{braces}", "Ünïcödé", " spaced "],
        ["NULL", "\\N", "back\\slash", "tab\there", "line\nbreak", "carriage\rreturn"],
        ["TEE-M", None, ""],
        ["same", "same", "same"],
        [None, None],
    ],
    ids=["plain", "escapes", "with-null", "one-value", "all-null"],
)
def test_text_comes_back_unchanged(labels):
    rows = [(index, Decimal("1.50"), True, label, MOMENT) for index, label in enumerate(labels)]
    assert _round_trip(rows) == rows


def test_numbers_booleans_and_times_come_back_unchanged():
    rows = [
        (3_000_000_000, Decimal("19.90"), True, "a", MOMENT),
        (None, None, False, "b", None),
        (0, Decimal("0"), None, "c", datetime(2026, 1, 1, tzinfo=UTC)),
    ]
    assert _round_trip(rows) == rows


def test_a_column_of_one_value_is_written_once():
    assert copy_column([Decimal("2.00")] * 3) == "2.00"
    assert copy_column([True, True]) == "t"
    assert copy_column([None, None]) == copy_value(None) == "\\N"
    assert copy_column([1, True]) == ["1", "t"]  # equal in Python, not in the column
    assert copy_rows(["1", ["a", "b"], "x", "y"], 2) == "1\ta\tx\ty\n1\tb\tx\ty\n"
    assert copy_rows([[]], 0) == ""
