"""COPY in the text format, for the catalog bulk write's new rows (PostgreSQL).

A new variant or barcode is COPYed, with its id taken from the table's sequence first,
instead of going through `INSERT ... SELECT FROM UNNEST(...) ON CONFLICT ... RETURNING`:
the server then skips the conflict probe of every row, the projection from the arrays
and the RETURNING, and stores the rows a page at a time (COPY's multi-insert). Rows are
built a column at a time: a column whose values are all the same is one string.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import repeat

NULL = "\\N"
# The characters COPY's text format gives a meaning to, written as its escapes.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SPECIAL = ("\\", "\t", "\n", "\r")


def copy_value(value) -> str:
    """One value as COPY's text format writes it."""
    if value is None:
        return NULL
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # int, Decimal


def copy_column(values: list) -> list[str] | str:
    """A column's values in COPY's text format: one string when they are all the same."""
    first = values[0]
    kinds = set(map(type, values))
    if len(kinds) == 1 and values.count(first) == len(values):
        return copy_value(first)
    if kinds == {str}:
        joined = "".join(values)
        # Checked on the whole column once: nearly always nothing to escape.
        if any(special in joined for special in _SPECIAL):
            return [value.translate(_ESCAPES) for value in values]
        return values
    if kinds == {int}:
        return list(map(str, values))
    return [copy_value(value) for value in values]


def copy_rows(columns: Sequence[list[str] | str], count: int) -> str:
    """`count` rows of these columns (copy_column's) as COPY's text format."""
    merged: list[list[str] | str] = []
    for column in columns:
        # Neighbouring one-valued columns are one string: fewer to join per row.
        if isinstance(column, str) and merged and isinstance(merged[-1], str):
            merged[-1] = f"{merged[-1]}\t{column}"
        else:
            merged.append(column)
    parts = [repeat(column, count) if isinstance(column, str) else column for column in merged]
    return "\n".join(map("\t".join, zip(*parts, strict=True))) + "\n" if count else ""


def copy_write(cursor, table: str, columns: Sequence[str], pieces: Iterable[str]) -> None:
    """COPY the rows of `pieces` (copy_rows' text) into the table, piece by piece: the
    server stores one while the next is built. Errors are Django's (IntegrityError ...)."""
    names = ", ".join(columns)
    statement = f"COPY {table} ({names}) FROM STDIN"
    with cursor.db.wrap_database_errors, cursor.cursor.copy(statement) as copy:
        for piece in pieces:
            copy.write(piece)
