"""Low-stock alerts: one per level while low, evaluated after commit, resolved on recovery."""

import pytest

from apps.core.errors import NotFound, PermissionDenied, ValidationFailed
from apps.inventory import tasks
from apps.inventory.models import StockAlert, StockLevel
from apps.inventory.selectors import alerts_open_for
from apps.inventory.services import (
    SellLine,
    stock_receive,
    stock_reorder_point_set,
    stock_reserve,
    stock_sell,
)
from tests.factories import VariantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tee(store_a, manager_a):
    variant = VariantFactory(sku="TEE-M")
    stock_receive(location=store_a, variant=variant, quantity=10, actor=None)
    stock_reorder_point_set(location=store_a, variant=variant, reorder_point=3, actor=manager_a)
    return variant


def sell(location, variant, quantity, captured):
    with captured(execute=True) as callbacks:
        stock_sell(
            location=location,
            lines=[SellLine(variant, quantity)],
            actor=None,
            reference_type="sale",
            reference_id="x",
        )
    return callbacks


def test_one_alert_when_falling_to_the_reorder_point_not_one_per_sale(
    tee, store_a, django_capture_on_commit_callbacks, monkeypatch
):
    enqueued = []
    original = tasks.stock_alerts_evaluate.delay
    monkeypatch.setattr(
        tasks.stock_alerts_evaluate,
        "delay",
        lambda ids: (enqueued.append(list(ids)), original(ids)),
    )
    sell(store_a, tee, 5, django_capture_on_commit_callbacks)  # 10 -> 5: above, nothing
    assert enqueued == []
    sell(store_a, tee, 2, django_capture_on_commit_callbacks)  # 5 -> 3: crossed
    level = StockLevel.objects.get()
    assert enqueued == [[level.pk]]
    alert = StockAlert.objects.get()
    assert (alert.status, alert.available_when_raised, alert.reorder_point) == ("open", 3, 3)
    sell(store_a, tee, 1, django_capture_on_commit_callbacks)  # 3 -> 2: still low
    sell(store_a, tee, 1, django_capture_on_commit_callbacks)
    assert len(enqueued) == 1
    assert StockAlert.objects.count() == 1


def test_recovery_resolves_and_a_new_fall_opens_a_new_alert(
    tee, store_a, django_capture_on_commit_callbacks
):
    sell(store_a, tee, 8, django_capture_on_commit_callbacks)
    assert StockAlert.objects.get().status == "open"
    with django_capture_on_commit_callbacks(execute=True):
        stock_receive(location=store_a, variant=tee, quantity=5, actor=None)
    assert StockAlert.objects.get().status == "resolved"
    assert StockAlert.objects.get().resolved_at is not None
    sell(store_a, tee, 4, django_capture_on_commit_callbacks)
    assert list(StockAlert.objects.order_by("id").values_list("status", flat=True)) == [
        "resolved",
        "open",
    ]


def test_reservation_counts_because_alerts_follow_available(
    tee, store_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        stock_reserve(
            location=store_a, lines=[(tee, 7)], actor=None, reference_type="o", reference_id="1"
        )
    assert StockAlert.objects.get().available_when_raised == 3


def test_task_is_safe_to_run_twice(tee, store_a):
    StockLevel.objects.filter().update(reorder_point=20)
    level = StockLevel.objects.get()
    assert tasks.stock_alerts_evaluate(level_ids=[level.pk]) == (1, 0)
    assert tasks.stock_alerts_evaluate(level_ids=[level.pk]) == (0, 0)
    assert StockAlert.objects.count() == 1


def test_reorder_point_set_opens_the_alert_at_once(store_a, manager_a):
    variant = VariantFactory(sku="X-1")
    stock_receive(location=store_a, variant=variant, quantity=2, actor=None)
    stock_reorder_point_set(location=store_a, variant=variant, reorder_point=5, actor=manager_a)
    assert StockAlert.objects.get().status == "open"
    stock_reorder_point_set(location=store_a, variant=variant, reorder_point=0, actor=manager_a)
    assert StockAlert.objects.get().status == "resolved"


def test_reorder_point_refusals_change_nothing(tee, store_a, manager_b, associate_a):
    with pytest.raises(NotFound):
        stock_reorder_point_set(location=store_a, variant=tee, reorder_point=9, actor=manager_b)
    with pytest.raises(PermissionDenied):
        stock_reorder_point_set(location=store_a, variant=tee, reorder_point=9, actor=associate_a)
    with pytest.raises(ValidationFailed):
        stock_reorder_point_set(location=store_a, variant=tee, reorder_point=-1, actor=None)
    assert StockLevel.objects.get().reorder_point == 3


def test_inbox_shows_open_alerts_of_visible_locations_only(
    tee,
    store_a,
    store_b,
    manager_a,
    manager_b,
    hq_admin,
    django_capture_on_commit_callbacks,
    django_assert_num_queries,
):
    other = VariantFactory(sku="OTHER")
    stock_receive(location=store_b, variant=other, quantity=1, actor=None)
    stock_reorder_point_set(location=store_b, variant=other, reorder_point=2, actor=hq_admin)
    sell(store_a, tee, 9, django_capture_on_commit_callbacks)
    assert [a.level.variant.sku for a in alerts_open_for(manager_a)] == ["TEE-M"]
    assert [a.level.variant.sku for a in alerts_open_for(manager_b)] == ["OTHER"]
    with django_assert_num_queries(1):
        rows = [(a.level.location.code, a.level.variant.sku) for a in alerts_open_for(hq_admin)]
    assert rows == [("SA1", "TEE-M"), ("SB1", "OTHER")]
