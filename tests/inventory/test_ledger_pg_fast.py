"""The PostgreSQL fast path (`inventory_stock_apply_fast`, migration 0002) gives exactly
what the portable path gives: the same returned values, level rows, ledger rows and
events, the same refusals, and `check_stock` stays clean."""

import io

import pytest
from django.core.management import call_command
from django.db import transaction

from apps.catalog.models import Product, Variant
from apps.core.errors import InsufficientStock, ValidationFailed
from apps.core.models import Event, Stream
from apps.inventory import ledger
from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from apps.inventory.models import Lot, Movement, StockLevel
from tests.factories import LocationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

# (changes as (variant index, reason, on_hand, reserved, lot?, serial, note), allow_short)
SCRIPT = [
    ([(0, Reason.RECEIPT, 5, 0, False, "", "")], False),
    ([(1, Reason.RECEIPT, 3, 0, True, "", "first lot")], False),
    (
        [
            (0, Reason.RESERVATION, 0, 2, False, "", ""),
            (1, Reason.RESERVATION, 0, 1, False, "", ""),
        ],
        False,
    ),
    ([(1, Reason.SALE, -1, -1, True, "", "")], False),
    ([(0, Reason.SALE, -3, 0, False, "", "")], True),
    ([(2, Reason.RECEIPT, 1, 0, False, "SN-1", "serial in")], False),
    ([(0, Reason.RELEASE, 0, -2, False, "", "")], False),
    ([(0, Reason.RESERVATION, 0, 9, False, "", "")], False),  # refused: InsufficientStock
    ([(0, Reason.RELEASE, 0, -1, False, "", "")], False),  # refused: nothing reserved
    ([(1, Reason.SALE, -5, 0, False, "", ""), (2, Reason.SALE, -1, 0, False, "SN-1", "")], True),
    (
        [
            (2, Reason.ADJUSTMENT, 4, 0, False, "", "recount"),
            (0, Reason.WRITE_OFF, -1, 0, False, "", ""),
        ],
        False,
    ),
]


def _run(location, variants, lots, actor):
    """Play SCRIPT at `location`; return what each step returned (or raised)."""
    results = []
    for step, (rows, allow_short) in enumerate(SCRIPT):
        changes = [
            StockChange(
                variants[index].pk,
                location.pk,
                reason,
                on_hand=on_hand,
                reserved=reserved,
                lot_id=lots[index].pk if lot else None,
                serial=serial,
                note=note,
            )
            for index, reason, on_hand, reserved, lot, serial, note in rows
        ]
        try:
            with transaction.atomic():
                applied = stock_apply(
                    changes=changes,
                    actor=actor,
                    reference_type="test",
                    reference_id=str(step),
                    allow_short=allow_short,
                )
        except (InsufficientStock, ValidationFailed) as error:
            results.append((type(error).__name__, getattr(error, "extra", None)))
            continue
        results.append(
            (
                [_movement(m) for m in applied.movements],
                sorted(
                    (variant_id, lv.on_hand, lv.reserved, lv.reorder_point, lv.seq)
                    for (_, variant_id), lv in applied.levels.items()
                ),
                [(s.quantity_short, s.level.variant_id) for s in applied.shortfalls],
            )
        )
    return results


def _movement(m: Movement) -> tuple:
    return (
        m.variant_id,
        m.level.variant_id,
        m.delta_on_hand,
        m.delta_reserved,
        m.on_hand_after,
        m.reserved_after,
        m.reason,
        m.reference_type,
        m.reference_id,
        m.actor_user_id,
        m.actor_client_id,
        m.lot.code if m.lot_id else None,
        m.serial,
        m.note,
        m.seq,
    )


def _stored(location) -> tuple:
    levels = sorted(
        StockLevel.objects.filter(location=location).values_list(
            "variant__sku", "on_hand", "reserved", "available", "seq", "negative_allowed"
        )
    )
    movements = [
        _movement(m)
        for m in Movement.objects.filter(location=location)
        .select_related("level", "lot")
        .order_by("id")
    ]
    stream = f"location.{location.code}"
    events = [
        (
            e.seq,
            e.type,
            {k: v for k, v in e.payload.items() if k != "location"},
            e.payload["location"] == location.code,
        )
        for e in Event.objects.filter(stream=stream).order_by("seq")
    ]
    return levels, movements, events, Stream.objects.get(name=stream).last_seq


def test_fast_path_matches_the_portable_path(monkeypatch):
    product = Product.objects.create(handle="p", name="P")
    variants = [
        Variant.objects.create(product=product, sku=f"V-{i}", price="1.00") for i in range(3)
    ]
    lots = [Lot.objects.create(variant=v, code="L1") for v in variants]
    fast_at, portable_at = LocationFactory(code="FAST"), LocationFactory(code="SLOW")
    actor = Actor(client_id=None, user_id=None)
    calls = []
    real = ledger._apply_fast_pg

    def counted(*args):
        applied = real(*args)
        calls.append(applied is not None)
        return applied

    monkeypatch.setattr(ledger, "_apply_fast_pg", counted)
    fast = _run(fast_at, variants, lots, actor)
    # The function did the steps on existing levels that the rules accept; new levels,
    # refusals and short sales went to the general path.
    assert calls == [False, False, True, True, True, False, True, False, False, False, True]
    monkeypatch.setattr(ledger, "_apply_fast_pg", lambda *args: None)
    portable = _run(portable_at, variants, lots, actor)
    assert fast == portable
    assert _stored(fast_at) == _stored(portable_at)
    call_command("check_stock", stdout=io.StringIO())


def test_first_change_at_a_location_creates_its_stream_row():
    product = Product.objects.create(handle="p", name="P")
    variant = Variant.objects.create(product=product, sku="NEW", price="1.00")
    location = LocationFactory(code="NEWLOC")
    StockLevel.objects.create(location=location, variant=variant)  # level, no stream yet
    with transaction.atomic():
        applied = stock_apply(
            changes=[StockChange(variant.pk, location.pk, Reason.RECEIPT, on_hand=2)],
            actor=Actor(),
        )
    assert applied.movements[0].pk == Movement.objects.get().pk
    assert applied.levels[(location.pk, variant.pk)].seq == 1
    assert Stream.objects.get(name="location.NEWLOC").last_seq == 1
    assert Event.objects.get(stream="location.NEWLOC").payload == {
        "location": "NEWLOC",
        "sku": "NEW",
        "on_hand": 2,
        "reserved": 0,
        "available": 2,
    }


def _services_script(location, variants, inside: bool) -> list:
    """Receive, reserve, release, sell (one short) and a first receipt, each as its own
    service call, outside any transaction or each inside one."""
    from apps.inventory.services import (
        SellLine,
        stock_receive,
        stock_release,
        stock_reserve,
        stock_sell,
    )

    calls = [
        lambda: stock_receive(location=location, variant=variants[0], quantity=5, actor=None),
        lambda: stock_receive(location=location, variant=variants[1], quantity=2, actor=None),
        lambda: stock_reserve(
            location=location,
            lines=[(variants[0], 2), (variants[1], 1)],
            actor=None,
            reference_type="order",
            reference_id="7",
        ),
        lambda: stock_release(
            location=location,
            lines=[(variants[0], 1)],
            actor=None,
            reference_type="order",
            reference_id="7",
        ),
        lambda: stock_sell(
            location=location,
            lines=[SellLine(variants[0], 1), SellLine(variants[1], 1)],
            actor=None,
            reference_type="sale",
            reference_id="S-1",
        ),
        lambda: stock_sell(
            location=location,
            lines=[SellLine(variants[1], 4)],
            actor=None,
            reference_type="sale",
            reference_id="S-2",
        ),
        lambda: stock_reserve(
            location=location,
            lines=[(variants[0], 50)],
            actor=None,
            reference_type="order",
            reference_id="8",
        ),
        lambda: stock_receive(location=location, variant=variants[2], quantity=1, actor=None),
    ]
    results = []
    for call in calls:
        try:
            if inside:
                with transaction.atomic():
                    applied = call()
            else:
                applied = call()
        except InsufficientStock as error:
            results.append(error.extra)
            continue
        results.append(
            (
                [_movement(m) for m in applied.movements],
                sorted(
                    (v, lv.on_hand, lv.reserved, lv.seq) for (_, v), lv in applied.levels.items()
                ),
                [s.quantity_short for s in applied.shortfalls],
            )
        )
    return results


def test_services_outside_a_transaction_commit_alone_with_the_same_rows(monkeypatch):
    from apps.inventory import services

    product = Product.objects.create(handle="p", name="P")
    variants = [
        Variant.objects.create(product=product, sku=f"V-{i}", price="1.00") for i in range(3)
    ]
    alone_at, inside_at = LocationFactory(code="ALONE"), LocationFactory(code="INSIDE")
    for variant in variants[:2]:  # existing levels (a first receipt takes the general path)
        StockLevel.objects.create(location=alone_at, variant=variant)
        StockLevel.objects.create(location=inside_at, variant=variant)
    alone = []
    real = services.stock_apply_alone

    def counted(**kwargs):
        applied = real(**kwargs)
        alone.append(applied is not None)
        return applied

    monkeypatch.setattr(services, "stock_apply_alone", counted)
    outside = _services_script(alone_at, variants, inside=False)
    # Committed alone: everything but the short sale, the refused reservation and the
    # first receipt of a new level, which took the transactional path.
    assert alone == [True, True, True, True, True, False, False, False]
    alone.clear()
    inside = _services_script(inside_at, variants, inside=True)
    assert alone == [False] * 8  # inside a transaction: never alone
    assert outside == inside
    assert _stored(alone_at) == _stored(inside_at)
    call_command("check_stock", stdout=io.StringIO())


def test_a_change_alone_survives_a_new_connection_is_logged_when_watched_and_errors_translate(
    monkeypatch,
):
    """The fast statement runs on a cursor kept with the connection: after the connection
    was closed (a new one from the pool) it still applies, a query capture still sees it,
    and a database error is Django's, with nothing changed."""
    from django.db import ProgrammingError, connection
    from django.test.utils import CaptureQueriesContext

    from apps.inventory.services import stock_receive

    product = Product.objects.create(handle="p", name="P")
    variant = Variant.objects.create(product=product, sku="KEPT-1", price="1.00")
    location = LocationFactory(code="KEPT")
    StockLevel.objects.create(location=location, variant=variant)

    first = stock_receive(location=location, variant=variant, quantity=2, actor=None)
    connection.close()
    second = stock_receive(location=location, variant=variant, quantity=3, actor=None)
    assert [m.on_hand_after for m in first.movements + second.movements] == [2, 5]
    with CaptureQueriesContext(connection) as captured:
        stock_receive(location=location, variant=variant, quantity=1, actor=None)
    assert len(captured.captured_queries) == 1  # the one statement, logged

    monkeypatch.setattr(ledger, "_FAST_PG_SQL", ledger._FAST_PG_SQL.replace("inventory_", "no_"))
    with pytest.raises(ProgrammingError):
        stock_receive(location=location, variant=variant, quantity=4, actor=None)
    level = StockLevel.objects.get(location=location, variant=variant)
    assert (level.on_hand, level.seq) == (6, 3)
    assert Movement.objects.filter(level=level).count() == 3
