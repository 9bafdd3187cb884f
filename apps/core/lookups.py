"""`column IN (many values)` without paying per value for building the query.

`filter(sku__in=values)` prepares every value through the field and, on PostgreSQL,
psycopg then rewrites one placeholder per value: for 100,000 SKUs that was most of an
import preview's time. `AnyOf` is the same test with the values passed as they are:
one array parameter (`= ANY(%s)`) on PostgreSQL, plain placeholders elsewhere.
"""

from __future__ import annotations

from django.core.exceptions import EmptyResultSet
from django.db import connection, connections
from django.db.models import F, Lookup

# Values per read: PostgreSQL pays per statement for planning with the whole array, so
# one read of 25,000 costs far less server CPU than seven of 4,000 (the 100k variants,
# barcodes and stock levels of an import: 1.1 -> 0.5 s). SQLite binds one placeholder
# per value, at most 32,766 a statement.
READ_CHUNK_POSTGRESQL = 25_000
READ_CHUNK = 4_000


class AnyOf(Lookup):
    """`AnyOf("sku", values)`: true when the column's value is one of `values`, which
    must already be of the column's Python type (str for text, int for ids)."""

    prepare_rhs = False

    def __init__(self, column: str, values) -> None:
        super().__init__(F(column), list(values))

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if not self.rhs:
            return "1 = 0", []
        if connection.vendor == "postgresql":
            # Typed as the column: psycopg would send small ids as smallint[], and
            # bigint = ANY(smallint[]) is compared value by value (no hashing): 0.6 s
            # instead of 5 ms for 4,000 ids. Text as text[]: never cut to a varchar(n).
            db_type = self.lhs.output_field.db_type(connection) or "text"
            if db_type.startswith(("varchar", "char")):
                db_type = "text"
            return f"{lhs} = ANY(%s::{db_type}[])", [*lhs_params, array_literal(self.rhs)]
        placeholders = ", ".join(["%s"] * len(self.rhs))
        return f"{lhs} IN ({placeholders})", [*lhs_params, *self.rhs]


def any_of_chunks(values):
    """`values` in lists of as many as one AnyOf read should take on this database."""
    values = list(values)
    size = READ_CHUNK_POSTGRESQL if connection.vendor == "postgresql" else READ_CHUNK
    for start in range(0, len(values), size):
        yield values[start : start + size]


def array_literal(values: list) -> str:
    """The PostgreSQL array literal of ints or strings, every string quoted (so `NULL`
    is text): psycopg's client-side array quoting costs far more per value (a second
    per 100k-row import preview)."""
    if all(type(value) is int for value in values):
        return "{" + ",".join(map(str, values)) + "}"
    texts = list(map(str, values))
    joined = "".join(texts)
    if "\\" in joined or '"' in joined:
        texts = [text.replace("\\", "\\\\").replace('"', '\\"') for text in texts]
    # Nearly always nothing to escape: checked once on the whole instead of per value.
    return '{"' + '","'.join(texts) + '"}'


def rows_read(queryset) -> list[tuple]:
    """The rows of a `values_list()` queryset, as its iteration gives them. On
    PostgreSQL the SQL Django compiles is run on a cursor and fetched at once when no
    selected field needs converting there: iterating the queryset fetches 100 rows at a
    time through the compiler (a 100k-row import's reads of its variants: 0.35 -> 0.15 s
    of CPU)."""
    database = connections[queryset.db]
    if database.vendor != "postgresql":
        return list(queryset)
    compiler = queryset.query.get_compiler(queryset.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        return []
    if compiler.get_converters([column for column, _, _ in compiler.select]):
        return list(queryset)
    with database.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
