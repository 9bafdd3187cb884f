"""The bulk path of `stock_apply` on PostgreSQL: big batches (imports, demo data, large
stocktakes) without a model instance or a rendered VALUES tuple per row.

Same rules and same rows as the portable path (`ledger._plan_locked` + `ledger._write`),
with set-based SQL instead of the ORM:

- levels: one `SELECT ... FOR UPDATE` over `unnest(...)` ordered by (location, variant),
  so the locks are taken in the fixed order; the missing ones created by one
  `INSERT ... SELECT ... FROM unnest(...) ON CONFLICT DO NOTHING RETURNING`, and a
  racing creator's rows locked after it, like `levels_lock` - except those of variants
  the caller created in this transaction (`created_variant_ids`): only this
  transaction can have made levels for those, so they are looked for by one index
  range scan per location, without a lock, and the missing ones inserted once (below);
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
  `bulk_create`'s, and name their level's); the events as packs of PACK_SIZE of one
  stream (Event.first_seq), which every reader expands to the portable path's events.

The returned movements and levels are built as model instances only when a caller reads
them: an import only counts them, and 300,000 instances cost seconds.

A run of batches (`stock_apply_bulk_batches`, an import's stock) goes through a
pipeline: the connection's thread only runs statements, a worker thread does the Python
of the batch (rules, events, COPY data) and of the next one while the server runs them.
"""

from __future__ import annotations

import struct
from collections import ChainMap
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import groupby, islice
from operator import itemgetter

from django.db import DataError, connection
from django.utils import timezone

from apps.core.events import PACK_SIZE, broadcast, location_stream, on_commit
from apps.core.models import Event, Stream, event_pack_json
from apps.core.rows import ids_take

from .alerts import threshold_crossed
from .models import Movement, StockLevel
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
# The levels of created variants at a location (only this transaction's can exist): one
# index range scan; the caller keeps those of its keys.
_RANGE_SQL = """
SELECT id, location_id, variant_id, on_hand, reserved, reorder_point, negative_allowed
  FROM inventory_stocklevel
 WHERE location_id = %s AND variant_id BETWEEN %s AND %s
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
_EVENT_COLUMNS = ("stream", "seq", "type", "payload", "created_at", "first_seq")
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
    batch = _Batch(changes, allow_short=allow_short, created_variant_ids=created_variant_ids)
    with connection.cursor() as cursor:
        batch.prepare(None)
        batch.lock(cursor)
        batch.plan(None)
        if batch.missing:
            batch.create(cursor)
        batch.reserve(cursor, variant_skus)
        batch.number()
        batch.write(cursor, batch.encoders(actor, reference_type, reference_id))
    return batch.finish(actor, reference_type, reference_id)


def stock_apply_bulk_batches(
    *,
    batches: Iterable[Sequence],
    actor,
    reference_type: str,
    reference_id: str,
    created_variant_ids: Collection[int] = (),
    variant_skus: Mapping[int, str] | None = None,
    after_batch: Callable[[object], None] | None = None,
) -> None:
    """`stock_apply_bulk` of each batch in turn (each validated here), `after_batch`
    called with each result: the same rows, in a pipeline. This thread only talks to
    the server; a worker thread does the Python between (the keys to lock, the rules,
    the events, the COPY data) while the server runs the statement before (psycopg
    releases the GIL while it waits), instead of the server waiting for Python and
    Python for the server. Per batch the server reads (locks) the next batch's levels
    before it takes this one's COPYs, so the next batch's rules are checked meanwhile.

    A level the next batch shares with this one is not read (this one has not written
    it yet): the next starts from its state after this one. A batch refused (or an
    `after_batch` raising) leaves the batches before it written: the caller's
    transaction rolls back."""
    from .ledger import _changes_check

    def planned(batch: _Batch, previous: _Batch | None) -> None:
        _changes_check(batch.changes)
        batch.plan(previous)

    batches = iter(batches)
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-bulk")
    try:
        with connection.cursor() as cursor:
            changes = next(batches, None)
            if changes is None:
                return
            current = _Batch(changes, allow_short=False, created_variant_ids=created_variant_ids)
            current.prepare(None)
            current.lock(cursor)
            plan = worker.submit(planned, current, None)
            upcoming, prepared = None, None
            if (changes := next(batches, None)) is not None:
                upcoming = _Batch(
                    changes, allow_short=False, created_variant_ids=created_variant_ids
                )
                prepared = worker.submit(upcoming.prepare, current)
            while current is not None:
                plan.result()
                if current.missing:
                    current.create(cursor)
                current.reserve(cursor, variant_skus)
                numbered = worker.submit(current.number)
                data = [
                    worker.submit(encode).result
                    for encode in current.encoders(actor, reference_type, reference_id)
                ]
                following = None
                if upcoming is not None:
                    prepared.result()
                    upcoming.lock(cursor)
                    # After this batch's numbers (the worker runs in order): the next
                    # batch starts from this one's levels after it.
                    plan = worker.submit(planned, upcoming, current)
                    if (changes := next(batches, None)) is not None:
                        following = _Batch(
                            changes, allow_short=False, created_variant_ids=created_variant_ids
                        )
                        prepared = worker.submit(following.prepare, upcoming)
                numbered.result()
                current.write(cursor, data)
                applied = current.finish(actor, reference_type, reference_id)
                if after_batch is not None:
                    after_batch(applied)
                current, upcoming = upcoming, following
    finally:
        # A failure leaves nothing for the queued work to do.
        worker.shutdown(cancel_futures=True)


class _Batch:
    """One batch through the bulk path, a step at a time. The server's steps: `lock`
    (the locations and the levels), `create` (the missing levels of variants not
    created by this transaction), `reserve` (the streams' numbers, the ids), `write`
    (the UPDATE and the COPYs). Python's, which use no connection (a worker thread may
    run them): `prepare` (the keys), `plan` (the rules), `number` (seqs, events), the
    `encoders` (COPY data). Then `finish` (discrepancies, after-commit work, result)."""

    def __init__(self, changes, *, allow_short: bool, created_variant_ids: Collection[int]):
        self.changes, self.allow_short = changes, allow_short
        self.created_variant_ids = created_variant_ids
        self.now = timezone.now()
        self.missing: list[tuple[int, int]] = []

    def prepare(self, previous: _Batch | None) -> None:
        """The keys, sorted (the lock order), split into those the batch before has
        (`previous`, not written yet: carried over), those to lock, and those of
        created variants (per location, the range of their variant ids)."""
        wanted = sorted({(c.location_id, c.variant_id) for c in self.changes})
        self.wanted = wanted
        self.keys = set(wanted)
        self.location_ids = sorted({key[0] for key in wanted})
        self.carried: list[tuple[int, int]] = []
        if previous is not None:
            self.carried = [key for key in wanted if key in previous.keys]
            if self.carried:
                wanted = [key for key in wanted if key not in previous.keys]
        created = self.created_variant_ids
        # No other transaction can see a created variant, so none can have or be
        # creating its levels: those are looked for (only this transaction's could
        # exist) by one range scan per location instead of a lookup per key.
        self.ranges: dict[int, list[int]] = {}
        locked = wanted
        if created:
            locked = []
            for key in wanted:
                if key[1] in created:
                    bounds = self.ranges.get(key[0])
                    if bounds is None:
                        self.ranges[key[0]] = [key[1], key[1]]
                    else:
                        bounds[1] = key[1]  # sorted: the last is the highest
                else:
                    locked.append(key)
        self.locked = locked
        self.lock_arrays = [_ints(k[0] for k in locked), _ints(k[1] for k in locked)]

    def lock(self, cursor) -> None:
        """Lock the locations and the existing levels (in (location, variant) order)."""
        from .ledger import locations_lock

        # Locked FOR KEY SHARE until commit: the levels' location has no foreign key
        # constraint, so this is what keeps a location from being deleted under the
        # levels created here, and what refuses an unknown one.
        self.locations = locations_lock(self.location_ids)
        # [id, location_id, variant_id, on_hand, reserved, reorder_point, negative_allowed]
        found = {}
        if self.locked:
            cursor.execute(_LOCK_SQL, self.lock_arrays)
            found = {(row[1], row[2]): list(row) for row in cursor.fetchall()}
        for location_id, (low, high) in sorted(self.ranges.items()):
            cursor.execute(_RANGE_SQL, [location_id, low, high])
            keys = self.keys
            for row in cursor.fetchall():
                if (row[1], row[2]) in keys:
                    found[(row[1], row[2])] = list(row)
        self.found = found

    def plan(self, previous: _Batch | None) -> None:
        """The levels, then the rules of ledger._plan_locked (ledger.change_rule) on
        tuples; stopped before the rules when levels must be created first (`missing`,
        see `create`)."""
        levels = self.found
        if self.carried:
            before = previous.levels
            levels.update((key, list(before[key])) for key in self.carried)
        # inserted by write, once, with their final values
        self.fresh: list[tuple[int, int]] = []
        missing = [key for key in self.wanted if key not in levels]
        if missing and self.created_variant_ids:
            created = self.created_variant_ids
            self.fresh = [key for key in missing if key[1] in created]
            missing = [key for key in missing if key[1] not in created]
            locations = self.locations
            for key in self.fresh:
                levels[key] = [None, key[0], key[1], 0, 0, 0, locations[key[0]][1]]
        self.levels, self.missing = levels, missing
        if not missing:
            self.rules()

    def create(self, cursor) -> None:
        """Create the missing levels empty (not those of created variants), then check
        the rules."""
        missing, levels = self.missing, self.levels
        cursor.execute(
            _CREATE_SQL, [self.now, _ints(k[0] for k in missing), _ints(k[1] for k in missing)]
        )
        for row in cursor.fetchall():
            levels[(row[1], row[2])] = list(row)
        # A racing creator made these between our lock and our insert: lock them after
        # it committed, in order (what levels_lock does).
        levels.update(_lock(cursor, [key for key in missing if key not in levels]))
        self.missing = []
        self.rules()

    def rules(self) -> None:
        from .ledger import change_rule

        levels, allow_short = self.levels, self.allow_short
        self.before = {key: (row[3], row[4]) for key, row in levels.items()}
        moves: list[list] = []  # per movement: [key, change, old, new]
        shortfalls: list[tuple[tuple[int, int], object, int]] = []  # key, change, quantity
        short: dict[int, list[int]] = {}
        for change in self.changes:
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
        self.moves, self.shortfalls, self.short = moves, shortfalls, short
        self.touched = touched = sorted({move[0] for move in moves})
        codes = {location_id: row[0] for location_id, row in self.locations.items()}
        by_stream: dict[str, list[tuple[int, int]]] = {}
        for key in touched:
            by_stream.setdefault(location_stream(codes[key[0]]), []).append(key)
        self.by_stream, self.codes = by_stream, codes

    def reserve(self, cursor, variant_skus: Mapping[int, str] | None) -> None:
        """Refuse a batch that found too little; read the SKUs the caller did not give;
        take the streams' numbers (last, in name order, events_append's order: held
        from here to commit) and the new levels' and movements' ids (so that the COPYs
        write them: no RETURNING of 300,000 rows in an import)."""
        from .ledger import insufficient_stock

        if self.short:
            cursor.execute(
                "SELECT id, sku FROM catalog_variant WHERE id = ANY(%s)", [list(self.short)]
            )
            raise insufficient_stock(self.short, dict(cursor.fetchall()))
        # The events name the SKU: read only those the caller did not give.
        known = variant_skus or {}
        unread = sorted({key[1] for key in self.touched if key[1] not in known})
        self.skus: Mapping[int, str] = known
        if unread:
            cursor.execute(
                "SELECT id, sku FROM catalog_variant WHERE id = ANY(%s::bigint[])",
                [_ints(unread)],
            )
            read = dict(cursor.fetchall())
            self.skus = ChainMap(read, known) if known else read
        self.firsts = {}
        for stream in sorted(self.by_stream):
            count = len(self.by_stream[stream])
            self.firsts[stream] = _reserve(cursor, stream, count) - count + 1
        self.level_ids = (
            ids_take(cursor, "inventory_stocklevel", len(self.fresh)) if self.fresh else []
        )
        self.movement_ids = (
            ids_take(cursor, "inventory_movement", len(self.moves)) if self.moves else []
        )

    def number(self) -> None:
        """Give the levels their seq and new ids; list the events, as (stream, seq,
        location code, sku, on_hand, reserved): kept until commit for the broadcast, so
        no dict per event."""
        levels, skus, codes = self.levels, self.skus, self.codes
        events: list[tuple[str, int, str, str, int, int]] = []
        for stream in sorted(self.by_stream):
            keys = self.by_stream[stream]
            first = self.firsts[stream]
            code = codes[keys[0][0]]
            for offset, key in enumerate(keys):
                level = levels[key]
                level[7:] = [first + offset]
                events.append((stream, first + offset, code, skus[key[1]], level[3], level[4]))
        for pk, key in zip(self.level_ids, self.fresh, strict=True):
            levels[key][0] = pk
        self.events = events

    def encoders(self, actor, reference_type: str, reference_id: str) -> list[Callable]:
        """What builds the COPY data of the new levels, the events and the movements,
        once numbered (no database: a worker thread may run them)."""
        return [
            lambda: _level_data(self.fresh, self.levels, self.now),
            lambda: _event_data(self.events, self.now),
            lambda: _movement_data(
                self.movement_ids,
                self.moves,
                self.levels,
                actor,
                reference_type,
                reference_id,
                self.now,
            ),
        ]

    def write(self, cursor, data: Sequence[Callable[[], list[bytes]]]) -> None:
        """The UPDATE of the levels that exist and the COPYs; `data`: the encoders, or
        what waits for a worker's results of them."""
        levels, now = self.levels, self.now
        level_data, event_data, movement_data = data
        if self.fresh:
            _copy(cursor, "inventory_stocklevel", _LEVEL_COLUMNS, level_data())
        fresh_keys = set(self.fresh)
        updated = [key for key in self.touched if key not in fresh_keys]
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
        if self.events:
            _copy(cursor, "core_event", _EVENT_COLUMNS, event_data())
        if self.moves:
            _copy(cursor, "inventory_movement", _MOVEMENT_COLUMNS, movement_data())

    def finish(self, actor, reference_type: str, reference_id: str):
        from .ledger import AppliedStock, Shortfall, discrepancies_record

        ids, moves, levels, now = self.movement_ids, self.moves, self.levels, self.now
        touched, before, events = self.touched, self.before, self.events

        def movement_rows():
            return _movement_rows(ids, moves, levels, actor, reference_type, reference_id, now)

        # Built only when read (the discrepancies below, or a caller); once either way.
        movement_objects = _Lazy(Movement, len(moves), movement_rows)
        found = []
        if self.shortfalls:
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
                for key, change, quantity in self.shortfalls
            ]
            discrepancies_record(found, reference_type, reference_id)
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


def _level_data(keys: list[tuple[int, int]], levels: dict, now: datetime) -> list[bytes]:
    """The COPY data of the new levels of `keys` (sorted, their ids taken), with their
    final balances and seq. No ON CONFLICT: only another transaction's level could
    conflict, and none can see these variants (a conflict is an error, and the whole
    batch rolls back)."""
    updated = _timestamp(now)
    pack = _LEVEL_ROW.pack

    def rows() -> Iterator[bytes]:
        for key in keys:
            level = levels[key]
            seq = level[7] if len(level) > 7 else 0
            yield pack(
                9, 8, level[0], 8, key[0], 8, key[1], 4, level[3], 4, level[4], 4, level[5],
                1, level[6], 8, seq,
            ) + updated  # fmt: skip

    return _chunks("inventory_stocklevel", rows())


def _chunks(table: str, rows: Iterable[bytes]) -> list[bytes]:
    """`rows` (each in COPY's binary format) joined _COPY_ROWS at a time, with the
    format's signature and trailer. A balance past the integer columns' range raises
    DataError, as the server does on the other paths."""
    rows = iter(rows)
    chunks = [_SIGNATURE]
    try:
        while chunk := b"".join(islice(rows, _COPY_ROWS)):
            chunks.append(chunk)
    except struct.error as error:
        raise DataError(f"{table}: integer out of range ({error})") from error
    chunks.append(_TRAILER)
    return chunks


def _copy(cursor, table: str, columns: Sequence[str], chunks: Iterable[bytes]) -> None:
    """COPY the data `chunks` (from _chunks, in `columns`' order) into the table."""
    names = ", ".join(columns)
    with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
        for chunk in chunks:
            copy.write(chunk)


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


# The keys of a stock pack's rows, after its "location" (`_payload`'s order).
_PACK_KEYS = ("sku", "on_hand", "reserved", "available")


def _payload(code: str, sku: str, on_hand: int, reserved: int) -> dict:
    """A stock event's payload (the same keys as ledger._write's)."""
    return {
        "location": code,
        "sku": sku,
        "on_hand": on_hand,
        "reserved": reserved,
        "available": on_hand - reserved,
    }


def _event_data(events, now) -> list[bytes]:
    """The COPY data of the events, as packs (Event.first_seq) of up to PACK_SIZE events
    of one stream each, which `event_messages` expands to `_payload`'s messages. A jsonb
    value's binary format is a version byte (1) and the JSON text."""
    # The type and created_at, the same for every row.
    kind, tail = _text("stock"), _timestamp(now)
    pack_length = _INT4.pack

    def rows() -> Iterator[bytes]:
        # `events` lists each stream's events together, numbered one after the other.
        for stream, stream_events in groupby(events, itemgetter(0)):
            stream_events = list(stream_events)
            head = b"\x00\x06" + _text(stream)
            common = {"location": stream_events[0][2]}
            for start in range(0, len(stream_events), PACK_SIZE):
                pack = stream_events[start : start + PACK_SIZE]
                values = (
                    [sku, on_hand, reserved, on_hand - reserved]
                    for _, _, _, sku, on_hand, reserved in pack
                )
                payload = b"\x01" + event_pack_json(common, _PACK_KEYS, values).encode()
                yield b"".join(
                    (
                        head,
                        _int8(pack[-1][1]),
                        kind,
                        pack_length(len(payload)),
                        payload,
                        tail,
                        _int8(pack[0][1]),
                    )
                )

    return _chunks("core_event", rows())


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


def _movement_data(ids, moves, levels, actor, reference_type, reference_id, now) -> list[bytes]:
    """The COPY data of the movements, with their ids (taken from their sequence first)."""
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

    return _chunks("inventory_movement", rows())
