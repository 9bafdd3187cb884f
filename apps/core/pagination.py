"""Cursor pagination for every sync list of the API (shared/pos-api.md, Conventions),
and the page number of the back-office screens' ?page=.

A page is `{"results": [...], "next_cursor": "..." | null}`. A cursor is the position
of the last row served, `(seq, id)`, where `seq` is a commit-ordered sequence number
(a Variant's `change_seq`, a StockLevel's `seq`) and `id` breaks ties. Because those
numbers are handed out in commit order (apps.core.events), every row committed after a
cursor was issued sorts after it: a cursor never skips it. A row that changes again
moves forward and is served again, which is what a sync wants.

Cursors are opaque to clients: django.core.signing turns the JSON position into a
base64url string with a signature, salted per list, so a tampered or foreign cursor is
a clean 400 `invalid` on the field it came in, never a 500 and never a shifted page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db import connection
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL

from .errors import ValidationFailed

DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
_SALT = "omo.pagination."
PAGE_MAX = 10**6


def page_number(value) -> int:
    """A screen's ?page= number clamped to [1, PAGE_MAX]; anything not a whole number is
    page 1 (a hand-edited URL gets a page, never an error)."""
    try:
        number = int(str(value or "1").strip()[:20])
    except ValueError:
        return 1
    return min(max(number, 1), PAGE_MAX)


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last row's sequence number and id."""

    seq: int
    id: int


def limit_parse(params: Mapping[str, Any], *, default: int = DEFAULT_LIMIT) -> int:
    """The `limit` query parameter, 1..MAX_LIMIT. Raises ValidationFailed on field limit."""
    raw = params.get("limit")
    if raw is None or raw == "":
        return default
    try:
        limit = int(str(raw).strip())
    except ValueError:
        limit = None
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed.for_field(
            "limit", f"limit must be a whole number from 1 to {MAX_LIMIT}."
        )
    return limit


def cursor_encode(position: Position, *, scope: str, **bound: Any) -> str:
    """An opaque, signed cursor for this position in the list named `scope`.

    `bound` are request values the cursor belongs to (e.g. the location of a stock
    list); `cursor_decode` refuses the cursor when they differ.
    """
    data = {"s": position.seq, "i": position.id, **bound}
    return signing.dumps(data, salt=_SALT + scope, compress=False)


def cursor_decode(raw: str, *, scope: str, field: str = "cursor", **bound: Any) -> Position:
    """The position of a cursor issued by `cursor_encode` for the same scope and bound
    values. Raises ValidationFailed (code invalid) on `field` for anything else."""
    refused = ValidationFailed.for_field(field, "This cursor is not valid for this list.")
    try:
        data = signing.loads(raw, salt=_SALT + scope)
    except (signing.BadSignature, ValueError, TypeError):
        raise refused from None
    if not isinstance(data, dict):
        raise refused
    seq, row_id = data.get("s"), data.get("i")
    if type(seq) is not int or type(row_id) is not int:
        raise refused
    if any(data.get(key) != value for key, value in bound.items()):
        raise refused
    return Position(seq=seq, id=row_id)


def keyset_after(queryset: QuerySet, position: Position | None, *, seq_field: str) -> QuerySet:
    """Rows strictly after `position` in (seq_field, id) order, in that order."""
    if position is not None:
        # The row comparison `(seq, id) > (s, i)` starts an index range on (seq, id)
        # right after the position. Spelled `seq >= s AND (seq > s OR id > i)` it selects
        # the same rows, but the scan starts at the first row of seq s: after an import
        # gave 100,000 variants one change_seq, every page re-read all rows before it.
        # PostgreSQL and SQLite (3.15+) both compare row values; `seq >= s` stays as a
        # plain range for planners that do not use the row comparison.
        table = connection.ops.quote_name(queryset.model._meta.db_table)
        seq_column = connection.ops.quote_name(queryset.model._meta.get_field(seq_field).column)
        id_column = connection.ops.quote_name(queryset.model._meta.pk.column)
        queryset = queryset.filter(
            Q(**{f"{seq_field}__gte": position.seq}),
            # Names come from the model, quoted; the values are parameters.
            RawSQL(  # noqa: S611
                f"({table}.{seq_column}, {table}.{id_column}) > (%s, %s)",
                (position.seq, position.id),
                output_field=BooleanField(),
            ),
        )
    return queryset.order_by(seq_field, "id")


@dataclass
class Page:
    rows: Sequence[Any]
    # The position after the last row served (None when the page is empty).
    last: Position | None
    has_more: bool


def page_take(
    queryset: QuerySet,
    *,
    limit: int,
    seq_field: str,
    evaluate: Callable[[QuerySet], list] = list,
) -> Page:
    """Evaluate one page of an ordered keyset queryset (limit + 1 rows tell whether
    there is more, without a COUNT). `evaluate` turns the sliced queryset into rows: `list`, or a
    function returning dicts that keep `id` and the seq field."""
    rows = evaluate(queryset[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    last = None
    if rows:
        row = rows[-1]
        # Model instances, or dicts from .values() on hot lists.
        if isinstance(row, dict):
            last = Position(seq=row[seq_field], id=row["id"])
        else:
            last = Position(seq=getattr(row, seq_field), id=row.id)
    return Page(rows=rows, last=last, has_more=has_more)
