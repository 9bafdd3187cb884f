"""Every creating POST is idempotent by the client's `client_id` (ARCHITECTURE rule 3).

    status, body = idempotent(
        client=request.user, scope="sales", body=request.data,
        create=lambda: (201, SaleSerializer(sale_record(...)).data),
    )

- The same `client_id` with the same body returns the first response again (same status,
  same body); with a different body it is 409 `idempotency_conflict`.
- The record is inserted in the same transaction as the creation, and the unique
  constraint on (client, scope, key) decides between concurrent replays: the loser's
  transaction rolls back entirely, then it reads the winner's committed record.
- Only successful responses are stored. A request refused with a 4xx changed nothing,
  so there is nothing to replay: the client may correct it and send it again with the
  same `client_id` (an offline queue cannot mint a new id for a sale already paid).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from rest_framework.utils.encoders import JSONEncoder

from .errors import IdempotencyConflict, ValidationFailed
from .models import IdempotencyRecord
from .rows import prepared_cursor, rows_insert

# How long a loser of a race waits for the winner's record to become visible.
_WINNER_WAIT_SECONDS = 5.0

# The unique constraints a concurrent replay of one client_id runs into: the record's
# own, and the client_id of the orders and returns that the requests create. Any other
# IntegrityError is a bug and is raised at once, not waited on.
_REPLAY_CONSTRAINTS = frozenset(
    {"idempotency_record_unique", "order_client_id_unique", "return_client_id_unique"}
)
# SQLite does not name the constraint, only the columns of the violated unique index.
_REPLAY_COLUMNS = frozenset(
    {
        "core_idempotencyrecord.client_id, core_idempotencyrecord.scope,"
        " core_idempotencyrecord.key",
        "sales_order.created_by_id, sales_order.client_id",
        "sales_return.created_by_id, sales_return.client_id",
    }
)
_SQLITE_UNIQUE = "UNIQUE constraint failed: "


def body_fingerprint(body: Any) -> str:
    """sha256 of the canonical JSON of a request body (sorted keys, no spaces)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), cls=JSONEncoder)
    return hashlib.sha256(canonical.encode()).hexdigest()


def client_id_of(body: Any) -> uuid.UUID:
    """The body's `client_id` as a UUID; ValidationFailed (400 invalid) otherwise."""
    value = body.get("client_id") if isinstance(body, dict) else None
    try:
        return uuid.UUID(str(value)) if value is not None else _missing()
    except ValueError as error:
        raise ValidationFailed.for_field("client_id", "client_id must be a UUID.") from error


def _missing() -> uuid.UUID:
    raise ValidationFailed.for_field("client_id", "client_id is required.")


def _replay(record: tuple[str, int, str], key: uuid.UUID, fingerprint: str) -> tuple[int, Any]:
    stored_fingerprint, status, body = record
    if stored_fingerprint != fingerprint:
        raise IdempotencyConflict(
            f"client_id {key} was already used with a different request body."
        )
    return status, json.loads(body)


def lost_race(error: IntegrityError) -> bool:
    """Whether `error` is a concurrent replay's unique violation (wait for the winner's
    record) rather than any other integrity error (a bug: raise it)."""
    diagnostic = getattr(error.__cause__, "diag", None)
    if diagnostic is not None:  # PostgreSQL names the violated constraint
        return diagnostic.constraint_name in _REPLAY_CONSTRAINTS
    message = str(error)
    if not message.startswith(_SQLITE_UNIQUE):
        return False
    violated = message.removeprefix(_SQLITE_UNIQUE)
    index = violated.removeprefix("index '").removesuffix("'")
    return violated in _REPLAY_COLUMNS or index in _REPLAY_CONSTRAINTS


# Written out: every creating POST runs it, and compiling the ORM's form of this one
# indexed lookup cost more than the database spent on it.
_FIND_SQL = (
    "SELECT fingerprint, response_status, response_body FROM core_idempotencyrecord"
    " WHERE client_id = %s AND scope = %s AND key = %s"
)


def _find(client, scope: str, key: uuid.UUID) -> tuple[str, int, str] | None:
    """(fingerprint, status, body) of the stored response, or None."""
    key_field = IdempotencyRecord._meta.get_field("key")
    with prepared_cursor(connection) as cursor:
        cursor.execute(_FIND_SQL, [client.pk, scope, key_field.get_db_prep_value(key, connection)])
        return cursor.fetchone()


@dataclass(frozen=True)
class RecordKey:
    """What identifies the record to store: for a `create_alone` that stores it itself."""

    client: Any
    scope: str
    key: uuid.UUID
    fingerprint: str


def _create_and_store(record: RecordKey, create: Callable[[], tuple[int, Any]]):
    with transaction.atomic():
        status, response_body = create()
        # Round-trip through JSON now so a replay returns byte-for-byte the same body.
        text = json.dumps(response_body, cls=JSONEncoder)
        stored_body = json.loads(text)
        rows_insert(
            [
                IdempotencyRecord(
                    client=record.client,
                    scope=record.scope,
                    key=record.key,
                    fingerprint=record.fingerprint,
                    response_status=status,
                    response_body=text,
                )
            ]
        )
    return status, stored_body


def idempotent(
    *,
    client,
    scope: str,
    body: Any,
    create: Callable[[], tuple[int, Any]],
    key: uuid.UUID | None = None,
    create_alone: Callable[[RecordKey], tuple[int, Any] | None] | None = None,
) -> tuple[int, Any]:
    """Run `create` once per (client, scope, client_id); replay its response after.

    `create` runs inside the transaction that also stores the record, and returns
    (status, JSON-able body). A DomainError it raises propagates and nothing is stored.
    `create_alone`, when given, is tried first, outside any transaction: a fast path that
    writes its rows and the record (the RecordKey it is given, its body exactly the JSON
    of what it returns) in one statement of its own, or returns None having written
    nothing, and `create` runs as usual.
    Only a violation of the record's or the created order's/return's client_id unique
    constraint counts as a lost race (the winner's record is awaited and replayed); any
    other IntegrityError propagates at once.
    Raises IdempotencyConflict, ValidationFailed (no or malformed client_id).
    """
    key = key or client_id_of(body)
    fingerprint = body_fingerprint(body)
    existing = _find(client, scope, key)
    if existing is not None:
        return _replay(existing, key, fingerprint)
    record = RecordKey(client=client, scope=scope, key=key, fingerprint=fingerprint)
    try:
        done = create_alone(record) if create_alone is not None else None
        status, stored_body = done if done is not None else _create_and_store(record, create)
    except IntegrityError as error:
        if not lost_race(error):
            raise
        # A concurrent replay won: everything this one did is rolled back. Its record
        # is committed (the unique index made us wait for it) or about to be.
        deadline = time.monotonic() + _WINNER_WAIT_SECONDS
        while True:
            winner = _find(client, scope, key)
            if winner is not None:
                return _replay(winner, key, fingerprint)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    return status, stored_body
