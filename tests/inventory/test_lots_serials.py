"""Lots with expiry (first-expiring first) and serial numbers (one place at a time)."""

from datetime import date

import pytest

from apps.core.errors import ValidationFailed
from apps.core.models import Event
from apps.inventory.models import Lot, LotLevel, Movement, Serial, StockLevel
from apps.inventory.services import (
    SellLine,
    stock_adjust,
    stock_receive,
    stock_restock,
    stock_sell,
)
from tests.factories import VariantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def cream(db):
    return VariantFactory(sku="CREAM-50", tracking="lot")


@pytest.fixture
def phone(db):
    return VariantFactory(sku="PHONE-1", tracking="serial")


def lots_at(location):
    return dict(LotLevel.objects.filter(location=location).values_list("lot__code", "on_hand"))


def on_hand(location, variant):
    return StockLevel.objects.get(location=location, variant=variant).on_hand


def sell(location, *lines, reference_id="S1"):
    return stock_sell(
        location=location,
        lines=list(lines),
        actor=None,
        reference_type="sale",
        reference_id=reference_id,
    )


def state():
    return (
        sorted(StockLevel.objects.values_list("location_id", "variant_id", "on_hand", "reserved")),
        Movement.objects.count(),
        Event.objects.count(),
        sorted(Serial.objects.values_list("number", "status", "location_id")),
        sorted(LotLevel.objects.values_list("lot_id", "location_id", "on_hand")),
    )


def test_receive_into_lots_and_sell_first_expiring_first(cream, store_a):
    stock_receive(
        location=store_a,
        variant=cream,
        quantity=3,
        lot_code="LATE",
        expires_on=date(2027, 6, 1),
        actor=None,
    )
    stock_receive(
        location=store_a,
        variant=cream,
        quantity=2,
        lot_code="EARLY",
        expires_on=date(2027, 1, 1),
        actor=None,
    )
    assert Lot.objects.get(code="EARLY").expires_on == date(2027, 1, 1)
    sell(store_a, SellLine(cream, 3))
    assert lots_at(store_a) == {"EARLY": 0, "LATE": 2}
    assert on_hand(store_a, cream) == 2
    sales = Movement.objects.filter(reason="sale").order_by("id")
    assert [(m.lot.code, m.delta_on_hand) for m in sales] == [("EARLY", -2), ("LATE", -1)]


def test_sell_from_a_named_lot(cream, store_a):
    for code, expires in (("A", date(2027, 1, 1)), ("B", date(2028, 1, 1))):
        stock_receive(
            location=store_a,
            variant=cream,
            quantity=2,
            lot_code=code,
            expires_on=expires,
            actor=None,
        )
    sell(store_a, SellLine(cream, 1, lot_code="B"))
    assert lots_at(store_a) == {"A": 2, "B": 1}


def test_unknown_lot_is_refused_and_nothing_changes(cream, store_a):
    stock_receive(location=store_a, variant=cream, quantity=2, lot_code="A", actor=None)
    before = state()
    with pytest.raises(ValidationFailed) as caught:
        sell(store_a, SellLine(cream, 1, lot_code="NOPE"))
    assert caught.value.errors[0]["field"] == "lines.0.lot_code"
    assert state() == before


def test_lot_required_on_receipt(cream, store_a):
    with pytest.raises(ValidationFailed) as caught:
        stock_receive(location=store_a, variant=cream, quantity=2, actor=None)
    assert caught.value.errors[0]["field"] == "lot_code"
    assert not StockLevel.objects.exists()


def test_short_lot_sale_keeps_lot_levels_summing_to_the_level(cream, store_a):
    stock_receive(location=store_a, variant=cream, quantity=1, lot_code="A", actor=None)
    sell(store_a, SellLine(cream, 3))
    assert on_hand(store_a, cream) == -2
    assert sum(lots_at(store_a).values()) == -2


def test_return_goes_back_into_its_lot_and_damaged_is_written_off(cream, store_a):
    stock_receive(location=store_a, variant=cream, quantity=2, lot_code="A", actor=None)
    stock_receive(location=store_a, variant=cream, quantity=2, lot_code="B", actor=None)
    sell(store_a, SellLine(cream, 1, lot_code="B"))
    stock_restock(
        location=store_a,
        lines=[SellLine(cream, 1, lot_code="B")],
        actor=None,
        reference_type="return",
        reference_id="R1",
    )
    assert lots_at(store_a) == {"A": 2, "B": 2}
    stock_restock(
        location=store_a,
        lines=[SellLine(cream, 1, lot_code="A")],
        actor=None,
        reference_type="return",
        reference_id="R2",
        damaged=True,
    )
    assert lots_at(store_a) == {"A": 2, "B": 2}
    assert on_hand(store_a, cream) == 4


def test_lot_adjustment_takes_first_expiring(cream, store_a, manager_a):
    stock_receive(
        location=store_a,
        variant=cream,
        quantity=2,
        lot_code="OLD",
        expires_on=date(2026, 12, 1),
        actor=None,
    )
    stock_receive(
        location=store_a,
        variant=cream,
        quantity=2,
        lot_code="NEW",
        expires_on=date(2027, 12, 1),
        actor=None,
    )
    stock_adjust(location=store_a, variant=cream, delta=-3, reason="write_off", actor=manager_a)
    assert lots_at(store_a) == {"OLD": 0, "NEW": 1}


def test_receive_and_sell_serials(phone, store_a):
    stock_receive(location=store_a, variant=phone, quantity=2, serials=["SN1", "SN2"], actor=None)
    assert on_hand(store_a, phone) == 2
    sell(store_a, SellLine(phone, 1, serials=["SN2"]))
    assert dict(Serial.objects.values_list("number", "status")) == {
        "SN1": "in_stock",
        "SN2": "sold",
    }
    assert Movement.objects.filter(reason="sale").get().serial == "SN2"
    assert on_hand(store_a, phone) == 1


def test_serial_sold_twice_is_refused_and_nothing_changes(phone, store_a):
    stock_receive(location=store_a, variant=phone, quantity=1, serials=["SN1"], actor=None)
    sell(store_a, SellLine(phone, 1, serials=["SN1"]))
    before = state()
    with pytest.raises(ValidationFailed) as caught:
        sell(store_a, SellLine(phone, 1, serials=["SN1"]), reference_id="S2")
    assert caught.value.code == "invalid"
    assert caught.value.errors[0]["field"] == "lines.0.serials"
    assert "SN1" in caught.value.errors[0]["detail"]
    assert state() == before


def test_serial_at_another_store_cannot_be_sold_here(phone, store_a, store_b):
    stock_receive(location=store_b, variant=phone, quantity=1, serials=["SN9"], actor=None)
    before = state()
    with pytest.raises(ValidationFailed):
        sell(store_a, SellLine(phone, 1, serials=["SN9"]))
    assert state() == before


@pytest.mark.parametrize("serials", [[], ["SN1", "SN2"], ["SN1", "SN1"]])
def test_serial_count_must_match_quantity(phone, store_a, serials):
    before = state()
    with pytest.raises(ValidationFailed):
        stock_receive(
            location=store_a,
            variant=phone,
            quantity=2 if serials == ["SN1", "SN1"] else 1,
            serials=serials,
            actor=None,
        )
    assert state() == before


def test_serial_in_stock_elsewhere_cannot_be_received_again(phone, store_a, store_b):
    stock_receive(location=store_b, variant=phone, quantity=1, serials=["SN1"], actor=None)
    before = state()
    with pytest.raises(ValidationFailed):
        stock_receive(location=store_a, variant=phone, quantity=1, serials=["SN1"], actor=None)
    assert state() == before


def test_returned_serial_comes_back_in_stock_here(phone, store_a, store_b):
    stock_receive(location=store_a, variant=phone, quantity=1, serials=["SN1"], actor=None)
    sell(store_a, SellLine(phone, 1, serials=["SN1"]))
    stock_restock(
        location=store_b,
        lines=[SellLine(phone, 1, serials=["SN1"])],
        actor=None,
        reference_type="return",
        reference_id="R1",
    )
    serial = Serial.objects.get()
    assert (serial.status, serial.location_id) == ("in_stock", store_b.pk)
    assert on_hand(store_b, phone) == 1
