"""apps.core.rows: the cheap INSERT writes what the ORM would, and sets primary keys."""

import uuid

import pytest
from django.db import connection

from apps.core.models import IdempotencyRecord
from apps.core.rows import prepared_cursor, rows_insert
from apps.sales.models import Counter

pytestmark = pytest.mark.django_db


def _records(client, count):
    return [
        IdempotencyRecord(
            client=client,
            scope="test",
            key=uuid.uuid4(),
            fingerprint=f"f{n}",
            response_status=201,
            response_body=f'{{"n": {n}}}',
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("returning", [True, False])
def test_rows_are_written_as_the_orm_would_and_get_their_keys(device_a, monkeypatch, returning):
    monkeypatch.setattr(
        type(connection.features),
        "can_return_rows_from_bulk_insert",
        property(lambda features: returning),
    )
    records = _records(device_a[0], 3)
    rows_insert(records)
    assert all(record.pk for record in records)
    assert not any(record._state.adding for record in records)
    for record in records:
        stored = IdempotencyRecord.objects.get(pk=record.pk)
        assert (stored.key, stored.fingerprint, stored.response_body) == (
            record.key,
            record.fingerprint,
            record.response_body,
        )
        assert stored.created_at == record.created_at  # auto_now_add, as save() sets it


def test_nothing_to_insert_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        rows_insert([])


def test_the_prepared_cursor_is_logged_and_reads_like_any_cursor(django_assert_num_queries):
    Counter.objects.create(name="t", last=41)
    with django_assert_num_queries(1), prepared_cursor() as cursor:
        cursor.execute(
            "UPDATE sales_counter SET last = last + %s WHERE name = %s RETURNING last", [1, "t"]
        )
        assert cursor.fetchone() == (42,)


@pytest.mark.postgres
def test_prepared_statements_are_logged_as_written(django_assert_num_queries):
    """psycopg keeps no text for a prepared statement (PostgreSQL prepares this one from
    the fifth run on): the log shows the statement as written, never None."""
    Counter.objects.create(name="t", last=0)
    sql = "UPDATE sales_counter SET last = last + %s WHERE name = %s RETURNING last"
    with django_assert_num_queries(7) as captured:
        for _ in range(7):
            with prepared_cursor() as cursor:
                cursor.execute(sql, [1, "t"])
                cursor.fetchone()
    logged = [query["sql"] for query in captured.captured_queries]
    assert all(isinstance(text, str) and text.startswith("UPDATE sales_counter") for text in logged)
