"""The one way stock changes: `stock_apply` (ARCHITECTURE rules 1, 2 and 4).

Every stock-changing service (receive, adjust, reserve, sell, transfer, stocktake,
import) builds a list of `StockChange`s and calls `stock_apply` inside its transaction.
It locks the touched levels in a fixed order (location, variant), checks the rules,
updates the balances, appends one ledger Movement per change and one event per changed
level on the location's stream, all in the caller's transaction.

Three paths, same rules.
- The fast path (a few levels at one location, each changed once: a sale, a receipt, a
  reservation). On PostgreSQL it is one call of the PL/pgSQL function of migration
  0002, which locks and checks the levels in variant order, takes the stream's numbers
  and writes levels, events and ledger rows in one round trip (receive, sell, reserve
  and release called outside any transaction run it as one autocommit statement, see
  services.py). Elsewhere it is one conditional
  `UPDATE ... RETURNING` per level whose WHERE clause carries the rule. When a level is
  missing or a rule refuses, nothing is kept and the general path decides.
- The general path: create missing levels, `SELECT ... FOR UPDATE` in (location,
  variant) order, check in Python, bulk update.
- Big batches on PostgreSQL (imports, demo data: 1,000 changes or more) go to
  `ledger_bulk`: the general path's rules over set-based SQL and COPY; a run of them
  (`stock_apply_batches`, an import) is pipelined there.
Whichever path, the stream's numbers are taken after the levels are locked, so the
stream row lock is held only until commit and numbers follow commit order.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models.base import ModelState
from django.utils import timezone

from apps.catalog.models import Variant
from apps.core.errors import InsufficientStock, NotFound, ValidationFailed
from apps.core.events import (
    PendingEvent,
    broadcast,
    events_append,
    location_stream,
    on_commit,
)
from apps.core.models import Event, Stream
from apps.stores.models import Location

from . import ledger_bulk
from .alerts import threshold_crossed
from .models import Discrepancy, Movement, StockLevel
from .tasks import stock_alerts_evaluate

Reason = Movement.Reason


@dataclass(frozen=True)
class StockChange:
    variant_id: int
    location_id: int
    reason: str
    on_hand: int = 0  # signed change to on hand
    reserved: int = 0  # signed change to reserved
    lot_id: int | None = None
    serial: str = ""
    note: str = ""


@dataclass(frozen=True)
class Actor:
    """Who made a change: a back-office user, an API client, or the system (both None)."""

    user_id: int | None = None
    client_id: int | None = None

    @classmethod
    def of(cls, principal) -> Actor:
        if principal is None:
            return cls()
        if getattr(principal, "is_api_client", False):
            return cls(client_id=principal.pk)
        return cls(user_id=principal.pk)


@dataclass(frozen=True)
class Shortfall:
    """A change that took on hand below what the system counted (POS policy)."""

    level: StockLevel
    movement: Movement | None  # None when a no-negative location was already at zero
    quantity_short: int


@dataclass
class AppliedStock:
    movements: list[Movement]
    levels: dict[tuple[int, int], StockLevel]  # (location_id, variant_id) -> level after
    shortfalls: list[Shortfall]


def levels_lock(keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], StockLevel]:
    """Lock (creating where missing) the levels for (location_id, variant_id) keys.

    Always in (location, variant) order, so two transactions that touch the same levels
    take their locks in the same order and cannot deadlock.
    """
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    by_location: dict[int, list[int]] = defaultdict(list)
    for location_id, variant_id in wanted:
        by_location[location_id].append(variant_id)
    locked = _select_for_update(by_location)
    missing = [key for key in wanted if key not in locked]
    if missing:
        locations = locations_lock({location_id for location_id, _ in missing})
        StockLevel.objects.bulk_create(
            [
                StockLevel(
                    location_id=location_id,
                    variant_id=variant_id,
                    negative_allowed=locations[location_id][1],
                )
                for location_id, variant_id in missing
            ],
            ignore_conflicts=True,
        )
        # New rows sort anywhere among the locked ones; locking them afterwards is safe
        # because nobody else can hold a lock on a row it could not see yet except a
        # racing creator, which locks in the same (location, variant) order.
        again: dict[int, list[int]] = defaultdict(list)
        for location_id, variant_id in missing:
            again[location_id].append(variant_id)
        locked.update(_select_for_update(again))
    return locked


_LOCATIONS_LOCK_SQL = """
SELECT id, code, allows_negative_stock FROM stores_location
 WHERE id = ANY(%s::bigint[]) ORDER BY id FOR KEY SHARE
"""


def locations_lock(location_ids: Collection[int]) -> dict[int, tuple[str, bool]]:
    """id -> (code, allows_negative_stock) of these locations, whose rows stay locked FOR
    KEY SHARE until commit, for a writer about to create levels there: what the level's
    foreign key check did (StockLevel.location has none), so a location cannot be
    deleted under a level being created (location_delete locks it first). One query.

    Raises NotFound naming the unknown ids, before anything is written."""
    ordered = sorted(location_ids)
    if not ordered:
        return {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_LOCATIONS_LOCK_SQL, [ordered])
            rows = cursor.fetchall()
    else:  # a write locks the whole database
        rows = Location.objects.filter(pk__in=ordered).values_list(
            "pk", "code", "allows_negative_stock"
        )
    found = {pk: (code, negative_allowed) for pk, code, negative_allowed in rows}
    if len(found) != len(ordered):
        raise unknown_locations(set(ordered) - found.keys())
    return found


def unknown_locations(location_ids: Collection[int]) -> NotFound:
    listed = ", ".join(str(location_id) for location_id in sorted(location_ids))
    return NotFound(f"No location with id {listed}: no stock can be kept there.")


def _select_for_update(by_location: dict[int, list[int]]) -> dict[tuple[int, int], StockLevel]:
    locked: dict[tuple[int, int], StockLevel] = {}
    for location_id in sorted(by_location):
        rows = (
            StockLevel.objects.select_for_update()
            .filter(location_id=location_id, variant_id__in=by_location[location_id])
            .order_by("variant_id")
        )
        for level in rows:
            locked[(level.location_id, level.variant_id)] = level
    return locked


# At most this many levels go through the one-UPDATE-per-level fast path.
FAST_PATH_MAX_LEVELS = 8
# The most units one change may move, and the bound of every quantity a user types
# (a store's stock; generous, and far inside the int32 columns).
QUANTITY_MAX = 1_000_000

_FAST_UPDATE_SQL = """
UPDATE inventory_stocklevel
   SET on_hand = on_hand + %(on_hand)s, reserved = reserved + %(reserved)s,
       updated_at = %(now)s
 WHERE location_id = %(location_id)s AND variant_id = %(variant_id)s
   AND reserved + %(reserved)s >= 0
   AND (%(checked)s = 0 OR on_hand + %(on_hand)s >= reserved + %(reserved)s)
RETURNING id, on_hand, reserved, reorder_point, negative_allowed,
   (SELECT code FROM stores_location WHERE stores_location.id = location_id),
   (SELECT sku FROM catalog_variant WHERE catalog_variant.id = variant_id)
"""


@dataclass
class _Plan:
    """What the rules decided, ready to be written."""

    levels: dict[tuple[int, int], StockLevel]
    before: dict[tuple[int, int], tuple[int, int]]  # (on_hand, reserved) before
    movements: list[Movement]
    shortfalls: list[tuple[StockLevel, StockChange, int]]
    codes: dict[int, str] | None = None
    skus: dict[int, str] | None = None
    balances_written: bool = False


def stock_apply(
    *,
    changes: Sequence[StockChange],
    actor: Actor,
    reference_type: str = "",
    reference_id: str = "",
    allow_short: bool = False,
    created_variant_ids: Collection[int] = (),
    variant_skus: Mapping[int, str] | None = None,
) -> AppliedStock:
    """Apply stock changes atomically in the caller's transaction.

    Rules: `reserved` never goes below zero; a reservation never takes more than is
    available; on hand never goes below what is reserved or below zero, except with
    `allow_short` (a POS sale of goods already in the customer's hand), where the change
    is recorded and reported as a Shortfall for the caller to raise a discrepancy -
    and the location's policy decides whether on hand may actually go negative. Where
    it may not (StockLevel.negative_allowed=False), on hand goes down as far as zero and
    never below reserved: the shelf is the truth, so a sale that takes units set aside
    for pickups cuts `reserved` down to on hand, and the Discrepancy (referencing the
    sale) carries the shortfall of those reservations for a manager to re-allocate;
    the pickups then release or collect only what is still reserved and are flagged
    for review (apps.sales.services).

    Raises ValidationFailed (a zero change, more than QUANTITY_MAX units, releasing more
    than is reserved),
    InsufficientStock with extra {"lines": [{"sku", "requested", "available"}]} and
    NotFound (a level to create at a location that does not exist: no foreign key
    constraint refuses it, see StockLevel.location). Either way the balances are as before.

    `created_variant_ids`: variants inserted earlier in this same transaction (an
    import's new SKUs); a big batch creates their levels in one write (ledger_bulk).
    `variant_skus`: the SKU of (some of) the changes' variants, when the caller has
    them (an import), so a big batch does not read them back for its events. Both are
    only speed hints: the result is the same without them.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("stock_apply must run inside the caller's transaction")
    _changes_check(changes)
    if not changes:
        return AppliedStock(movements=[], levels={}, shortfalls=[])
    reference_id = str(reference_id)
    if connection.vendor == "postgresql" and len(changes) >= ledger_bulk.BULK_MIN_CHANGES:
        # Big batches (imports): set-based SQL and COPY, same rules (ledger_bulk).
        return ledger_bulk.stock_apply_bulk(
            changes=changes,
            actor=actor,
            reference_type=reference_type,
            reference_id=reference_id,
            allow_short=allow_short,
            created_variant_ids=created_variant_ids,
            variant_skus=variant_skus,
        )
    keys = [(c.location_id, c.variant_id) for c in changes]
    plan = None
    if len(set(keys)) == len(keys) and len(keys) <= FAST_PATH_MAX_LEVELS:
        if connection.vendor != "postgresql":
            plan = _plan_fast(changes, actor, reference_type, reference_id)
        elif len({location_id for location_id, _ in keys}) == 1:
            applied = _apply_fast_pg(changes, actor, reference_type, reference_id)
            if applied is not None:
                return applied
        else:
            plan = _plan_fast(changes, actor, reference_type, reference_id)
    if plan is None:
        plan = _plan_locked(changes, actor, reference_type, reference_id, allow_short)
    return _write(plan, reference_type, reference_id)


def stock_apply_batches(
    *,
    batches: Iterable[Sequence[StockChange]],
    actor: Actor,
    reference_type: str = "",
    reference_id: str = "",
    created_variant_ids: Collection[int] = (),
    variant_skus: Mapping[int, str] | None = None,
    after_batch: Callable[[AppliedStock], None] | None = None,
) -> None:
    """`stock_apply` of each batch in turn, in the caller's transaction, with the same
    rows as those calls; `after_batch` is called with each batch's result (progress, a
    cancel check: what it raises propagates). On PostgreSQL, consecutive big batches go
    through ledger_bulk's pipeline: the next batch's levels are read and its rules
    checked while the server writes the one before.

    Raises what stock_apply raises. A batch refused leaves the batches before it
    written: the caller's transaction must roll back (an import's does).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("stock_apply_batches must run inside the caller's transaction")
    reference_id = str(reference_id)
    bulk = connection.vendor == "postgresql"
    for big, run in groupby(batches, key=lambda b: bulk and len(b) >= ledger_bulk.BULK_MIN_CHANGES):
        if big:
            ledger_bulk.stock_apply_bulk_batches(
                batches=run,
                actor=actor,
                reference_type=reference_type,
                reference_id=reference_id,
                created_variant_ids=created_variant_ids,
                variant_skus=variant_skus,
                after_batch=after_batch,
            )
            continue
        for changes in run:
            applied = stock_apply(
                changes=changes,
                actor=actor,
                reference_type=reference_type,
                reference_id=reference_id,
                created_variant_ids=created_variant_ids,
                variant_skus=variant_skus,
            )
            if after_batch is not None:
                after_batch(applied)


def stock_apply_alone(
    *,
    changes: Sequence[StockChange],
    actor: Actor,
    reference_type: str = "",
    reference_id: str = "",
) -> AppliedStock | None:
    """The fast path as a transaction of its own, for a service called outside any
    transaction on PostgreSQL: one statement (the function of migration 0002) that
    commits by itself, so the levels' and the stream's row locks are released by the
    server as soon as it is done, never held across a round trip to a client that may
    be waiting for a CPU (the hot-row and per-location-stream limit), and without the
    BEGIN and COMMIT round trips. Events and alerts go out right after, as on commit.

    Same rules and the same rows as `stock_apply`. None: not possible here (SQLite, a
    transaction is open, several locations or many levels, a level missing, a rule
    refusing: a short sale, an error to build); nothing was written, and the caller runs
    `stock_apply` in its transaction as usual. Raises ValidationFailed like stock_apply.
    """
    db = connections[DEFAULT_DB_ALIAS]  # the `connection` proxy looks it up per attribute
    if (
        db.vendor != "postgresql"
        or db.in_atomic_block
        or not db.get_autocommit()
        or not changes
        or len(changes) > FAST_PATH_MAX_LEVELS
    ):
        return None
    _changes_check(changes)
    location_id = changes[0].location_id
    variant_ids = {c.variant_id for c in changes}
    if len(variant_ids) != len(changes) or any(c.location_id != location_id for c in changes):
        return None
    return _apply_fast_pg(changes, actor, reference_type, str(reference_id), db)


def _changes_check(changes: Sequence[StockChange]) -> None:
    for change in changes:
        if change.on_hand == 0 and change.reserved == 0:
            raise ValidationFailed("A stock change must change something.")
        if abs(change.on_hand) > QUANTITY_MAX or abs(change.reserved) > QUANTITY_MAX:
            raise ValidationFailed(f"A stock change may move at most {QUANTITY_MAX:,} units.")


def _movement(level, change, old, new, actor, reference_type, reference_id) -> Movement:
    return Movement(
        level=level,
        variant_id=change.variant_id,
        location_id=change.location_id,
        # The actual change, which a no-negative location may have capped.
        delta_on_hand=new[0] - old[0],
        delta_reserved=new[1] - old[1],
        on_hand_after=new[0],
        reserved_after=new[1],
        reason=change.reason,
        reference_type=reference_type,
        reference_id=reference_id,
        actor_user_id=actor.user_id,
        actor_client_id=actor.client_id,
        lot_id=change.lot_id,
        serial=change.serial,
        note=change.note,
    )


def _plan_fast(changes, actor, reference_type, reference_id) -> _Plan | None:
    """One conditional UPDATE per level, in lock order. None: undone, use the general
    path (a level is missing, or a rule refuses and the error must be built)."""
    now = timezone.now()
    done: list[StockChange] = []
    plan = _Plan(levels={}, before={}, movements=[], shortfalls=[], codes={}, skus={})
    plan.balances_written = True
    with connection.cursor() as cursor:
        for change in sorted(changes, key=lambda c: (c.location_id, c.variant_id)):
            cursor.execute(
                _FAST_UPDATE_SQL,
                {
                    "on_hand": change.on_hand,
                    "reserved": change.reserved,
                    "now": now,
                    "location_id": change.location_id,
                    "variant_id": change.variant_id,
                    "checked": int(change.reserved > 0 or change.on_hand < 0),
                },
            )
            row = cursor.fetchone()
            if row is None:
                _undo(cursor, done, now)
                return None
            done.append(change)
            pk, on_hand, reserved, reorder_point, negative_allowed, code, sku = row
            key = (change.location_id, change.variant_id)
            level = StockLevel(
                pk=pk,
                location_id=change.location_id,
                variant_id=change.variant_id,
                on_hand=on_hand,
                reserved=reserved,
                reorder_point=reorder_point,
                negative_allowed=bool(negative_allowed),
                updated_at=now,
            )
            old = (on_hand - change.on_hand, reserved - change.reserved)
            plan.levels[key] = level
            plan.before[key] = old
            plan.codes[change.location_id] = code
            plan.skus[change.variant_id] = sku
            plan.movements.append(
                _movement(
                    level, change, old, (on_hand, reserved), actor, reference_type, reference_id
                )
            )
    return plan


_FAST_PG_SQL = "SELECT * FROM inventory_stock_apply_fast(%s, %s::jsonb, %s, %s, %s, %s, %s)"


def stock_fast_encoded(changes: Sequence[StockChange]) -> str:
    """The changes as `inventory_stock_apply_fast` takes them: one JSON array."""
    return json.dumps(
        [
            [c.variant_id, c.on_hand, c.reserved, c.reason, c.lot_id, c.serial, c.note]
            for c in changes
        ]
    )


def _apply_fast_pg(changes, actor, reference_type, reference_id, db=None) -> AppliedStock | None:
    """PostgreSQL, a few levels at one location: the whole change in one round trip
    (the function of migration 0002: lock and check the levels in variant order, then
    the stream, then write levels and events in that order, and movements in the order
    given, as the general path does). None: nothing was written, a
    level is missing or a rule refuses; the general path decides."""
    if db is None:
        db = connections[DEFAULT_DB_ALIAS]
    ordered = list(changes)  # the function locks them in variant order
    location_id = ordered[0].location_id
    now = timezone.now()
    encoded = stock_fast_encoded(ordered)
    args = [
        location_id,
        encoded,
        reference_type,
        reference_id,
        actor.user_id,
        actor.client_id,
        now,
    ]
    rows = _fast_rows(db, args)
    if not rows:
        return None
    return stock_fast_applied(ordered, rows, actor, reference_type, reference_id, now, db)


def _fast_rows(db, args: list) -> list[tuple]:
    """The rows of one `inventory_stock_apply_fast` call. Where nothing watches the
    connection's queries (no query logging, no execute wrapper), on a server-binding
    cursor kept with the connection, inside Django's error translation only: a new
    psycopg cursor and Django's wrapper around it for every call were a fifth of a fast
    stock change's client CPU. Otherwise through a wrapped cursor like any other."""
    if db.queries_logged or db.execute_wrappers:
        with _binding_cursor() as cursor:
            cursor.execute(_FAST_PG_SQL, args)
            return cursor.fetchall()
    if db.connection is None:
        db.ensure_connection()
    if db.in_atomic_block:
        db.validate_no_broken_transaction()
    kept = db.__dict__.get("_stock_fast_cursor")
    if kept is None or kept.connection is not db.connection or kept.closed:
        kept = db._stock_fast_cursor = psycopg.Cursor(db.connection)
    with db.wrap_database_errors:
        kept.execute(_FAST_PG_SQL, args)
        return kept.fetchall()


def stock_fast_applied(
    changes, rows, actor, reference_type, reference_id, now, db=None
) -> AppliedStock:
    """What `inventory_stock_apply_fast` wrote, from its rows (one per change, in the
    order given), as the AppliedStock the ledger returns; its events are broadcast and
    the levels that crossed their reorder point evaluated on commit. Also for a caller
    that ran the function inside a statement of its own (apps.sales: a whole sale).
    `db`: the default connection, where the caller has it at hand."""
    ordered = list(changes)
    location_id = ordered[0].location_id
    movements: list[Movement] = []
    levels: dict[tuple[int, int], StockLevel] = {}
    events: list[tuple[str, int, dict]] = []
    crossed: list[int] = []
    for change, row in zip(ordered, rows, strict=True):
        level_id, on_hand, reserved, reorder_point, negative_allowed, movement_id, seq = row[:7]
        code, sku = row[7], row[8]
        level = _loaded(
            StockLevel,
            {
                "id": level_id,
                "variant_id": change.variant_id,
                "location_id": location_id,
                "on_hand": on_hand,
                "reserved": reserved,
                "available": on_hand - reserved,
                "reorder_point": reorder_point,
                "negative_allowed": negative_allowed,
                "seq": seq,
                "updated_at": now,
            },
        )
        levels[(location_id, change.variant_id)] = level
        movement = _loaded(
            Movement,
            {
                "id": movement_id,
                "level_id": level_id,
                "variant_id": change.variant_id,
                "location_id": location_id,
                "delta_on_hand": change.on_hand,
                "delta_reserved": change.reserved,
                "on_hand_after": on_hand,
                "reserved_after": reserved,
                "reason": change.reason,
                "reference_type": reference_type,
                "reference_id": reference_id,
                "actor_user_id": actor.user_id,
                "actor_client_id": actor.client_id,
                "lot_id": change.lot_id,
                "serial": change.serial,
                "note": change.note,
                "seq": seq,
                "created_at": now,
            },
        )
        movement._state.fields_cache["level"] = level
        movements.append(movement)
        payload = {
            "location": code,
            "sku": sku,
            "on_hand": on_hand,
            "reserved": reserved,
            "available": on_hand - reserved,
        }
        events.append((location_stream(code), seq, payload))
        available = on_hand - reserved
        before = available - change.on_hand + change.reserved
        if threshold_crossed(before=before, after=available, reorder_point=reorder_point):
            crossed.append(level_id)
    on_commit(functools.partial(_broadcast_stock, events, now), db=db)
    if crossed:
        on_commit(functools.partial(stock_alerts_evaluate.delay, crossed), db=db)
    return AppliedStock(movements=movements, levels=levels, shortfalls=[])


def _binding_cursor():
    """A cursor with server-side parameter binding (psycopg's plain Cursor) instead of
    Django's default client-side one, which quotes every value into the SQL text in
    Python; wrapped like any Django cursor (error translation, query logging)."""
    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    return db._prepare_cursor(psycopg.Cursor(db.connection))


def _loaded(model, values: dict):
    """A model instance as if read from the database, for the fast path's return value:
    every concrete field is given, so nothing is deferred, without Model.__init__'s
    per-field work (a third of the client's Python time per change)."""
    instance = model.__new__(model)
    instance.__dict__.update(values)
    state = instance._state = ModelState()
    state.adding = False
    state.db = DEFAULT_DB_ALIAS  # the ledger writes through `connection`, the default
    state.fields_cache = {}
    return instance


def _broadcast_stock(events: list[tuple[str, int, dict]], now) -> None:
    broadcast(
        [
            _loaded(
                Event,
                {
                    "id": None,
                    "stream": stream,
                    "seq": seq,
                    "type": "stock",
                    "payload": payload,
                    "created_at": now,
                },
            )
            for stream, seq, payload in events
        ]
    )


def _undo(cursor, done: list[StockChange], now) -> None:
    for change in done:
        cursor.execute(
            "UPDATE inventory_stocklevel SET on_hand = on_hand - %s, reserved = reserved - %s"
            " WHERE location_id = %s AND variant_id = %s",
            [change.on_hand, change.reserved, change.location_id, change.variant_id],
        )


def change_rule(
    change: StockChange, on_hand: int, reserved: int, *, negative_allowed: bool, allow_short: bool
) -> tuple[int, int, int, int]:
    """The rules of one change against a level's balances, for the general and the bulk
    path: (new on hand, new reserved, units refused, shortage).

    Refused (> 0): nothing of the change applies. Shortage (> 0): a sale took on hand
    below what is available; where the location forbids negative stock (and on hand
    below reserved) the sale is still recorded, on hand stops at zero and units set
    aside for pickups the customer took are no longer reserved. The discrepancy carries
    the difference; the pickups close with what is still reserved.
    """
    new_on_hand = on_hand + change.on_hand
    new_reserved = reserved + change.reserved
    if new_reserved < 0:
        raise ValidationFailed(
            f"Cannot release more than is reserved (variant {change.variant_id})."
        )
    if (change.reserved > 0 and new_reserved > new_on_hand) or (
        change.on_hand < 0 and new_on_hand < new_reserved and not allow_short
    ):
        refused = change.reserved if change.reserved > 0 else -change.on_hand
        return on_hand, reserved, refused, 0
    shortage = 0
    if change.on_hand < 0 and new_on_hand < new_reserved:
        shortage = min(-change.on_hand, new_reserved - new_on_hand)
        if not negative_allowed:
            new_on_hand = max(0, new_on_hand)
            new_reserved = min(new_reserved, new_on_hand)
    return new_on_hand, new_reserved, 0, shortage


def insufficient_stock(short: dict[int, list[int]], skus: dict[int, str]) -> InsufficientStock:
    """The refusal of changes that found too little: `short` is variant id ->
    [requested, available], one line per variant in SKU order."""
    lines = [
        {"sku": skus.get(variant_id, str(variant_id)), "requested": req, "available": avail}
        for variant_id, (req, avail) in sorted(short.items(), key=lambda i: skus.get(i[0], ""))
    ]
    detail = "Not enough stock available for " + ", ".join(x["sku"] for x in lines) + "."
    return InsufficientStock(detail, extra={"lines": lines})


def _plan_locked(changes, actor, reference_type, reference_id, allow_short) -> _Plan:
    levels = levels_lock((c.location_id, c.variant_id) for c in changes)
    before = {key: (level.on_hand, level.reserved) for key, level in levels.items()}
    movements: list[Movement] = []
    shortfalls: list[tuple[StockLevel, StockChange, int]] = []
    short: dict[int, list[int]] = {}  # variant_id -> [requested, available]
    for change in changes:
        level = levels[(change.location_id, change.variant_id)]
        old_on_hand, old_reserved = level.on_hand, level.reserved
        new_on_hand, new_reserved, refused, shortage = change_rule(
            change,
            old_on_hand,
            old_reserved,
            negative_allowed=level.negative_allowed,
            allow_short=allow_short,
        )
        if refused:
            entry = short.setdefault(change.variant_id, [0, old_on_hand - old_reserved])
            entry[0] += refused
            continue
        if shortage:
            shortfalls.append((level, change, shortage))
        level.on_hand, level.reserved = new_on_hand, new_reserved
        if new_on_hand == old_on_hand and new_reserved == old_reserved:
            continue
        movements.append(
            _movement(
                level,
                change,
                (old_on_hand, old_reserved),
                (new_on_hand, new_reserved),
                actor,
                reference_type,
                reference_id,
            )
        )
    if short:
        skus = dict(Variant.objects.filter(pk__in=short).values_list("pk", "sku"))
        raise insufficient_stock(short, skus)
    return _Plan(levels=levels, before=before, movements=movements, shortfalls=shortfalls)


def _write(plan: _Plan, reference_type: str, reference_id: str) -> AppliedStock:
    levels, movements = plan.levels, plan.movements
    touched = sorted({(m.location_id, m.variant_id) for m in movements})
    movement_of = {(m.location_id, m.variant_id, m.reason): m for m in movements}
    codes, skus = plan.codes, plan.skus
    if codes is None or skus is None:
        codes = dict(
            Location.objects.filter(pk__in={k[0] for k in touched}).values_list("pk", "code")
        )
        skus = dict(Variant.objects.filter(pk__in={k[1] for k in touched}).values_list("pk", "sku"))
    now = timezone.now()
    if not plan.balances_written:
        for key in touched:
            levels[key].updated_at = now
        # Balances first (rows already locked), the stream last: its lock is held only
        # from here to commit.
        _levels_update([levels[k] for k in touched], ["on_hand", "reserved", "updated_at"])
    if plan.balances_written and connection.vendor == "postgresql":
        # The fast path on PostgreSQL: stream, events, level seq and ledger rows in one
        # statement per stream (see _FAST_WRITE_SQL).
        _write_fast_pg(plan, touched, codes, skus, now)
        _alerts_enqueue(plan, touched)
        return AppliedStock(
            movements=movements, levels={k: levels[k] for k in touched}, shortfalls=[]
        )
    events = events_append(
        [
            PendingEvent(
                stream=location_stream(codes[location_id]),
                type="stock",
                payload={
                    "location": codes[location_id],
                    "sku": skus[variant_id],
                    "on_hand": levels[(location_id, variant_id)].on_hand,
                    "reserved": levels[(location_id, variant_id)].reserved,
                    "available": levels[(location_id, variant_id)].on_hand
                    - levels[(location_id, variant_id)].reserved,
                },
            )
            for location_id, variant_id in touched
        ]
    )
    for key, event in zip(touched, events, strict=True):
        levels[key].seq = event.seq
    for movement in movements:
        movement.seq = levels[(movement.location_id, movement.variant_id)].seq
    _seq_write([levels[k] for k in touched])
    Movement.objects.bulk_create(movements)
    found = [
        Shortfall(level, movement_of.get((c.location_id, c.variant_id, c.reason)), shortage)
        for level, c, shortage in plan.shortfalls
    ]
    # The shelf is the truth: a short sale is recorded, and raised for a manager here.
    discrepancies_record(found, reference_type, reference_id)
    _alerts_enqueue(plan, touched)
    return AppliedStock(
        movements=movements, levels={k: levels[k] for k in touched}, shortfalls=found
    )


_FAST_WRITE_SQL = """
WITH s AS (
    UPDATE core_stream SET last_seq = last_seq + %(count)s WHERE name = %(stream)s
    RETURNING last_seq - %(count)s AS base
), items (level_id, ord, payload) AS (VALUES {items}),
ev AS (
    INSERT INTO core_event (stream, seq, type, payload, created_at)
    SELECT %(stream)s, s.base + items.ord, 'stock', items.payload, %(now)s FROM s, items
),
lv AS (
    UPDATE inventory_stocklevel AS l SET seq = s.base + items.ord
      FROM s, items WHERE l.id = items.level_id
)
INSERT INTO inventory_movement
    (level_id, variant_id, location_id, delta_on_hand, delta_reserved, on_hand_after,
     reserved_after, reason, reference_type, reference_id, actor_user_id, actor_client_id,
     lot_id, serial, note, seq, created_at)
SELECT m.level_id, m.variant_id, m.location_id, m.delta_on_hand, m.delta_reserved,
       m.on_hand_after, m.reserved_after, m.reason, m.reference_type, m.reference_id,
       m.actor_user_id, m.actor_client_id, m.lot_id, m.serial, m.note, s.base + m.ord,
       %(now)s
  FROM s, (VALUES {movements}) AS m
       (level_id, variant_id, location_id, delta_on_hand, delta_reserved, on_hand_after,
        reserved_after, reason, reference_type, reference_id, actor_user_id,
        actor_client_id, lot_id, serial, note, ord)
RETURNING id, level_id, seq
"""
_ITEM = "(%s::bigint, %s::bigint, %s::jsonb)"
_MOVEMENT = (
    "(%s::bigint, %s::bigint, %s::bigint, %s::integer, %s::integer, %s::integer, %s::integer,"
    " %s, %s, %s, %s::bigint, %s::bigint, %s::bigint, %s, %s, %s::bigint)"
)


def _write_fast_pg(plan: _Plan, touched, codes, skus, now) -> None:
    """Per location stream (in name order, like events_append): take the numbers, add the
    events, stamp the levels' seq and append the movements, in one round trip. The
    stream row is locked last and held only until commit."""
    by_stream: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for key in touched:
        by_stream[location_stream(codes[key[0]])].append(key)
    movement_of = {(m.location_id, m.variant_id): m for m in plan.movements}  # one per level
    created: list[Event] = []
    for stream in sorted(by_stream):
        keys = by_stream[stream]
        items, rows = [], []
        for ord_, key in enumerate(keys, start=1):
            level, movement = plan.levels[key], movement_of[key]
            payload = {
                "location": codes[key[0]],
                "sku": skus[key[1]],
                "on_hand": level.on_hand,
                "reserved": level.reserved,
                "available": level.on_hand - level.reserved,
            }
            items += [level.pk, ord_, json.dumps(payload)]
            rows += [
                level.pk,
                movement.variant_id,
                movement.location_id,
                movement.delta_on_hand,
                movement.delta_reserved,
                movement.on_hand_after,
                movement.reserved_after,
                movement.reason,
                movement.reference_type,
                movement.reference_id,
                movement.actor_user_id,
                movement.actor_client_id,
                movement.lot_id,
                movement.serial,
                movement.note,
                ord_,
            ]
            created.append(Event(stream=stream, seq=ord_, type="stock", payload=payload))
        sql, order = _fast_write_sql(len(keys))
        named = {"count": len(keys), "stream": stream, "now": now}
        values = iter(items + rows)
        args = [named[name] if name else next(values) for name in order]
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            returned = cursor.fetchall()
            if not returned:  # first change ever on this stream: create its row, again
                Stream.objects.bulk_create([Stream(name=stream)], ignore_conflicts=True)
                cursor.execute(sql, args)
                returned = cursor.fetchall()
        found = {level_id: (pk, seq) for pk, level_id, seq in returned}
        base = found[plan.levels[keys[0]].pk][1] - 1
        for ord_, key in enumerate(keys, start=1):
            level, movement = plan.levels[key], movement_of[key]
            level.seq = base + ord_
            movement.pk, movement.seq = found[level.pk]
            movement.created_at = now
        for event in created[-len(keys) :]:
            event.seq += base
    if created:
        on_commit(lambda: broadcast(created))


@functools.lru_cache(maxsize=16)
def _fast_write_sql(count: int) -> tuple[str, tuple[str, ...]]:
    """The write statement for `count` levels with plain %s placeholders, and for each
    placeholder the name of its named value ("" for the next item or movement value)."""
    sql = _FAST_WRITE_SQL.format(
        items=", ".join([_ITEM] * count), movements=", ".join([_MOVEMENT] * count)
    )
    order: list[str] = []
    out: list[str] = []
    position = 0
    while (start := sql.find("%", position)) >= 0:
        out.append(sql[position:start])
        if sql.startswith("%(", start):
            end = sql.index(")s", start)
            order.append(sql[start + 2 : end])
            position = end + 2
        else:
            order.append("")
            position = start + 2
        out.append("%s")
    out.append(sql[position:])
    return "".join(out), tuple(order)


def _seq_write(levels: list[StockLevel]) -> None:
    if len(levels) == 1:
        StockLevel.objects.filter(pk=levels[0].pk).update(seq=levels[0].seq)
    elif levels:
        _levels_update(levels, ["seq"])


def _levels_update(levels: list[StockLevel], fields: list[str]) -> None:
    """Write these fields of many levels. On PostgreSQL one UPDATE ... FROM (VALUES ...)
    per 5,000 rows (bulk_update's CASE WHEN grows quadratic on big imports)."""
    casts = {"on_hand": "integer", "reserved": "integer", "seq": "bigint"}
    assert set(fields) <= {*casts, "updated_at"}
    if connection.vendor != "postgresql" or len(levels) < 50:
        # Column names come from the fixed list above, never from input.
        sql = (
            "UPDATE inventory_stocklevel SET "  # noqa: S608
            + ", ".join(f"{f} = %s" for f in fields)
            + " WHERE id = %s"
        )
        with connection.cursor() as cursor:
            cursor.executemany(sql, [[*(getattr(lv, f) for f in fields), lv.pk] for lv in levels])
        return
    for start in range(0, len(levels), 5000):
        chunk = levels[start : start + 5000]
        columns = ["id", *fields]
        placeholder = (
            "("
            + ", ".join(["%s::bigint"] + [f"%s::{casts.get(f, 'timestamptz')}" for f in fields])
            + ")"
        )
        params = []
        for level in chunk:
            params.append(level.pk)
            params += [getattr(level, f) for f in fields]
        assignments = ", ".join(f"{f} = v.{f}" for f in fields)
        # Column names come from the fixed list above, never from input.
        sql = (
            f"UPDATE inventory_stocklevel AS l SET {assignments} FROM (VALUES "  # noqa: S608
            + ", ".join([placeholder] * len(chunk))
            + f") AS v({', '.join(columns)}) WHERE l.id = v.id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def discrepancies_record(
    found: Sequence[Shortfall], reference_type: str, reference_id: str
) -> None:
    """A Discrepancy per shortfall, for a manager to review (both paths' writers)."""
    if found:
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


def _alerts_enqueue(plan: _Plan, touched: list[tuple[int, int]]) -> None:
    """Only levels whose available crossed their reorder point get evaluated."""
    crossed = []
    for key in touched:
        level = plan.levels[key]
        old_on_hand, old_reserved = plan.before[key]
        if threshold_crossed(
            before=old_on_hand - old_reserved,
            after=level.on_hand - level.reserved,
            reorder_point=level.reorder_point,
        ):
            crossed.append(level.pk)
    if crossed:
        on_commit(lambda: stock_alerts_evaluate.delay(crossed))
