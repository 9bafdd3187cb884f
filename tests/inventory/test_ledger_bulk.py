"""The PostgreSQL bulk path of stock_apply (ledger_bulk) writes exactly what the portable
path writes: the same levels, ledger rows, events, stream numbers, discrepancies, the
same after-commit work and the same errors. Each batch runs twice on the same data, once
per path, inside a savepoint that is rolled back in between."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

import apps.inventory.ledger_bulk as ledger_bulk
from apps.catalog.models import Product, Variant
from apps.core.errors import InsufficientStock, NotFound, ValidationFailed
from apps.core.events import location_stream
from apps.core.models import Event, Stream
from apps.inventory.ledger import (
    QUANTITY_MAX,
    Actor,
    Reason,
    StockChange,
    stock_apply,
    stock_apply_batches,
)
from apps.inventory.models import Discrepancy, Lot, Movement, StockLevel
from apps.inventory.tasks import stock_alerts_evaluate

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


class _Rollback(Exception):
    pass


@pytest.fixture
def stock(store_a, store_b, hq_admin):
    """40 variants; store B forbids negative stock; some levels exist (with reservations
    and reorder points), most do not."""
    store_b.allows_negative_stock = False
    store_b.save()
    product = Product.objects.create(handle="bulk", name="Bulk")
    variants = [
        # BULK-"é\038: a SKU whose event payload JSON and COPY text both need escaping.
        Variant.objects.create(product=product, sku=f"BULK-{tricky}{i:03d}", price="1.00")
        for i in range(40)
        for tricky in ['"é\\' if i == 38 else ""]
    ]
    lot = Lot.objects.create(variant=variants[0], code="L1")
    with transaction.atomic(), mock.patch.object(ledger_bulk, "BULK_MIN_CHANGES", 10**9):
        stock_apply(
            changes=[
                StockChange(v.pk, location.pk, Reason.RECEIPT, on_hand=10)
                for v in variants[:15]
                for location in (store_a, store_b)
            ],
            actor=Actor(),
        )
        stock_apply(
            changes=[
                StockChange(v.pk, location.pk, Reason.RESERVATION, reserved=3)
                for v in variants[:5]
                for location in (store_a, store_b)
            ],
            actor=Actor(),
        )
    StockLevel.objects.filter(variant__in=variants[:8]).update(reorder_point=6)
    return {"a": store_a, "b": store_b, "variants": variants, "lot": lot, "user": hq_admin}


DISCREPANCY_FIELDS = (
    "level__location_id",
    "level__variant_id",
    "movement__seq",
    "movement__delta_on_hand",
    "quantity_short",
    "reference_type",
    "reference_id",
)


def _snapshot(applied) -> dict:
    def movement(m):
        return (
            m.level_id, m.variant_id, m.location_id, m.delta_on_hand, m.delta_reserved,
            m.on_hand_after, m.reserved_after, m.reason, m.reference_type, m.reference_id,
            m.actor_user_id, m.actor_client_id, m.lot_id, m.serial, m.note, m.seq,
        )  # fmt: skip

    def level(lv):
        # `available` is not compared on returned levels: the portable path's instances
        # keep the generated value read before the change.
        return (
            lv.pk, lv.location_id, lv.variant_id, lv.on_hand, lv.reserved,
            lv.reorder_point, lv.negative_allowed, lv.seq,
        )  # fmt: skip

    levels = StockLevel.objects.order_by("location_id", "variant_id")
    return {
        # Level ids are not compared: a rolled-back insert still uses up sequence values.
        "levels": [(*level(lv)[1:], lv.available) for lv in levels],
        "movements": [movement(m)[1:] for m in Movement.objects.order_by("id")],
        "movement_levels": [
            (m.level.location_id, m.level.variant_id) for m in Movement.objects.order_by("id")
        ],
        # Each event, a pack's one by one (the bulk path writes packs).
        "events": [
            (e.stream, seq, message)
            for e in Event.objects.order_by("id")
            for seq, message in e.messages()
        ],
        "streams": list(Stream.objects.order_by("name").values_list("name", "last_seq")),
        "discrepancies": list(Discrepancy.objects.order_by("id").values_list(*DISCREPANCY_FIELDS)),
        "applied_movements": [movement(m)[1:] for m in applied.movements],
        "applied_movement_pks": [
            Movement.objects.get(pk=m.pk).seq == m.seq for m in applied.movements
        ],
        "applied_levels": {key: level(lv)[1:] for key, lv in applied.levels.items()},
        "applied_level_pks": all(
            StockLevel.objects.get(pk=lv.pk).variant_id == key[1]
            for key, lv in applied.levels.items()
        ),
        "shortfalls": [
            (
                level(s.level)[1:],
                movement(s.movement)[1:] if s.movement else None,
                s.quantity_short,
            )
            for s in applied.shortfalls
        ],
    }


@contextmanager
def _path(minimum: int, sent: list, alerts: list, spied: str):
    """The bulk path taken from `minimum` changes on; broadcasts into `sent`, alert
    tasks into `alerts`; yields a spy on ledger_bulk's function `spied`."""
    with (
        mock.patch.object(ledger_bulk, "BULK_MIN_CHANGES", minimum),
        mock.patch("apps.core.events.broadcast", sent.extend),
        mock.patch.object(ledger_bulk, "broadcast", sent.extend),
        mock.patch.object(stock_alerts_evaluate, "delay", alerts.append),
        mock.patch.object(ledger_bulk, spied, wraps=getattr(ledger_bulk, spied)) as spy,
    ):
        yield spy


def _both(django_capture_on_commit_callbacks, changes, **kwargs):
    """Run the batch on each path; return (portable, bulk) snapshots or errors."""
    results = []
    for minimum in (10**9, 1):
        sent: list = []
        alerts: list = []
        with _path(minimum, sent, alerts, "stock_apply_bulk") as bulk_path:
            try:
                with transaction.atomic():
                    with django_capture_on_commit_callbacks(execute=False) as callbacks:
                        applied = stock_apply(changes=changes, **kwargs)
                    snapshot = _snapshot(applied)
                    call_command("check_stock")
                    for callback in callbacks:
                        callback()
                    snapshot["broadcast"] = [(e.stream, e.seq, e.type, e.payload) for e in sent]
                    snapshot["alerts"] = sorted(
                        StockLevel.objects.get(pk=pk).variant_id for ids in alerts for pk in ids
                    )
                    results.append(snapshot)
                    raise _Rollback
            except _Rollback:
                pass
            except (InsufficientStock, ValidationFailed) as error:
                results.append((type(error), error.detail, getattr(error, "extra", None)))
        assert bulk_path.called == (minimum == 1)
    return results


def _delta(i: int) -> int:
    """Down or up for the levels that exist, up for the new ones."""
    return (i % 7 - 3 or 5) if i < 15 else i % 5 + 1


def _created(stock, hinted: bool) -> dict:
    """The `created_variant_ids` hint (an import's new SKUs): every variant, with levels
    or not, so both kinds of level are written on the hinted bulk path; and the
    `variant_skus` hint for every other variant, so the events' SKUs come from both the
    hint and the database."""
    if not hinted:
        return {}
    variants = stock["variants"]
    return {
        "created_variant_ids": {v.pk for v in variants},
        "variant_skus": {v.pk: v.sku for v in variants[::2]},
    }


@pytest.mark.parametrize("hinted", [False, True], ids=["plain", "created-variants"])
def test_bulk_path_writes_exactly_what_the_portable_path_writes(
    stock, django_capture_on_commit_callbacks, hinted
):
    a, b, variants, lot = stock["a"], stock["b"], stock["variants"], stock["lot"]
    changes = [
        StockChange(v.pk, location.pk, Reason.IMPORT, on_hand=_delta(i))
        for i, v in enumerate(variants)
        for location in (a, b)
        if not (i >= 15 and i % 5 == 4)
    ]
    changes += [
        # the same level twice, a release, text COPY must escape, a lot
        StockChange(variants[20].pk, a.pk, Reason.IMPORT, on_hand=4, note="tab\there \\ back"),
        StockChange(variants[1].pk, b.pk, Reason.RELEASE, reserved=-2, serial="S\n1"),
        StockChange(variants[0].pk, a.pk, Reason.RECEIPT, on_hand=2, lot_id=lot.pk),
    ]
    portable, bulk = _both(
        django_capture_on_commit_callbacks,
        changes,
        actor=Actor(user_id=stock["user"].pk),
        reference_type="import",
        reference_id="7",
        **_created(stock, hinted),
    )
    assert not isinstance(portable, tuple), portable
    assert portable["movements"] and portable["broadcast"] and portable["alerts"]
    assert bulk == portable


@pytest.mark.parametrize("hinted", [False, True], ids=["plain", "created-variants"])
def test_bulk_path_short_sales_raise_the_same_discrepancies(
    stock, django_capture_on_commit_callbacks, hinted
):
    a, b, variants = stock["a"], stock["b"], stock["variants"]
    changes = [
        StockChange(v.pk, location.pk, Reason.SALE, on_hand=-(i % 4 + 8))
        for i, v in enumerate(variants[:12])
        for location in (a, b)
    ]
    # Levels that do not exist yet: store A goes negative, store B stops at zero.
    changes += [
        StockChange(v.pk, location.pk, Reason.SALE, on_hand=-3)
        for v in variants[30:33]
        for location in (a, b)
    ]
    changes.append(StockChange(variants[2].pk, b.pk, Reason.SALE, on_hand=-5))  # b at 0 now
    portable, bulk = _both(
        django_capture_on_commit_callbacks,
        changes,
        actor=Actor(),
        reference_type="sale",
        reference_id="S01-1",
        allow_short=True,
        **_created(stock, hinted),
    )
    assert portable["discrepancies"] and portable["shortfalls"]
    assert bulk == portable


@pytest.mark.parametrize(
    "change",
    [
        lambda v, loc: StockChange(v.pk, loc.pk, Reason.RESERVATION, reserved=9),
        lambda v, loc: StockChange(v.pk, loc.pk, Reason.IMPORT, on_hand=-8),
        lambda v, loc: StockChange(v.pk, loc.pk, Reason.RELEASE, reserved=-4),
    ],
)
def test_bulk_path_refuses_like_the_portable_path(
    stock, django_capture_on_commit_callbacks, change
):
    a, variants = stock["a"], stock["variants"]
    changes = [StockChange(v.pk, a.pk, Reason.IMPORT, on_hand=1) for v in variants[10:]]
    changes += [change(variants[0], a), change(variants[1], a)]
    portable, bulk = _both(django_capture_on_commit_callbacks, changes, actor=Actor())
    assert isinstance(portable, tuple)
    assert bulk == portable
    assert Movement.objects.filter(reason=Reason.IMPORT).count() == 0


@pytest.mark.parametrize(
    ("minimum", "hinted"),
    [(10**9, False), (1, False), (1, True)],
    ids=["portable", "bulk", "bulk-created-variants"],
)
def test_unknown_location_is_refused_before_anything_is_written(stock, minimum, hinted):
    # StockLevel.location has no foreign key constraint: stock_apply itself refuses a
    # location that does not exist, on every path, instead of creating levels there.
    a, variants = stock["a"], stock["variants"]
    unknown = 10**9
    changes = [StockChange(v.pk, a.pk, Reason.IMPORT, on_hand=2) for v in variants]
    changes += [StockChange(v.pk, unknown, Reason.IMPORT, on_hand=3) for v in variants[30:]]

    def state():
        return (
            list(StockLevel.objects.order_by("id").values_list("id", "on_hand", "reserved")),
            Movement.objects.count(),
            Event.objects.count(),
            list(Stream.objects.order_by("name").values_list("name", "last_seq")),
        )

    before = state()
    with (
        mock.patch.object(ledger_bulk, "BULK_MIN_CHANGES", minimum),
        transaction.atomic(),
    ):
        with pytest.raises(NotFound) as refused:
            stock_apply(changes=changes, actor=Actor(), **_created(stock, hinted))
        # Refused before any write, not by a failure the caller's transaction must undo.
        assert state() == before
    assert refused.value.code == "not_found"
    assert refused.value.detail == f"No location with id {unknown}: no stock can be kept there."
    assert state() == before


@pytest.mark.parametrize("hinted", [False, True], ids=["plain", "created-variants"])
def test_bulk_path_writes_the_batch_time_and_text_exactly(stock, hinted):
    """The binary COPY encodes timestamps and text itself: the rows read back hold the
    batch's time to the microsecond and the text as given."""
    a, variants = stock["a"], stock["variants"]
    moment = datetime(2026, 3, 29, 1, 30, 15, 123457, tzinfo=UTC)
    changes = [
        StockChange(v.pk, a.pk, Reason.IMPORT, on_hand=i + 1, note="Réception ü\t2" if i else "")
        for i, v in enumerate(variants)
    ]
    with (
        transaction.atomic(),
        mock.patch.object(ledger_bulk, "BULK_MIN_CHANGES", 1),
        mock.patch.object(ledger_bulk.timezone, "now", return_value=moment),
    ):
        applied = stock_apply(
            changes=changes,
            actor=Actor(user_id=stock["user"].pk),
            reference_type="import",
            reference_id="9",
            **_created(stock, hinted),
        )
    movements = Movement.objects.filter(reference_id="9")
    assert len(applied.movements) == movements.count() == len(variants)
    assert set(movements.values_list("created_at", flat=True)) == {moment}
    assert set(movements.values_list("note", flat=True)) == {"", "Réception ü\t2"}
    assert set(movements.values_list("actor_user_id", "actor_client_id")) == {
        (stock["user"].pk, None)
    }
    seqs = set(movements.values_list("seq", flat=True))
    rows = [
        e
        for e in Event.objects.filter(stream=f"location.{a.code}")
        if seqs & {seq for seq, _ in e.messages()}
    ]
    assert sum(seq in seqs for e in rows for seq, _ in e.messages()) == len(variants)
    assert {e.created_at for e in rows} == {moment}
    levels = StockLevel.objects.filter(location=a, variant__in=variants)
    assert set(levels.values_list("updated_at", flat=True)) == {moment}


@pytest.mark.parametrize("minimum", [10**9, 1], ids=["portable", "bulk"])
def test_a_balance_past_the_integer_range_raises_data_error_on_both_paths(stock, minimum):
    """The binary COPY packs the integers itself: a new level whose balance passes
    2**31 - 1 fails like the server's own check on the portable path, and rolls back."""
    a, variant = stock["a"], stock["variants"][39]
    receipts = 2**31 // QUANTITY_MAX + 1
    changes = [StockChange(variant.pk, a.pk, Reason.RECEIPT, on_hand=QUANTITY_MAX)] * receipts
    with (
        mock.patch.object(ledger_bulk, "BULK_MIN_CHANGES", minimum),
        pytest.raises(DataError),
        transaction.atomic(),
    ):
        stock_apply(changes=changes, actor=Actor(), created_variant_ids={variant.pk})
    assert not StockLevel.objects.filter(variant=variant).exists()
    assert not Movement.objects.filter(variant=variant).exists()


def test_skus_the_caller_gives_are_not_read_back(stock, django_capture_on_commit_callbacks):
    """An import passes every change's SKU: the bulk path writes its events from them
    without reading catalog_variant."""
    a, variants = stock["a"], stock["variants"]
    changes = [StockChange(v.pk, a.pk, Reason.IMPORT, on_hand=2) for v in variants]
    with (
        mock.patch.object(ledger_bulk, "BULK_MIN_CHANGES", 1),
        transaction.atomic(),
        django_capture_on_commit_callbacks(execute=False),
        CaptureQueriesContext(connection) as queries,
    ):
        stock_apply(
            changes=changes,
            actor=Actor(),
            reference_type="import",
            reference_id="8",
            variant_skus={v.pk: v.sku for v in variants},
        )
    assert not [q["sql"] for q in queries if "catalog_variant" in q["sql"]]
    written = Event.objects.filter(stream=location_stream(a.code)).order_by("seq")
    skus = [message["sku"] for e in written for _, message in e.messages()]
    assert skus[-len(variants) :] == [v.sku for v in variants]


def _batches_run(django_capture_on_commit_callbacks, batches, **kwargs):
    """Run the batches one stock_apply at a time on the portable path, then through
    stock_apply_batches on the bulk pipeline; return the two snapshots (or errors)."""
    results = []
    for minimum in (10**9, 1):
        sent: list = []
        alerts: list = []
        applied: list = []
        with _path(minimum, sent, alerts, "stock_apply_bulk_batches") as pipeline:
            try:
                with transaction.atomic():
                    with django_capture_on_commit_callbacks(execute=False) as callbacks:
                        if minimum > 1:
                            for changes in batches:
                                applied.append(stock_apply(changes=changes, **kwargs))
                        else:
                            stock_apply_batches(
                                batches=iter(batches), after_batch=applied.append, **kwargs
                            )
                    snapshots = [_snapshot(item) for item in applied]
                    call_command("check_stock")
                    for callback in callbacks:
                        callback()
                    snapshot = {
                        # Each batch's own result; the database as after the last.
                        "batches": [
                            {key: value for key, value in item.items() if key.startswith("app")}
                            for item in snapshots
                        ],
                        **{k: v for k, v in snapshots[-1].items() if not k.startswith("app")},
                        "broadcast": [(e.stream, e.seq, e.type, e.payload) for e in sent],
                        "alerts": sorted(
                            StockLevel.objects.get(pk=pk).variant_id for ids in alerts for pk in ids
                        ),
                    }
                    results.append(snapshot)
                    raise _Rollback
            except _Rollback:
                pass
            except (InsufficientStock, ValidationFailed) as error:
                results.append(
                    (type(error), error.detail, getattr(error, "extra", None), len(applied))
                )
        assert pipeline.called == (minimum == 1)
    return results


@pytest.mark.parametrize("hinted", [False, True], ids=["plain", "created-variants"])
def test_the_batch_pipeline_writes_exactly_what_stock_apply_per_batch_writes(
    stock, django_capture_on_commit_callbacks, hinted
):
    """stock_apply_batches (an import's stock phase) against one portable stock_apply
    per batch: the same levels, ledger rows, events, numbers and results; with levels
    that two batches in a row share (the second reads none of them: it starts from the
    first's unwritten state), levels that exist and levels to create (or to insert once,
    for created variants), a level in two batches that are not neighbours, and a
    batch at two locations."""
    a, b, variants = stock["a"], stock["b"], stock["variants"]
    first = [
        StockChange(v.pk, a.pk, Reason.IMPORT, on_hand=_delta(i)) for i, v in enumerate(variants)
    ]
    second = [
        # variants[30:] at A again (their levels are new in the first batch), then B
        StockChange(v.pk, a.pk, Reason.IMPORT, on_hand=-1)
        for v in variants[30:]
    ] + [StockChange(v.pk, b.pk, Reason.IMPORT, on_hand=i % 3 + 1) for i, v in enumerate(variants)]
    third = [StockChange(v.pk, a.pk, Reason.IMPORT, on_hand=2) for v in variants[:20]]
    third += [StockChange(variants[35].pk, b.pk, Reason.RECEIPT, on_hand=1, note="again")]
    portable, pipelined = _batches_run(
        django_capture_on_commit_callbacks,
        [first, second, third],
        actor=Actor(user_id=stock["user"].pk),
        reference_type="import",
        reference_id="11",
        **_created(stock, hinted),
    )
    assert not isinstance(portable, tuple), portable
    assert len(portable["batches"]) == 3 and portable["broadcast"] and portable["alerts"]
    assert pipelined == portable


@pytest.mark.parametrize("failing", [1, 2], ids=["second-batch", "third-batch"])
def test_the_batch_pipeline_refuses_like_stock_apply_per_batch(
    stock, django_capture_on_commit_callbacks, failing
):
    """A batch that takes more than there is: the same error, after the same batches."""
    a, variants = stock["a"], stock["variants"]
    batches = [
        [StockChange(v.pk, a.pk, Reason.IMPORT, on_hand=1) for v in variants] for _ in range(3)
    ]
    batches[failing] = [
        *batches[failing],
        StockChange(variants[3].pk, a.pk, Reason.IMPORT, on_hand=-50),
    ]
    portable, pipelined = _batches_run(
        django_capture_on_commit_callbacks, batches, actor=Actor(), **_created(stock, True)
    )
    assert portable[0] is InsufficientStock and portable[-1] == failing
    assert pipelined == portable
