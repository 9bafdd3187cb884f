"""Stock services: what a user relies on (balances, ledger rows, events, error codes),
and that a refused request changes nothing."""

from datetime import date

import pytest
from django.db import transaction

from apps.catalog.models import Variant
from apps.core.errors import (
    ForbiddenLocation,
    InsufficientStock,
    NotFound,
    PermissionDenied,
    UnknownSku,
    ValidationFailed,
)
from apps.core.models import Event
from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from apps.inventory.models import Discrepancy, LotLevel, Movement, Serial, StockLevel
from apps.inventory.services import (
    SellLine,
    stock_adjust,
    stock_collect,
    stock_receive,
    stock_release,
    stock_reserve,
    stock_restock,
    stock_sell,
)
from tests.factories import VariantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tee(db):
    return VariantFactory(sku="TEE-M")


def level(location, variant):
    row = StockLevel.objects.filter(location=location, variant=variant).first()
    return (row.on_hand, row.reserved) if row else None


def snapshot():
    """Everything a refused request must leave alone."""
    return (
        sorted(StockLevel.objects.values_list("location_id", "variant_id", "on_hand", "reserved")),
        Movement.objects.count(),
        Event.objects.count(),
        Discrepancy.objects.count(),
        sorted(Serial.objects.values_list("number", "status", "location_id")),
        sorted(LotLevel.objects.values_list("lot_id", "location_id", "on_hand")),
    )


def ledger_sum(location, variant):
    rows = Movement.objects.filter(location=location, variant=variant)
    return (
        sum(r.delta_on_hand for r in rows),
        sum(r.delta_reserved for r in rows),
    )


def test_receive_adds_stock_with_ledger_row_and_event(tee, store_a, manager_a):
    applied = stock_receive(
        location=store_a, variant=tee, quantity=12, actor=manager_a, reference_id="PO-1"
    )
    assert level(store_a, tee) == (12, 0)
    movement = Movement.objects.get()
    assert (movement.reason, movement.delta_on_hand, movement.on_hand_after) == ("receipt", 12, 12)
    assert (movement.reference_type, movement.reference_id) == ("receipt", "PO-1")
    assert movement.actor_user == manager_a
    event = Event.objects.get()
    assert event.stream == "location.SA1"
    assert event.payload == {
        "location": "SA1",
        "sku": "TEE-M",
        "on_hand": 12,
        "reserved": 0,
        "available": 12,
    }
    assert applied.levels[(store_a.pk, tee.pk)].seq == event.seq == movement.seq


def test_second_receive_uses_the_fast_path_and_keeps_seq_order(tee, store_a):
    stock_receive(location=store_a, variant=tee, quantity=2, actor=None)
    stock_receive(location=store_a, variant=tee, quantity=3, actor=None)
    row = StockLevel.objects.get()
    assert (row.on_hand, row.seq) == (5, 2)
    assert list(Movement.objects.order_by("id").values_list("on_hand_after", "seq")) == [
        (2, 1),
        (5, 2),
    ]


@pytest.mark.parametrize("quantity", [0, -1, 1.5, "3", True, None, 1_000_001, 10**20])
def test_receive_refuses_bad_quantities_and_changes_nothing(tee, store_a, quantity):
    stock_receive(location=store_a, variant=tee, quantity=1, actor=None)
    before = snapshot()
    with pytest.raises(ValidationFailed) as caught:
        stock_receive(location=store_a, variant=tee, quantity=quantity, actor=None)
    assert caught.value.code == "invalid"
    assert caught.value.errors[0]["field"] == "quantity"
    assert snapshot() == before


def test_unknown_sku_and_location(tee, store_a):
    with pytest.raises(UnknownSku) as caught:
        stock_receive(location=store_a, variant="NOPE", quantity=1, actor=None)
    assert caught.value.code == "unknown_sku"
    with pytest.raises(NotFound):
        stock_receive(location="ZZZ", variant=tee, quantity=1, actor=None)
    with pytest.raises(UnknownSku):
        stock_reserve(
            location=store_a, lines=[("NOPE", 1)], actor=None, reference_type="o", reference_id="1"
        )
    assert snapshot()[1:4] == (0, 0, 0)


def test_adjust_by_manager_and_hq(tee, store_a, manager_a, hq_admin):
    stock_receive(location=store_a, variant=tee, quantity=5, actor=None)
    stock_adjust(location=store_a, variant=tee, delta=-2, note="broken", actor=manager_a)
    stock_adjust(location=store_a, variant=tee, delta=-1, reason="write_off", actor=hq_admin)
    assert level(store_a, tee) == (2, 0)
    assert list(Movement.objects.order_by("id").values_list("reason", "delta_on_hand")) == [
        ("receipt", 5),
        ("adjustment", -2),
        ("write_off", -1),
    ]


def test_adjust_refused_for_others_and_nothing_changes(
    tee, store_a, store_b, manager_b, associate_a, device_a
):
    stock_receive(location=store_a, variant=tee, quantity=5, actor=None)
    before = snapshot()
    with pytest.raises(NotFound):  # manager of another store: not even visible
        stock_adjust(location=store_a, variant=tee, delta=-1, actor=manager_b)
    with pytest.raises(PermissionDenied):  # associate sees it read-only
        stock_adjust(location=store_a, variant=tee, delta=-1, actor=associate_a)
    with pytest.raises(PermissionDenied):  # a POS device does not adjust
        stock_adjust(location=store_a, variant=tee, delta=-1, actor=device_a[0])
    assert snapshot() == before


@pytest.mark.parametrize(
    ("delta", "reason"),
    [
        (0, "adjustment"),
        (2.5, "adjustment"),
        (3, "write_off"),
        (1, "theft"),
        (1_000_001, "adjustment"),
        (-(10**11), "write_off"),
    ],
)
def test_adjust_bad_input(tee, store_a, manager_a, delta, reason):
    stock_receive(location=store_a, variant=tee, quantity=5, actor=None)
    before = snapshot()
    with pytest.raises(ValidationFailed):
        stock_adjust(location=store_a, variant=tee, delta=delta, reason=reason, actor=manager_a)
    assert snapshot() == before


def test_adjust_below_reserved_is_refused(tee, store_a, manager_a):
    stock_receive(location=store_a, variant=tee, quantity=3, actor=None)
    stock_reserve(
        location=store_a, lines=[(tee, 2)], actor=None, reference_type="order", reference_id="1"
    )
    before = snapshot()
    with pytest.raises(InsufficientStock) as caught:
        stock_adjust(location=store_a, variant=tee, delta=-2, actor=manager_a)
    assert caught.value.extra["lines"] == [{"sku": "TEE-M", "requested": 2, "available": 1}]
    assert snapshot() == before


def test_reserve_all_lines_or_none(store_a):
    a, b = VariantFactory(sku="A-1"), VariantFactory(sku="B-1")
    stock_receive(location=store_a, variant=a, quantity=5, actor=None)
    stock_receive(location=store_a, variant=b, quantity=1, actor=None)
    before = snapshot()
    with pytest.raises(InsufficientStock) as caught:
        stock_reserve(
            location=store_a,
            lines=[(a, 2), (b, 1), (b, 1)],
            actor=None,
            reference_type="order",
            reference_id="W1",
        )
    assert caught.value.code == "insufficient_stock"
    assert caught.value.extra == {"lines": [{"sku": "B-1", "requested": 2, "available": 1}]}
    assert snapshot() == before


def test_reserve_never_takes_negative_policy_stock(tee, store_a):
    # A short POS sale took on hand negative: a reservation still finds nothing.
    stock_sell(
        location=store_a, lines=[SellLine(tee, 2)], actor=None, reference_type="s", reference_id="1"
    )
    assert level(store_a, tee) == (-2, 0)
    with pytest.raises(InsufficientStock) as caught:
        stock_reserve(
            location=store_a, lines=[(tee, 1)], actor=None, reference_type="o", reference_id="1"
        )
    assert caught.value.extra["lines"] == [{"sku": "TEE-M", "requested": 1, "available": -2}]


def test_reserve_release_collect(tee, store_a, integration_client):
    online = integration_client[0]
    stock_receive(location=store_a, variant=tee, quantity=5, actor=None)
    stock_reserve(
        location=store_a, lines=[(tee, 3)], actor=online, reference_type="order", reference_id="7"
    )
    assert level(store_a, tee) == (5, 3)
    stock_release(
        location=store_a, lines=[(tee, 1)], actor=online, reference_type="order", reference_id="7"
    )
    assert level(store_a, tee) == (5, 2)
    stock_collect(
        location=store_a, lines=[(tee, 2)], actor=online, reference_type="order", reference_id="7"
    )
    assert level(store_a, tee) == (3, 0)
    last = Movement.objects.order_by("-id").first()
    assert (last.reason, last.delta_on_hand, last.delta_reserved) == ("sale", -2, -2)
    assert last.actor_client == online
    assert ledger_sum(store_a, tee) == (3, 0)
    before = snapshot()
    with pytest.raises(ValidationFailed):
        stock_release(
            location=store_a, lines=[(tee, 1)], actor=None, reference_type="o", reference_id="7"
        )
    with pytest.raises(ValidationFailed):
        stock_collect(
            location=store_a, lines=[(tee, 1)], actor=None, reference_type="o", reference_id="7"
        )
    assert snapshot() == before


def test_sell_short_is_recorded_with_one_discrepancy(tee, store_a, device_a):
    stock_receive(location=store_a, variant=tee, quantity=1, actor=None)
    applied = stock_sell(
        location=store_a,
        lines=[SellLine(tee, 3)],
        actor=device_a[0],
        reference_type="sale",
        reference_id="SA1-1",
    )
    assert level(store_a, tee) == (-2, 0)
    assert [s.quantity_short for s in applied.shortfalls] == [2]
    discrepancy = Discrepancy.objects.get()
    assert (discrepancy.quantity_short, discrepancy.reference_id) == (2, "SA1-1")
    assert ledger_sum(store_a, tee) == (-2, 0)


def test_sell_at_a_no_negative_store_stops_at_zero(tee, store_a):
    store_a.allows_negative_stock = False
    store_a.save()
    stock_receive(location=store_a, variant=tee, quantity=1, actor=None)
    stock_sell(
        location=store_a, lines=[SellLine(tee, 3)], actor=None, reference_type="s", reference_id="1"
    )
    assert level(store_a, tee) == (0, 0)
    assert Discrepancy.objects.get().quantity_short == 2
    assert ledger_sum(store_a, tee) == (0, 0)


def test_device_sells_only_at_its_own_location(tee, store_a, store_b):
    from tests.factories import pos_device

    device_b = pos_device(store_b, name="Till B")[0]
    stock_receive(location=store_a, variant=tee, quantity=2, actor=None)
    before = snapshot()
    with pytest.raises(ForbiddenLocation):
        stock_sell(
            location=store_a,
            lines=[SellLine(tee, 1)],
            actor=device_b,
            reference_type="sale",
            reference_id="x",
        )
    assert snapshot() == before


def test_inactive_variant_still_sells(store_a):
    variant = VariantFactory(sku="OLD-1", active=False)
    stock_sell(
        location=store_a,
        lines=[SellLine(variant, 1)],
        actor=None,
        reference_type="sale",
        reference_id="1",
    )
    assert level(store_a, variant) == (-1, 0)


def test_restock_and_damaged_return(tee, store_a):
    stock_receive(location=store_a, variant=tee, quantity=2, actor=None)
    stock_restock(
        location=store_a, lines=[SellLine(tee, 1)], actor=None, reference_type="r", reference_id="1"
    )
    assert level(store_a, tee) == (3, 0)
    stock_restock(
        location=store_a,
        lines=[SellLine(tee, 2)],
        actor=None,
        reference_type="return",
        reference_id="R2",
        damaged=True,
    )
    assert level(store_a, tee) == (3, 0)
    assert list(
        Movement.objects.filter(reference_id="R2")
        .order_by("id")
        .values_list("reason", "delta_on_hand")
    ) == [("return", 2), ("write_off", -2)]
    assert ledger_sum(store_a, tee) == (3, 0)


def test_system_actor_and_ledger_actor_pass_scope(tee, store_a):
    stock_receive(location=store_a, variant=tee, quantity=1, actor=Actor())
    stock_adjust(location=store_a, variant=tee, delta=4, actor=Actor(user_id=None))
    assert level(store_a, tee) == (5, 0)


def test_receive_expiry_lot_for_non_lot_variant_is_refused(tee, store_a):
    with pytest.raises(ValidationFailed) as caught:
        stock_receive(
            location=store_a,
            variant=tee,
            quantity=1,
            lot_code="L1",
            expires_on=date(2027, 1, 1),
            actor=None,
        )
    assert caught.value.errors[0]["field"] == "lot_code"
    assert not StockLevel.objects.exists()
    assert Variant.objects.count() == 1


def test_a_sale_is_a_constant_handful_of_queries(tee, store_a, django_assert_max_num_queries):
    """The hot path: the level UPDATE carries the rule; then stream, event, seq, ledger
    (one statement on PostgreSQL). Savepoints of the test transaction included."""
    stock_receive(location=store_a, variant=tee, quantity=5, actor=None)
    with django_assert_max_num_queries(7):
        stock_sell(
            location=store_a,
            lines=[SellLine(tee, 1)],
            actor=None,
            reference_type="sale",
            reference_id="Q",
        )
    assert level(store_a, tee) == (4, 0)
    assert ledger_sum(store_a, tee) == (4, 0)


def test_refused_change_inside_a_callers_transaction_leaves_no_trace(tee, store_a):
    """A caller may catch InsufficientStock from stock_apply and go on in the same
    transaction (e.g. to list alternatives): the fast path's attempt must be undone."""
    stock_receive(location=store_a, variant=tee, quantity=1, actor=None)
    other = VariantFactory(sku="OTHER-1")
    stock_receive(location=store_a, variant=other, quantity=5, actor=None)
    before = snapshot()
    with transaction.atomic(), pytest.raises(InsufficientStock):
        stock_apply(
            changes=[
                StockChange(other.pk, store_a.pk, Reason.RESERVATION, reserved=2),
                StockChange(tee.pk, store_a.pk, Reason.RESERVATION, reserved=2),
            ],
            actor=Actor(),
        )
    assert snapshot() == before


def test_the_ledger_refuses_a_change_beyond_the_quantity_bound(tee, store_a):
    stock_receive(location=store_a, variant=tee, quantity=5, actor=None)
    before = snapshot()
    for on_hand, reserved in ((1_000_001, 0), (-(10**11), 0), (0, 10**11)):
        change = StockChange(
            tee.pk, store_a.pk, Reason.ADJUSTMENT, on_hand=on_hand, reserved=reserved
        )
        with pytest.raises(ValidationFailed) as caught, transaction.atomic():
            stock_apply(changes=[change], actor=Actor())
        assert "at most 1,000,000 units" in caught.value.detail
    assert snapshot() == before
    stock_adjust(location=store_a, variant=tee, delta=1_000_000, actor=None)
    assert level(store_a, tee) == (1_000_005, 0)
