import threading
from datetime import date

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from apps.core.errors import (
    InsufficientStock,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    UnknownSku,
    ValidationFailed,
)
from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from apps.inventory.models import LotLevel, Movement, Serial, StockLevel, Transfer, TransferLine
from apps.inventory.services import stock_receive
from apps.inventory.stocktakes import stocktake_count, stocktake_post, stocktake_start
from apps.inventory.transfers import (
    LineInput,
    in_transit_by_destination,
    transfer_cancel,
    transfer_create,
    transfer_receive,
    transfer_ship,
)
from tests.factories import BarcodeFactory, LocationFactory, VariantFactory, manager_of

pytestmark = pytest.mark.django_db


def receive(variant, location, quantity):
    with transaction.atomic():
        stock_apply(
            changes=[StockChange(variant.pk, location.pk, Reason.RECEIPT, on_hand=quantity)],
            actor=Actor(),
        )


def on_hand(variant, location):
    return (
        StockLevel.objects.filter(variant=variant, location=location)
        .values_list("on_hand", flat=True)
        .first()
        or 0
    )


def snapshot():
    return (
        list(StockLevel.objects.order_by("pk").values_list("on_hand", "reserved")),
        Movement.objects.count(),
        list(Transfer.objects.order_by("pk").values_list("status", flat=True)),
        list(TransferLine.objects.order_by("pk").values_list("quantity", "quantity_received")),
    )


@pytest.fixture
def warehouse(db):
    return LocationFactory(code="W01", name="Warehouse", kind="warehouse")


@pytest.fixture
def tee(warehouse):
    variant = VariantFactory(sku="TEE-M")
    BarcodeFactory(variant=variant, code="4006381333931")
    receive(variant, warehouse, 10)
    return variant


@pytest.fixture
def manager_w(warehouse):
    return manager_of(warehouse, email="w@example.test")


def draft(warehouse, store, actor, quantity=4, code="TEE-M"):
    return transfer_create(
        source=warehouse,
        destination=store,
        lines=[LineInput(code=code, quantity=quantity)],
        actor=actor,
    )


def test_create_ship_receive_short_moves_stock_and_records_the_difference(
    warehouse, store_a, tee, hq_admin
):
    transfer = draft(warehouse, store_a, hq_admin, quantity=4, code="4006381333931")
    assert transfer.number == f"TR-{transfer.pk:06d}"
    assert transfer.status == "draft"
    assert on_hand(tee, warehouse) == 10

    transfer_ship(transfer=transfer, actor=hq_admin)
    assert on_hand(tee, warehouse) == 6
    assert in_transit_by_destination([tee.pk]) == {(store_a.pk, tee.pk): 4}

    line = transfer.lines.get()
    transfer_receive(transfer=transfer, counts={line.pk: "3"}, actor=hq_admin)
    line.refresh_from_db()
    transfer.refresh_from_db()
    assert (transfer.status, line.quantity, line.quantity_received) == ("received", 4, 3)
    assert on_hand(tee, store_a) == 3
    assert in_transit_by_destination([tee.pk]) == {}
    rows = list(
        Movement.objects.filter(reference_type="transfer", reference_id=transfer.number)
        .order_by("pk")
        .values_list("location__code", "reason", "delta_on_hand")
    )
    assert rows == [("W01", "transfer_out", -4), ("SA1", "transfer_in", 3)]


def test_lines_of_the_same_variant_are_merged(warehouse, store_a, tee, hq_admin):
    transfer = transfer_create(
        source=warehouse,
        destination=store_a,
        lines=[LineInput(code="TEE-M", quantity=2), LineInput(code="4006381333931", quantity=3)],
        actor=hq_admin,
    )
    assert list(transfer.lines.values_list("quantity", flat=True)) == [5]


def test_receive_over_counts_the_extra(warehouse, store_a, tee, hq_admin):
    transfer = draft(warehouse, store_a, hq_admin, quantity=2)
    transfer_ship(transfer=transfer, actor=hq_admin)
    line = transfer.lines.get()
    transfer_receive(transfer=transfer, counts={line.pk: 3}, actor=hq_admin)
    assert on_hand(tee, store_a) == 3
    assert on_hand(tee, warehouse) == 8


def test_ship_without_enough_stock_is_refused_and_nothing_moves(warehouse, store_a, tee, hq_admin):
    transfer = draft(warehouse, store_a, hq_admin, quantity=11)
    before = snapshot()
    with pytest.raises(InsufficientStock):
        transfer_ship(transfer=transfer, actor=hq_admin)
    assert snapshot() == before


def test_double_transitions_are_409_and_change_nothing(warehouse, store_a, tee, hq_admin):
    transfer = draft(warehouse, store_a, hq_admin)
    transfer_ship(transfer=transfer, actor=hq_admin)
    before = snapshot()
    with pytest.raises(InvalidTransition) as error:
        transfer_ship(transfer=transfer, actor=hq_admin)
    assert error.value.status_code == 409
    assert snapshot() == before

    transfer_receive(transfer=transfer, counts={}, actor=hq_admin)
    before = snapshot()
    for action in (transfer_receive, transfer_cancel):
        kwargs = {"counts": {}} if action is transfer_receive else {}
        with pytest.raises(InvalidTransition):
            action(transfer=transfer, actor=hq_admin, **kwargs)
    assert snapshot() == before


def test_cancel_draft_moves_nothing_and_cancel_shipped_returns_stock(
    warehouse, store_a, tee, hq_admin
):
    first = draft(warehouse, store_a, hq_admin)
    movements = Movement.objects.count()
    transfer_cancel(transfer=first, actor=hq_admin)
    assert Movement.objects.count() == movements
    assert Transfer.objects.get(pk=first.pk).status == "cancelled"

    second = draft(warehouse, store_a, hq_admin, quantity=3)
    transfer_ship(transfer=second, actor=hq_admin)
    assert on_hand(tee, warehouse) == 7
    transfer_cancel(transfer=second, actor=hq_admin)
    assert on_hand(tee, warehouse) == 10
    last = Movement.objects.order_by("-pk").first()
    assert (last.location_id, last.reason, last.delta_on_hand) == (warehouse.pk, "transfer_in", 3)
    assert in_transit_by_destination([tee.pk]) == {}


@pytest.mark.parametrize(
    ("quantity", "error"),
    [
        ("0", ValidationFailed),
        ("-2", ValidationFailed),
        ("1.5", ValidationFailed),
        ("", ValidationFailed),
        ("1000001", ValidationFailed),
        ("99999999999999999999", ValidationFailed),
    ],
)
def test_bad_quantities_are_refused(warehouse, store_a, tee, hq_admin, quantity, error):
    with pytest.raises(error):
        draft(warehouse, store_a, hq_admin, quantity=quantity)
    assert Transfer.objects.count() == 0


def test_unknown_sku_and_own_source_are_refused(warehouse, tee, store_a, hq_admin):
    with pytest.raises(UnknownSku):
        draft(warehouse, store_a, hq_admin, code="NOPE")
    with pytest.raises(ValidationFailed) as error:
        draft(warehouse, warehouse, hq_admin)
    assert error.value.errors[0]["field"] == "destination"
    assert Transfer.objects.count() == 0


def test_other_managers_get_404_or_403_and_nothing_changes(
    warehouse, store_a, store_b, tee, manager_w, manager_a, manager_b
):
    transfer = draft(warehouse, store_a, manager_w)
    before = snapshot()
    # Store B's manager sees neither end: the transfer does not exist for them.
    with pytest.raises(NotFound):
        transfer_ship(transfer=transfer, actor=manager_b)
    with pytest.raises(NotFound):
        draft(warehouse, store_b, manager_b)
    # Store A's manager sees it (destination) but only the source ships it.
    with pytest.raises(PermissionDenied):
        transfer_ship(transfer=transfer, actor=manager_a)
    assert snapshot() == before

    transfer_ship(transfer=transfer, actor=manager_w)
    before = snapshot()
    with pytest.raises(NotFound):
        transfer_receive(transfer=transfer, counts={}, actor=manager_b)
    with pytest.raises(PermissionDenied):
        transfer_receive(transfer=transfer, counts={}, actor=manager_w)
    assert snapshot() == before
    transfer_receive(transfer=transfer, counts={}, actor=manager_a)
    assert on_hand(tee, store_a) == 4


def test_receive_with_a_bad_count_changes_nothing(warehouse, store_a, tee, hq_admin):
    transfer = draft(warehouse, store_a, hq_admin)
    transfer_ship(transfer=transfer, actor=hq_admin)
    line = transfer.lines.get()
    before = snapshot()
    for bad in ("-1", "1000001", "99999999999999999999"):
        with pytest.raises(ValidationFailed) as caught:
            transfer_receive(transfer=transfer, counts={line.pk: bad}, actor=hq_admin)
        assert caught.value.errors[0]["field"] == f"count_{line.pk}"
    assert snapshot() == before


# --- concurrency (PostgreSQL, real threads) -------------------------------------------


def run_together(*targets):
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def worker(index):
        try:
            barrier.wait(timeout=10)
            results[index] = ("ok", targets[index]())
        except Exception as error:  # recorded for the assertions
            results[index] = ("error", error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
        assert not thread.is_alive(), "a worker is stuck (deadlock?)"
    return results


def _ledger_matches_balances():
    for level in StockLevel.objects.all():
        assert level.on_hand == sum(level.movements.values_list("delta_on_hand", flat=True))


@pytest.fixture
def shipped(db, hq_admin):
    warehouse = LocationFactory(code="W02", kind="warehouse")
    store = LocationFactory(code="SC1")
    variants = [VariantFactory(sku=f"DOC-{i}") for i in range(3)]
    for variant in variants:
        stock_receive(location=warehouse, variant=variant, quantity=20, actor=None)
        stock_receive(location=store, variant=variant, quantity=5, actor=None)
    transfer = transfer_create(
        source=warehouse,
        destination=store,
        lines=[LineInput(variant=v, quantity=4) for v in variants],
        actor=hq_admin,
    )
    transfer_ship(transfer=transfer, actor=hq_admin)
    return warehouse, store, variants, transfer


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_receiving_twice_at_once_receives_once(shipped, hq_admin):
    _, store, variants, transfer = shipped
    results = run_together(
        *[lambda: transfer_receive(transfer=transfer, counts={}, actor=hq_admin)] * 4
    )
    outcomes = sorted(kind for kind, _ in results)
    assert outcomes == ["error", "error", "error", "ok"]
    assert all(isinstance(e, InvalidTransition) for kind, e in results if kind == "error")
    assert [StockLevel.objects.get(location=store, variant=v).on_hand for v in variants] == [
        9,
        9,
        9,
    ]
    assert Movement.objects.filter(reason="transfer_in").count() == 3
    _ledger_matches_balances()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_transfer_received_while_a_stocktake_posts(shipped, hq_admin):
    _, store, variants, transfer = shipped
    stocktake = stocktake_start(location=store, actor=hq_admin)
    for variant in reversed(variants):  # counted before the goods arrive
        stocktake_count(stocktake=stocktake, actor=hq_admin, variant=variant, counted=4)
    results = run_together(
        lambda: transfer_receive(transfer=transfer, counts={}, actor=hq_admin),
        lambda: stocktake_post(stocktake=stocktake, actor=hq_admin),
    )
    assert [kind for kind, _ in results] == ["ok", "ok"]
    # counted 4 (expected 5) -> -1; received +4: whichever commits first, 5 - 1 + 4.
    assert [StockLevel.objects.get(location=store, variant=v).on_hand for v in variants] == [
        8,
        8,
        8,
    ]
    _ledger_matches_balances()


def test_lot_tracked_goods_ship_first_expiring_lots_and_arrive_by_lot(warehouse, store_a, hq_admin):
    cream = VariantFactory(sku="CREAM", tracking="lot")
    stock_receive(
        location=warehouse,
        variant=cream,
        quantity=4,
        actor=None,
        lot_code="LATE",
        expires_on=date(2027, 6, 1),
    )
    stock_receive(
        location=warehouse,
        variant=cream,
        quantity=3,
        actor=None,
        lot_code="SOON",
        expires_on=date(2027, 1, 1),
    )
    transfer = transfer_create(
        source=warehouse,
        destination=store_a,
        lines=[LineInput(code="CREAM", quantity=5)],
        actor=hq_admin,
    )
    transfer_ship(transfer=transfer, actor=hq_admin)
    assert sorted(transfer.lines.values_list("lot__code", "quantity")) == [("LATE", 2), ("SOON", 3)]
    transfer_receive(transfer=transfer, counts={}, actor=hq_admin)

    def lots(location):
        return sorted(
            LotLevel.objects.filter(location=location).values_list("lot__code", "on_hand")
        )

    assert lots(warehouse) == [("LATE", 2), ("SOON", 0)]
    assert lots(store_a) == [("LATE", 2), ("SOON", 3)]
    assert (on_hand(cream, warehouse), on_hand(cream, store_a)) == (2, 5)
    call_command("check_stock")  # ledger, levels and lots agree (exits non-zero otherwise)


def test_serials_travel_in_transit_and_land_at_the_destination(warehouse, store_a, hq_admin):
    phone = VariantFactory(sku="PHONE", tracking="serial")
    stock_receive(location=warehouse, variant=phone, quantity=2, actor=None, serials=["SN1", "SN2"])
    transfer = transfer_create(
        source=warehouse,
        destination=store_a,
        lines=[LineInput(code="PHONE", quantity=2, serials=("SN1", "SN2"))],
        actor=hq_admin,
    )
    transfer_ship(transfer=transfer, actor=hq_admin)
    assert set(Serial.objects.values_list("number", "status", "location")) == {
        ("SN1", "in_transit", None),
        ("SN2", "in_transit", None),
    }
    line = transfer.lines.get()
    transfer_receive(transfer=transfer, counts={line.pk: 1}, actor=hq_admin)
    assert set(Serial.objects.values_list("number", "status", "location")) == {
        ("SN1", "in_stock", store_a.pk),
        ("SN2", "in_transit", None),
    }
    assert (on_hand(phone, warehouse), on_hand(phone, store_a)) == (0, 1)
