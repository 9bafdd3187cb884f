import pytest
from django.db import transaction

from apps.catalog.models import Product, Variant
from apps.core.errors import InsufficientStock, NotFound
from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from apps.inventory.models import Movement, StockLevel

pytestmark = pytest.mark.django_db


@pytest.fixture
def variant(db):
    product = Product.objects.create(handle="tee", name="Tee")
    return Variant.objects.create(product=product, sku="TEE-M", price="10.00")


def apply(*changes, allow_short=False):
    with transaction.atomic():
        return stock_apply(changes=list(changes), actor=Actor(), allow_short=allow_short)


def test_receipt_updates_level_ledger_and_stream(variant, store_a):
    result = apply(StockChange(variant.pk, store_a.pk, Reason.RECEIPT, on_hand=5))
    level = StockLevel.objects.get(variant=variant, location=store_a)
    assert (level.on_hand, level.reserved, level.available, level.seq) == (5, 0, 5, 1)
    assert [(m.delta_on_hand, m.on_hand_after, m.seq) for m in Movement.objects.all()] == [
        (5, 5, 1)
    ]
    assert result.shortfalls == []


def test_reservation_beyond_available_changes_nothing(variant, store_a):
    apply(StockChange(variant.pk, store_a.pk, Reason.RECEIPT, on_hand=2))
    with pytest.raises(InsufficientStock):
        apply(StockChange(variant.pk, store_a.pk, Reason.RESERVATION, reserved=3))
    level = StockLevel.objects.get()
    assert (level.on_hand, level.reserved) == (2, 0)
    assert Movement.objects.count() == 1


def test_short_pos_sale_is_recorded_and_reported(variant, store_a):
    apply(StockChange(variant.pk, store_a.pk, Reason.RECEIPT, on_hand=1))
    result = apply(StockChange(variant.pk, store_a.pk, Reason.SALE, on_hand=-3), allow_short=True)
    assert StockLevel.objects.get().on_hand == -2
    assert [s.quantity_short for s in result.shortfalls] == [2]


def test_no_negative_location_caps_on_hand_at_zero_and_ledger_still_sums(variant, store_a):
    store_a.allows_negative_stock = False
    store_a.save()
    apply(StockChange(variant.pk, store_a.pk, Reason.RECEIPT, on_hand=1))
    result = apply(StockChange(variant.pk, store_a.pk, Reason.SALE, on_hand=-3), allow_short=True)
    level = StockLevel.objects.get()
    assert level.on_hand == 0
    assert sum(Movement.objects.values_list("delta_on_hand", flat=True)) == 0
    assert [s.quantity_short for s in result.shortfalls] == [2]


def test_short_sale_raises_a_discrepancy_with_its_reference(variant, store_a):
    from apps.inventory.models import Discrepancy

    with transaction.atomic():
        stock_apply(
            changes=[StockChange(variant.pk, store_a.pk, Reason.SALE, on_hand=-2)],
            actor=Actor(),
            reference_type="sale",
            reference_id="SA1-000001",
            allow_short=True,
        )
    discrepancy = Discrepancy.objects.get()
    assert (discrepancy.quantity_short, discrepancy.reference_id) == (2, "SA1-000001")
    assert discrepancy.status == "open"


def test_no_negative_sale_of_reserved_units_cuts_reserved_and_raises_a_discrepancy(
    variant, store_a
):
    from apps.inventory.models import Discrepancy

    store_a.allows_negative_stock = False
    store_a.save()
    apply(StockChange(variant.pk, store_a.pk, Reason.RECEIPT, on_hand=2))
    apply(StockChange(variant.pk, store_a.pk, Reason.RESERVATION, reserved=2))
    with transaction.atomic():
        result = stock_apply(
            changes=[StockChange(variant.pk, store_a.pk, Reason.SALE, on_hand=-1)],
            actor=Actor(),
            reference_type="sale",
            reference_id="SA1-000002",
            allow_short=True,
        )
    level = StockLevel.objects.get()
    assert (level.on_hand, level.reserved) == (1, 1)
    sale = Movement.objects.get(reason=Reason.SALE)
    assert (sale.delta_on_hand, sale.delta_reserved, sale.on_hand_after, sale.reserved_after) == (
        -1,
        -1,
        1,
        1,
    )
    assert sum(Movement.objects.values_list("delta_on_hand", flat=True)) == 1
    assert sum(Movement.objects.values_list("delta_reserved", flat=True)) == 1
    assert [s.quantity_short for s in result.shortfalls] == [1]
    discrepancy = Discrepancy.objects.get()
    assert (discrepancy.quantity_short, discrepancy.reference_type, discrepancy.reference_id) == (
        1,
        "sale",
        "SA1-000002",
    )


def test_unknown_location_is_refused_and_nothing_is_written(variant, store_a):
    # No foreign key constraint on the level's location: stock_apply refuses it itself.
    apply(StockChange(variant.pk, store_a.pk, Reason.RECEIPT, on_hand=2))
    with transaction.atomic():
        with pytest.raises(NotFound, match=r"^No location with id 1000000000: "):
            stock_apply(
                changes=[
                    StockChange(variant.pk, store_a.pk, Reason.RECEIPT, on_hand=1),
                    StockChange(variant.pk, 10**9, Reason.RECEIPT, on_hand=1),
                ],
                actor=Actor(),
            )
        assert list(StockLevel.objects.values_list("location_id", "on_hand")) == [(store_a.pk, 2)]
        assert Movement.objects.count() == 1
