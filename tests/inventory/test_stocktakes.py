from datetime import date

import pytest
from django.core.management import call_command
from django.db import transaction

from apps.core.errors import Conflict, InvalidTransition, NotFound, UnknownSku, ValidationFailed
from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from apps.inventory.models import LotLevel, Movement, StockLevel, Stocktake, StocktakeLine
from apps.inventory.services import stock_receive
from apps.inventory.stocktakes import (
    stocktake_cancel,
    stocktake_count,
    stocktake_post,
    stocktake_start,
)
from tests.factories import BarcodeFactory, VariantFactory

pytestmark = pytest.mark.django_db


def apply(variant, location, quantity, reason=Reason.RECEIPT):
    with transaction.atomic():
        stock_apply(
            changes=[StockChange(variant.pk, location.pk, reason, on_hand=quantity)],
            actor=Actor(),
            allow_short=True,
        )


def on_hand(variant, location):
    return StockLevel.objects.get(variant=variant, location=location).on_hand


def snapshot():
    return (
        list(StockLevel.objects.order_by("pk").values_list("on_hand", "reserved")),
        Movement.objects.count(),
        list(Stocktake.objects.order_by("pk").values_list("status", flat=True)),
        list(StocktakeLine.objects.order_by("pk").values_list("counted", "expected")),
    )


@pytest.fixture
def tee(store_a):
    variant = VariantFactory(sku="TEE-M")
    BarcodeFactory(variant=variant, code="200000000001")
    apply(variant, store_a, 12)
    return variant


@pytest.fixture
def cap(store_a):
    variant = VariantFactory(sku="CAP")
    apply(variant, store_a, 5)
    return variant


def test_scans_add_one_typing_sets_and_post_writes_the_differences(store_a, tee, cap, manager_a):
    stocktake = stocktake_start(location=store_a, actor=manager_a)
    assert stocktake.number == f"ST-{stocktake.pk:06d}"
    for _ in range(3):
        stocktake_count(stocktake=stocktake, actor=manager_a, code="200000000001")
    line = StocktakeLine.objects.get(variant=tee)
    assert (line.counted, line.expected) == (3, 12)
    stocktake_count(stocktake=stocktake, actor=manager_a, code="TEE-M", counted="10")
    stocktake_count(stocktake=stocktake, actor=manager_a, code="CAP", counted="5")
    stocktake_post(stocktake=stocktake, actor=manager_a)

    assert (on_hand(tee, store_a), on_hand(cap, store_a)) == (10, 5)
    rows = list(
        Movement.objects.filter(reason="stocktake").values_list(
            "variant__sku", "delta_on_hand", "reference_id"
        )
    )
    assert rows == [("TEE-M", -2, stocktake.number)]  # no movement where nothing differs
    assert Stocktake.objects.get().status == "posted"


def test_a_sale_after_the_count_is_neither_lost_nor_double_counted(store_a, tee, manager_a):
    stocktake = stocktake_start(location=store_a, actor=manager_a)
    stocktake_count(stocktake=stocktake, actor=manager_a, variant=tee, counted=10)
    apply(tee, store_a, -1, reason=Reason.SALE)  # sold after the shelf was counted
    assert on_hand(tee, store_a) == 11
    stocktake_post(stocktake=stocktake, actor=manager_a)
    assert on_hand(tee, store_a) == 10 - 1
    level = StockLevel.objects.get(variant=tee, location=store_a)
    assert sum(level.movements.values_list("delta_on_hand", flat=True)) == level.on_hand


def test_changing_a_count_refreshes_expected(store_a, tee, manager_a):
    stocktake = stocktake_start(location=store_a, actor=manager_a)
    stocktake_count(stocktake=stocktake, actor=manager_a, variant=tee, counted=10)
    apply(tee, store_a, -2, reason=Reason.SALE)
    line = stocktake_count(stocktake=stocktake, actor=manager_a, variant=tee, counted=9)
    assert (line.counted, line.expected) == (9, 10)


def test_uncounted_variants_are_left_alone(store_a, tee, cap, manager_a):
    stocktake = stocktake_start(location=store_a, actor=manager_a)
    stocktake_count(stocktake=stocktake, actor=manager_a, variant=tee, counted=0)
    stocktake_post(stocktake=stocktake, actor=manager_a)
    assert (on_hand(tee, store_a), on_hand(cap, store_a)) == (0, 5)


def test_posting_twice_or_cancelling_after_is_409_and_changes_nothing(store_a, tee, manager_a):
    stocktake = stocktake_start(location=store_a, actor=manager_a)
    stocktake_count(stocktake=stocktake, actor=manager_a, variant=tee, counted=7)
    stocktake_post(stocktake=stocktake, actor=manager_a)
    before = snapshot()
    for action in (stocktake_post, stocktake_cancel):
        with pytest.raises(InvalidTransition) as error:
            action(stocktake=stocktake, actor=manager_a)
        assert error.value.status_code == 409
    with pytest.raises(InvalidTransition):
        stocktake_count(stocktake=stocktake, actor=manager_a, variant=tee, counted=1)
    assert snapshot() == before


def test_one_counting_stocktake_per_location(store_a, manager_a):
    first = stocktake_start(location=store_a, actor=manager_a)
    with pytest.raises(Conflict) as error:
        stocktake_start(location=store_a, actor=manager_a)
    assert error.value.code == "stocktake_in_progress"
    stocktake_cancel(stocktake=first, actor=manager_a)
    assert stocktake_start(location=store_a, actor=manager_a).status == "counting"


def test_bad_input_and_other_stores_change_nothing(store_a, store_b, tee, manager_a, manager_b):
    stocktake = stocktake_start(location=store_a, actor=manager_a)
    stocktake_count(stocktake=stocktake, actor=manager_a, variant=tee, counted=4)
    before = snapshot()
    with pytest.raises(UnknownSku):
        stocktake_count(stocktake=stocktake, actor=manager_a, code="999999999")
    for bad in ("-1", "1.5", "x", "1000001", "99999999999999999999", 10**20):
        with pytest.raises(ValidationFailed):
            stocktake_count(stocktake=stocktake, actor=manager_a, variant=tee, counted=bad)
    for action in (stocktake_post, stocktake_cancel):
        with pytest.raises(NotFound):
            action(stocktake=stocktake, actor=manager_b)
    with pytest.raises(NotFound):
        stocktake_count(stocktake=stocktake, actor=manager_b, variant=tee, counted=1)
    with pytest.raises(NotFound):
        stocktake_start(location=store_a, actor=manager_b)
    assert snapshot() == before


def test_lot_tracked_differences_move_the_lots_too(store_a, manager_a):
    cream = VariantFactory(sku="CREAM", tracking="lot")
    for code, quantity, expires in (("SOON", 2, date(2027, 1, 1)), ("LATE", 5, date(2027, 6, 1))):
        stock_receive(
            location=store_a,
            variant=cream,
            quantity=quantity,
            actor=None,
            lot_code=code,
            expires_on=expires,
        )
    stocktake = stocktake_start(location=store_a, actor=manager_a)
    stocktake_count(stocktake=stocktake, actor=manager_a, variant=cream, counted=4)
    stocktake_post(stocktake=stocktake, actor=manager_a)
    assert on_hand(cream, store_a) == 4
    assert sorted(LotLevel.objects.values_list("lot__code", "on_hand")) == [
        ("LATE", 4),
        ("SOON", 0),
    ]
    call_command("check_stock")


def test_serial_tracked_goods_are_not_counted_by_quantity(store_a, manager_a):
    VariantFactory(sku="PHONE", tracking="serial")
    stocktake = stocktake_start(location=store_a, actor=manager_a)
    with pytest.raises(ValidationFailed):
        stocktake_count(stocktake=stocktake, actor=manager_a, code="PHONE", counted=1)
    assert StocktakeLine.objects.count() == 0


def test_a_count_of_the_bound_is_taken_and_one_more_scan_is_refused(store_a, tee, manager_a):
    stocktake = stocktake_start(location=store_a, actor=manager_a)
    line = stocktake_count(stocktake=stocktake, actor=manager_a, variant=tee, counted="1000000")
    assert line.counted == 1_000_000
    before = snapshot()
    with pytest.raises(ValidationFailed), transaction.atomic():
        stocktake_count(stocktake=stocktake, actor=manager_a, variant=tee)
    assert snapshot() == before
