import datetime

import pytest

from apps.inventory.selectors import movements_for, stock_for_variant, stock_levels_at
from apps.inventory.services import stock_receive, stock_reorder_point_set
from apps.stores.selectors import location_list_visible
from tests.factories import BarcodeFactory, ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stock(store_a, store_b):
    tee = VariantFactory(sku="TEE-M", product=ProductFactory(name="Linen tee"))
    cap = VariantFactory(sku="CAP-1", product=ProductFactory(name="Wool cap"))
    BarcodeFactory(variant=cap, code="3001")
    for variant, quantity in ((tee, 5), (cap, 1)):
        stock_receive(location=store_a, variant=variant, quantity=quantity, actor=None)
    stock_receive(location=store_b, variant=tee, quantity=2, actor=None, reference_id="PO-9")
    stock_reorder_point_set(location=store_a, variant=cap, reorder_point=2, actor=None)
    return tee, cap


def test_levels_at_a_location_with_search_and_low_filter(stock, store_a, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = [(r.sku, r.product_name, r.on_hand, r.available) for r in stock_levels_at(store_a)]
    assert rows == [("CAP-1", "Wool cap", 1, 1), ("TEE-M", "Linen tee", 5, 5)]
    assert [r.sku for r in stock_levels_at(store_a, search="linen")] == ["TEE-M"]
    assert [r.sku for r in stock_levels_at(store_a, search="tee-")] == ["TEE-M"]
    assert [r.sku for r in stock_levels_at(store_a, search="3001")] == ["CAP-1"]
    assert [r.sku for r in stock_levels_at(store_a, low_only=True)] == ["CAP-1"]


def test_variant_across_visible_locations_only(stock, manager_a, hq_admin):
    tee, _ = stock
    mine = stock_for_variant(tee, location_list_visible(manager_a))
    assert [(r.location.code, r.on_hand) for r in mine] == [("SA1", 5)]
    every = stock_for_variant(tee, location_list_visible(hq_admin))
    assert [(r.location.code, r.on_hand) for r in every] == [("SA1", 5), ("SB1", 2)]


def test_movements_with_filters_scoped_by_role(
    stock, store_b, manager_a, hq_admin, django_assert_num_queries
):
    tee, _ = stock
    visible = location_list_visible(manager_a)
    with django_assert_num_queries(1):
        rows = [(m.location.code, m.variant.sku) for m in movements_for(visible_locations=visible)]
    assert sorted(rows) == [("SA1", "CAP-1"), ("SA1", "TEE-M")]
    everything = location_list_visible(hq_admin)
    assert movements_for(visible_locations=everything, variant=tee).count() == 2
    assert movements_for(visible_locations=everything, location=store_b).count() == 1
    assert movements_for(visible_locations=everything, reference_id="PO-9").count() == 1
    assert movements_for(visible_locations=everything, reason="sale").count() == 0
    today = datetime.date.today()
    assert movements_for(visible_locations=everything, date_from=today).count() == 3
    assert (
        movements_for(
            visible_locations=everything, date_to=today - datetime.timedelta(days=1)
        ).count()
        == 0
    )
    # A manager of store A asking for store B's rows gets none.
    assert movements_for(visible_locations=visible, location=store_b).count() == 0
