"""The bulk path of `stock_apply` on PostgreSQL: big batches (imports, demo data, large
stocktakes) without a model instance or a rendered VALUES tuple per row.

Same rules and same rows as the portable path (`ledger._plan_locked` + `ledger._write`),
with set-based SQL instead of the ORM:

- levels: one `SELECT ... FOR UPDATE` over `unnest(...)` ordered by (location, variant),
  so the locks are taken in the fixed order; the missing ones created by one
  `INSERT ... SELECT ... FROM unnest(...) ON CONFLICT DO NOTHING RETURNING`, and a
  racing creator's rows locked after it, like `levels_lock` - except those of variants
  the caller created in this transaction (`created_variant_ids`), see below;
- the rules checked in Python on plain tuples;
- the streams' numbers reserved last, one `UPDATE core_stream ... RETURNING` per stream
  in name order (like `events_append`: the stream lock is held from there to commit);
- balances and seq written by one `UPDATE ... FROM unnest(...)`; the levels of created
  variants inserted only now, once, with their final balances and seq (no other
  transaction can see those variants, so none can be creating their levels and make us
  wait while we hold a stream: an import's first load writes each level once instead of
  inserting it empty and rewriting it, every index twice);
- the created variants' levels, events and movements written with COPY in its binary
  format, each row packed by one struct call (level and movement ids are taken from
  their sequences first, so the returned movements carry their pk like
  `bulk_create`'s, and name their level's).

The returned movements and levels are built as model instances only when a caller reads
them: an import only counts them, and 300,000 instances cost seconds.
"""

from __future__ import annotations

import struct
from collections import ChainMap
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]

from django.db import DataError, connection
from django.utils import timezone

from apps.core.events import broadcast, location_stream, on_commit
from apps.core.models import Event, Stream

from .alerts import threshold_crossed
from .models import Discrepancy, Movement, StockLevel
from .tasks import stock_alerts_evaluate

# stock_apply sends batches of at least this many changes here on PostgreSQL.
BULK_MIN_CHANGES = 1000

_LOCK_SQL = """
SELECT l.id, l.location_id, l.variant_id, l.on_hand, l.reserved, l.reorder_point,
       l.negative_allowed
  FROM inventory_stocklevel AS l
  JOIN unnest(%s::bigint[], %s::bigint[]) AS k(location_id, variant_id)
    ON l.location_id = k.location_id AND l.variant_id = k.variant_id
 ORDER BY l.location_id, l.variant_id
   FOR UPDATE OF l
"""
_CREATE_SQL = """
INSERT INTO inventory_stocklevel
    (location_id, variant_id, on_hand, reserved, reorder_point, negative_allowed, seq,
     updated_at)
SELECT k.location_id, k.variant_id, 0, 0, 0, COALESCE(loc.allows_negative_stock, true), 0,
       %s
  FROM unnest(%s::bigint[], %s::bigint[]) AS k(location_id, variant_id)
  LEFT JOIN stores_location AS loc ON loc.id = k.location_id
 ORDER BY k.location_id, k.variant_id
ON CONFLICT (location_id, variant_id) DO NOTHING
RETURNING id, location_id, variant_id, on_hand, reserved, reorder_point, negative_allowed
"""
_RESERVE_SQL = "UPDATE core_stream SET last_seq = last_seq + %s WHERE name = %s RETURNING last_seq"
_UPDATE_SQL = """
UPDATE inventory_stocklevel AS l
   SET on_hand = v.on_hand, reserved = v.reserved, seq = v.seq, updated_at = %s
  FROM unnest(%s::bigint[], %s::integer[], %s::integer[], %s::bigint[])
       AS v(id, on_hand, reserved, seq)
 WHERE l.id = v.id
"""
# Ids taken from a table's sequence before its COPY. The sequence is looked up once
# (MATERIALIZED): written inside nextval(), the lookup and the text-to-regclass cast ran
# for every row (0.65 s of the server for 283,000 ids).
_IDS_SQL = """
WITH sequence AS MATERIALIZED (
    SELECT pg_get_serial_sequence(%s, 'id')::regclass AS name
)
SELECT nextval(sequence.name) FROM sequence, generate_series(1, %s)
"""
_LEVEL_COLUMNS = (
    "id",
    "location_id",
    "variant_id",
    "on_hand",
    "reserved",
    "reorder_point",
    "negative_allowed",
    "seq",
    "updated_at",
)
_MOVEMENT_COLUMNS = (
    "id",
    "level_id",
    "variant_id",
    "location_id",
    "delta_on_hand",
    "delta_reserved",
    "on_hand_after",
    "reserved_after",
    "reason",
    "reference_type",
    "reference_id",
    "actor_user_id",
    "actor_client_id",
    "lot_id",
    "serial",
    "note",
    "seq",
    "created_at",
)
# Rows per write to a COPY: one write per row costs a call into psycopg each.
_COPY_ROWS = 5000
# COPY's binary format (PostgreSQL's "COPY ... Binary Format"): a signature, flags and
# header extension length, then per row its field count (int16) and per field its byte
# length (int32, -1 for NULL) and value (network byte order), then -1 (int16). Compared
# with the text format, the server stores numbers and timestamps as sent instead of
# parsing them (0.31 s of the server in a 283,000-change import), and one struct call
# packs a row's numbers (less Python than formatting them as text; psycopg's
# write_row, two Python calls per row, was more).
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)
_NULL = struct.pack(">i", -1)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # a timestamptz is microseconds from here
# A new level: field count, then (length, value) for id, location_id, variant_id,
# on_hand, reserved, reorder_point, negative_allowed, seq (updated_at follows).
_LEVEL_ROW = struct.Struct(">h" + "iq" * 3 + "ii" * 3 + "i?" + "iq")
# A movement: field count, then (length, value) for id, level_id, variant_id,
# location_id, delta_on_hand, delta_reserved, on_hand_after, reserved_after.
_MOVEMENT_HEAD = struct.Struct(">h" + "iq" * 4 + "ii" * 4)
_INT8 = struct.Struct(">iq")
_INT4 = struct.Struct(">i")


def _int8(value: int | None) -> bytes:
    return _NULL if value is None else _INT8.pack(8, value)


def _text(value: str) -> bytes:
    data = value.encode()
    return _INT4.pack(len(data)) + data


def _timestamp(value: datetime) -> bytes:
    return _int8((value - _EPOCH) // timedelta(microseconds=1))


def _ints(values) -> str:
    """An integer array literal (`%s::bigint[]`): psycopg dumps a list element by element
    in Python, several times slower for 100,000s of values."""
    return "{" + ",".join(map(str, values)) + "}"


class _Lazy(Sequence):
    """Model instances built from row tuples on first read (list-like)."""

    def __init__(self, model, count: int, rows: Callable[[], Iterable[tuple]]) -> None:
        self._model, self._count, self._rows, self._built = model, count, rows, None

    def _all(self) -> list:
        if self._built is None:
            self._built = [self._model(*row) for row in self._rows()]
            for item in self._built:
                item._state.adding, item._state.db = False, connection.alias
        return self._built

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        return self._all()[index]

    def __iter__(self) -> Iterator:
        return iter(self._all())

    def __eq__(self, other) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # mutable-list-like


class _LazyLevels(Mapping):
    """(location_id, variant_id) -> StockLevel after, built on first read (dict-like)."""

    def __init__(self, levels: dict[tuple[int, int], list], keys: list, now: datetime) -> None:
        self._levels, self._keys, self._now, self._built = levels, keys, now, None

    def _all(self) -> dict:
        if self._built is None:
            self._built = {}
            for key in self._keys:
                level = StockLevel(*_level_row(self._levels[key], self._now))
                level._state.adding, level._state.db = False, connection.alias
                self._built[key] = level
        return self._built

    def __getitem__(self, key):
        return self._all()[key]

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def _lock(cursor, keys: list[tuple[int, int]]) -> dict[tuple[int, int], list]:
    """Lock the existing levels of these sorted keys, in (location, variant) order."""
    if not keys:
        return {}
    cursor.execute(_LOCK_SQL, [_ints(k[0] for k in keys), _ints(k[1] for k in keys)])
    return {(row[1], row[2]): list(row) for row in cursor.fetchall()}


def stock_apply_bulk(
    *,
    changes,
    actor,
    reference_type: str,
    reference_id: str,
    allow_short,
    created_variant_ids: Collection[int] = (),
    variant_skus: Mapping[int, str] | None = None,
):
    """`stock_apply` for a big batch on PostgreSQL (already validated by the caller).

    The missing levels of `created_variant_ids` (variants this transaction inserted, which
    no other transaction can see, so no one else can be creating their levels) are
    inserted once with their final balances and seq, after the streams are reserved: the
    others are created empty before (a racing creator must be waited for while no
    stream is held) and updated like the existing ones.
    """
    from .ledger import (
        AppliedStock,
        Shortfall,
        change_rule,
        insufficient_stock,
        unknown_locations,
    )

    now = timezone.now()
    wanted = sorted({(c.location_id, c.variant_id) for c in changes})
    location_ids = sorted({key[0] for key in wanted})
    with connection.cursor() as cursor:
        # Locked FOR KEY SHARE until commit, like ledger.locations_lock: the levels'
        # location has no foreign key constraint, so this is what keeps a location from
        # being deleted under the levels created here, and what refuses an unknown one.
        cursor.execute(
            "SELECT id, code, allows_negative_stock FROM stores_location"
            " WHERE id = ANY(%s::bigint[]) ORDER BY id FOR KEY SHARE",
            [_ints(location_ids)],
        )
        locations = {row[0]: row[1:] for row in cursor.fetchall()}
        if len(locations) != len(location_ids):
            raise unknown_locations(set(location_ids) - locations.keys())
        # [id, location_id, variant_id, on_hand, reserved, reorder_point, negative_allowed]
        levels = _lock(cursor, wanted)
        missing = [key for key in wanted if key not in levels]
        fresh: list[tuple[int, int]] = []  # inserted below, once, with their final values
        if created_variant_ids and missing:
            created = created_variant_ids
            fresh = [key for key in missing if key[1] in created]
            missing = [key for key in missing if key[1] not in created]
            for key in fresh:
                levels[key] = [None, key[0], key[1], 0, 0, 0, locations[key[0]][1]]
        if missing:
            cursor.execute(
                _CREATE_SQL, [now, _ints(k[0] for k in missing), _ints(k[1] for k in missing)]
            )
            for row in cursor.fetchall():
                levels[(row[1], row[2])] = list(row)
            # A racing creator made these between our lock and our insert: lock them
            # after it committed, in order (what levels_lock does).
            levels.update(_lock(cursor, [key for key in missing if key not in levels]))
        before = {key: (row[3], row[4]) for key, row in levels.items()}

        # The rules of ledger._plan_locked (ledger.change_rule), on tuples.
        moves: list[list] = []  # per movement: [key, change, old, new]
        shortfalls: list[tuple[tuple[int, int], object, int]] = []  # key, change, quantity
        short: dict[int, list[int]] = {}
        for change in changes:
            key = (change.location_id, change.variant_id)
            level = levels[key]
            old_on_hand, old_reserved = level[3], level[4]
            new_on_hand, new_reserved, refused, shortage = change_rule(
                change,
                old_on_hand,
                old_reserved,
                negative_allowed=level[6],
                allow_short=allow_short,
            )
            if refused:
                entry = short.setdefault(change.variant_id, [0, old_on_hand - old_reserved])
                entry[0] += refused
                continue
            if shortage:
                shortfalls.append((key, change, shortage))
            level[3], level[4] = new_on_hand, new_reserved
            if new_on_hand == old_on_hand and new_reserved == old_reserved:
                continue
            moves.append([key, change, (old_on_hand, old_reserved), (new_on_hand, new_reserved)])
        if short:
            cursor.execute("SELECT id, sku FROM catalog_variant WHERE id = ANY(%s)", [list(short)])
            raise insufficient_stock(short, dict(cursor.fetchall()))

        touched = sorted({move[0] for move in moves})
        codes = {location_id: row[0] for location_id, row in locations.items()}
        # The events name the SKU: read only those the caller did not give.
        known = variant_skus or {}
        unread = sorted({key[1] for key in touched if key[1] not in known})
        skus: Mapping[int, str] = known
        if unread:
            cursor.execute(
                "SELECT id, sku FROM catalog_variant WHERE id = ANY(%s::bigint[])",
                [_ints(unread)],
            )
            read = dict(cursor.fetchall())
            skus = ChainMap(read, known) if known else read

        # The streams last, in name order (events_append's order): from here to commit.
        by_stream: dict[str, list[tuple[int, int]]] = {}
        for key in touched:
            by_stream.setdefault(location_stream(codes[key[0]]), []).append(key)
        # (stream, seq, location code, sku, on_hand, reserved): kept until commit for the
        # broadcast, so no dict per event.
        events: list[tuple[str, int, str, str, int, int]] = []
        for stream in sorted(by_stream):
            keys = by_stream[stream]
            first = _reserve(cursor, stream, len(keys)) - len(keys) + 1
            code = codes[keys[0][0]]
            for offset, key in enumerate(keys):
                level = levels[key]
                level[7:] = [first + offset]
                events.append((stream, first + offset, code, skus[key[1]], level[3], level[4]))

        if fresh:
            _insert_fresh(cursor, fresh, levels, now)
        fresh_keys = set(fresh)
        updated = [key for key in touched if key not in fresh_keys]
        if updated:
            rows = [levels[key] for key in updated]
            cursor.execute(
                _UPDATE_SQL,
                [
                    now,
                    _ints(row[0] for row in rows),
                    _ints(row[3] for row in rows),
                    _ints(row[4] for row in rows),
                    _ints(row[7] for row in rows),
                ],
            )
        if events:
            _copy_events(cursor, events, now)
        ids = _copy_movements(cursor, moves, levels, actor, reference_type, reference_id, now)

    def movement_rows():
        return _movement_rows(ids, moves, levels, actor, reference_type, reference_id, now)

    # Built only when read (the discrepancies below, or a caller); once either way.
    movement_objects = _Lazy(Movement, len(moves), movement_rows)
    found = []
    if shortfalls:
        level_objects = _LazyLevels(levels, list(levels), now)
        # As ledger._write: the movement of a shortfall is the (last) one of its level
        # and reason.
        movement_of = {(move[0], move[1].reason): index for index, move in enumerate(moves)}
        found = [
            Shortfall(
                level_objects[key],
                movement_objects[movement_of[(key, change.reason)]]
                if (key, change.reason) in movement_of
                else None,
                quantity,
            )
            for key, change, quantity in shortfalls
        ]
        Discrepancy.objects.bulk_create(
            [
                Discrepancy(
                    level=item.level,
                    movement=item.movement,
                    quantity_short=item.quantity_short,
                    reference_type=reference_type,
                    reference_id=reference_id,
                )
                for item in found
            ]
        )
    # A level without a reorder point never needs an alert (alerts.alert_needed): no
    # call for those, most of an import's.
    crossed = [
        levels[key][0]
        for key in touched
        if levels[key][5] > 0
        and threshold_crossed(
            before=before[key][0] - before[key][1],
            after=levels[key][3] - levels[key][4],
            reorder_point=levels[key][5],
        )
    ]
    if crossed:
        on_commit(lambda: stock_alerts_evaluate.delay(crossed))
    if events:
        on_commit(lambda: broadcast(_Sent(*event) for event in events))
    return AppliedStock(
        movements=movement_objects,
        levels=_LazyLevels(levels, touched, now),
        shortfalls=found,
    )


def _insert_fresh(cursor, keys: list[tuple[int, int]], levels: dict, now: datetime) -> None:
    """Insert the levels of `keys` (sorted) with their final balances and seq; fill in
    their ids, taken from the sequence first so that a COPY writes them (no RETURNING
    of 300,000 rows in an import). No ON CONFLICT: only another transaction's level
    could conflict, and none can see these variants (a conflict is an error, and the
    whole batch rolls back)."""
    ids = _ids_take(cursor, "inventory_stocklevel", len(keys))
    updated = _timestamp(now)
    pack = _LEVEL_ROW.pack

    def rows() -> Iterator[bytes]:
        for pk, key in zip(ids, keys, strict=True):
            level = levels[key]
            level[0] = pk
            seq = level[7] if len(level) > 7 else 0
            yield pack(
                9, 8, pk, 8, key[0], 8, key[1], 4, level[3], 4, level[4], 4, level[5],
                1, level[6], 8, seq,
            ) + updated  # fmt: skip

    _copy(cursor, "inventory_stocklevel", _LEVEL_COLUMNS, rows())


def _copy(cursor, table: str, columns: Sequence[str], rows: Iterable[bytes]) -> None:
    """COPY `rows` (each in COPY's binary format, in `columns`' order) into the table,
    sent to the server _COPY_ROWS at a time. A balance past the integer columns' range
    raises DataError, as the server does on the other paths."""
    rows = iter(rows)
    names = ", ".join(columns)
    try:
        with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_SIGNATURE)
            while chunk := b"".join(islice(rows, _COPY_ROWS)):
                copy.write(chunk)
            copy.write(_TRAILER)
    except struct.error as error:
        raise DataError(f"{table}: integer out of range ({error})") from error


def _ids_take(cursor, table: str, count: int) -> list[int]:
    """`count` new ids from the table's sequence, in increasing order."""
    cursor.execute(_IDS_SQL, [table, count])
    return sorted(row[0] for row in cursor.fetchall())


def _level_row(level: list, now: datetime) -> tuple:
    """StockLevel's concrete fields in model order (see StockLevel: `available` is the
    generated column)."""
    pk, location_id, variant_id, on_hand, reserved, reorder_point, negative_allowed = level[:7]
    seq = level[7] if len(level) > 7 else 0
    return (
        pk,
        variant_id,
        location_id,
        on_hand,
        reserved,
        on_hand - reserved,
        reorder_point,
        negative_allowed,
        seq,
        now,
    )


def _reserve(cursor, stream: str, count: int) -> int:
    """Take `count` numbers from the stream; return the last (see core.events)."""
    cursor.execute(_RESERVE_SQL, [count, stream])
    row = cursor.fetchone()
    if row is None:
        Stream.objects.bulk_create([Stream(name=stream)], ignore_conflicts=True)
        cursor.execute(_RESERVE_SQL, [count, stream])
        row = cursor.fetchone()
    return row[0]


class _Sent:
    """What `broadcast` reads of an Event (stream, seq, as_message), without a model
    instance or a payload dict per event (300,000 of them cost a second after commit
    and ~100 MB until it)."""

    __slots__ = ("code", "on_hand", "reserved", "seq", "sku", "stream")
    type = "stock"

    def __init__(self, stream, seq, code, sku, on_hand, reserved) -> None:
        self.stream, self.seq, self.code, self.sku = stream, seq, code, sku
        self.on_hand, self.reserved = on_hand, reserved

    @property
    def payload(self) -> dict:
        return _payload(self.code, self.sku, self.on_hand, self.reserved)

    def as_message(self) -> dict:
        return Event.as_message(self)

    def __str__(self) -> str:
        return f"{self.stream}#{self.seq} {self.type}"


def _payload(code: str, sku: str, on_hand: int, reserved: int) -> dict:
    """A stock event's payload (the same keys as ledger._write's)."""
    return {
        "location": code,
        "sku": sku,
        "on_hand": on_hand,
        "reserved": reserved,
        "available": on_hand - reserved,
    }


def _copy_events(cursor, events, now) -> None:
    """COPY the events; each payload's JSON written by one f-string (json.dumps of a
    dict per event was most of this function), with the same keys as `_payload`. A
    jsonb value's binary format is a version byte (1) and the JSON text."""
    # The type and created_at, the same for every row.
    tail = _timestamp(now)
    kind = _text("stock")
    # stream -> (the row's field count and stream, its location code as a JSON string)
    heads: dict[str, tuple[bytes, str]] = {}
    pack_seq, pack_length = _INT8.pack, _INT4.pack

    def rows() -> Iterator[bytes]:
        for stream, seq, code, sku, on_hand, reserved in events:
            head = heads.get(stream)
            if head is None:
                head = heads[stream] = (b"\x00\x05" + _text(stream), encode_basestring_ascii(code))
            payload = (
                f'\x01{{"location": {head[1]}, "sku": {encode_basestring_ascii(sku)}, '
                f'"on_hand": {on_hand}, "reserved": {reserved}, '
                f'"available": {on_hand - reserved}}}'
            ).encode()
            yield b"".join(
                (head[0], pack_seq(8, seq), kind, pack_length(len(payload)), payload, tail)
            )

    _copy(cursor, "core_event", ("stream", "seq", "type", "payload", "created_at"), rows())


def _movement_rows(ids, moves, levels, actor, reference_type, reference_id, now):
    """The written movements as rows in Movement's field order (for the callers that
    read AppliedStock.movements)."""
    for pk, (key, change, old, new) in zip(ids, moves, strict=True):
        yield (
            pk,
            levels[key][0],
            key[1],
            key[0],
            new[0] - old[0],
            new[1] - old[1],
            new[0],
            new[1],
            change.reason,
            reference_type,
            reference_id,
            actor.user_id,
            actor.client_id,
            change.lot_id,
            change.serial,
            change.note,
            levels[key][7],
            now,
        )


def _copy_movements(cursor, moves, levels, actor, reference_type, reference_id, now) -> list:
    """COPY the movements with ids taken from their sequence first; return the ids."""
    if not moves:
        return []
    ids = _ids_take(cursor, "inventory_movement", len(moves))
    created = _timestamp(now)
    constant = _text(reference_type) + _text(reference_id)
    constant += _int8(actor.user_id) + _int8(actor.client_id)
    # (reason, lot, serial, note) -> those fields with the constant ones, in the binary
    # format: a batch has a few distinct ones (an import: one), so they are encoded once.
    middles: dict[tuple, bytes] = {}
    pack = _MOVEMENT_HEAD.pack
    pack_seq = _INT8.pack

    def rows() -> Iterator[bytes]:
        for pk, (key, change, old, new) in zip(ids, moves, strict=True):
            level = levels[key]
            extra = (change.reason, change.lot_id, change.serial, change.note)
            middle = middles.get(extra)
            if middle is None:
                middle = middles[extra] = b"".join(
                    (
                        _text(change.reason),
                        constant,
                        _int8(change.lot_id),
                        _text(change.serial),
                        _text(change.note),
                    )
                )
            head = pack(
                18, 8, pk, 8, level[0], 8, key[1], 8, key[0],
                4, new[0] - old[0], 4, new[1] - old[1], 4, new[0], 4, new[1],
            )  # fmt: skip
            yield b"".join((head, middle, pack_seq(8, level[7]), created))

    _copy(cursor, "inventory_movement", _MOVEMENT_COLUMNS, rows())
    return ids
