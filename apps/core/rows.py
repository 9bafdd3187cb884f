"""Cheap reads and INSERTs on hot paths (a POS sale writes four tables).

`Model.objects.create()` and `bulk_create()` compile their SQL on every call, which cost
more CPU than the database spent on a sale's rows. `rows_insert` builds the statement
once per (model, row count, backend) and prepares values exactly as the ORM does
(`pre_save` for auto_now fields, `get_db_prep_save` for adaptation), then sets each
instance's primary key from RETURNING, as `bulk_create` does. No signals are sent: use
it only for models without save() logic or signal receivers.

`prepared_cursor` is, on PostgreSQL, a cursor with server-side parameter binding, so
psycopg prepares a statement the fifth time a connection runs it and the server stops
parsing and planning it (a sale's variant SELECT: 0.39 -> 0.10 ms of server CPU);
Django's default cursor binds client-side, and a statement text with the values inside
is never the same twice. Elsewhere it is the ordinary cursor.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.backends.utils import CursorWrapper

try:
    from django.db.backends.postgresql.base import CursorDebugWrapper, ServerBindingCursor
except ImportError:  # no psycopg 3: only the ordinary cursor is used
    CursorDebugWrapper = ServerBindingCursor = None
else:

    class _LoggedAsWritten(CursorDebugWrapper):
        """Logs a statement as written (placeholders, not values): psycopg keeps no text
        for a prepared statement, so Django's usual rebuilt query would log None."""

        def execute(self, sql, params=None):
            with self.debug_sql(sql, params):
                return CursorWrapper.execute(self, sql, params)


def prepared_cursor(connection=None):
    """A Django cursor (error translation, query logging) whose statements PostgreSQL
    prepares once they repeat; the ordinary cursor on other databases."""
    connection = connection or connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql" or ServerBindingCursor is None:
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = ServerBindingCursor(connection.connection)
    connection.validate_thread_sharing()
    if connection.queries_logged:
        return _LoggedAsWritten(cursor, connection)
    return connection.make_cursor(cursor)


@functools.lru_cache(maxsize=64)
def _insert_sql(model: type[models.Model], count: int, vendor: str) -> tuple[str, tuple]:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    fields = tuple(f for f in model._meta.local_concrete_fields if not f.primary_key)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608 - names from the model
        f"({', '.join(quote(f.column) for f in fields)}) VALUES "
        + ", ".join([row] * count)
        + f" RETURNING {quote(model._meta.pk.column)}"
    )
    return sql, fields


def rows_insert(objs: Sequence[models.Model]) -> None:
    """INSERT these unsaved instances of one model in one statement; set their pk."""
    if not objs:
        return
    # The thread's connection itself: every attribute read through the `connection`
    # proxy is a context-local lookup, and the fields read it many times per value.
    connection = connections[DEFAULT_DB_ALIAS]
    model = type(objs[0])
    if not connection.features.can_return_rows_from_bulk_insert:  # SQLite before 3.35
        for obj in objs:
            obj.save(force_insert=True)
        return
    sql, fields = _insert_sql(model, len(objs), connection.vendor)
    params = []
    for obj in objs:
        for field in fields:
            params.append(field.get_db_prep_save(field.pre_save(obj, True), connection))
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)
        ids = cursor.fetchall()
    for obj, (pk,) in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias


# Ids taken from a table's sequence before a COPY writes its rows (the ledger's and the
# catalog's bulk writes). The sequence is looked up once (MATERIALIZED): written inside
# nextval(), the lookup and the text-to-regclass cast ran for every row (0.65 s of the
# server for 283,000 ids).
_IDS_SQL = """
WITH sequence AS MATERIALIZED (
    SELECT pg_get_serial_sequence(%s, 'id')::regclass AS name
)
SELECT nextval(sequence.name) FROM sequence, generate_series(1, %s)
"""


def ids_take(cursor, table: str, count: int) -> list[int]:
    """`count` new ids from the table's sequence, in increasing order (PostgreSQL)."""
    cursor.execute(_IDS_SQL, [table, count])
    return sorted(row[0] for row in cursor.fetchall())
