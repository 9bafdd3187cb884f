import csv
import html
import io
import re
from urllib.parse import parse_qsl

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from django.db import transaction
from django.urls import path, reverse
from openpyxl import load_workbook

from apps.core.errors import NotFound
from apps.inventory.consumers import BackofficeStockConsumer
from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from apps.inventory.models import (
    Movement,
    StockAlert,
    StockLevel,
    Stocktake,
    StocktakeLine,
    Transfer,
)
from apps.inventory.services import stock_adjust
from apps.inventory.stocktakes import stocktake_count, stocktake_start
from apps.inventory.transfers import LineInput, transfer_create, transfer_ship
from tests.asgi import WebsocketCommunicator
from tests.factories import BarcodeFactory, LocationFactory, VariantFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def apply(variant, location, quantity, reason=Reason.RECEIPT, note=""):
    with transaction.atomic():
        stock_apply(
            changes=[StockChange(variant.pk, location.pk, reason, on_hand=quantity, note=note)],
            actor=Actor(),
        )


def skus(response):
    return re.findall(r'<tr data-sku="([^"]+)"', response.content.decode())


def levels():
    return sorted(StockLevel.objects.values_list("location__code", "variant__sku", "on_hand"))


def stock_state():
    return (
        levels(),
        Movement.objects.count(),
        list(Transfer.objects.values_list("status", flat=True)),
        list(Stocktake.objects.values_list("status", flat=True)),
        list(StocktakeLine.objects.values_list("counted", flat=True)),
    )


@pytest.fixture
def tee(store_a):
    variant = VariantFactory(sku="TEE-M", product__name="Tee")
    BarcodeFactory(variant=variant, code="4006381333931")
    apply(variant, store_a, 12)
    return variant


@pytest.fixture
def client_a(client, manager_a):
    client.force_login(manager_a)
    return client


# --- stock list ---------------------------------------------------------------------


def test_stock_list_shows_levels_and_searches_by_sku_barcode_and_name(client_a, store_a, tee):
    cap = VariantFactory(sku="CAP-1", product__name="Cap")
    apply(cap, store_a, 3)
    response = client_a.get(reverse("stock:index"))
    assert response.status_code == 200
    rows = [(lv.variant.sku, lv.on_hand) for lv in response.context["page"].levels]
    assert rows == [("CAP-1", 3), ("TEE-M", 12)]
    for query in ("4006381333931", "tee-m", "Tee"):
        response = client_a.get(reverse("stock:index"), {"q": query}, **HTMX)
        assert skus(response) == ["TEE-M"]
        assert b"<html" not in response.content  # the fragment only


def test_an_exact_sku_or_barcode_wins_over_contains(client_a, store_a, tee):
    apply(VariantFactory(sku="TEE-ML"), store_a, 1)
    response = client_a.get(reverse("stock:index"), {"q": "TEE-M"}, **HTMX)
    assert skus(response) == ["TEE-M"]
    response = client_a.get(reverse("stock:index"), {"q": "tee-m"}, **HTMX)
    assert skus(response) == ["TEE-M", "TEE-ML"]


@pytest.mark.parametrize("query", ["tee", "TEE-", "linen", "blue", "4006381333931"])
def test_the_search_finds_what_a_plain_reading_of_the_catalog_finds(client_a, store_a, tee, query):
    """The screen's search (one UNION returning SKUs) and the selector find the levels
    here whose SKU or barcode is the query, else whose SKU, variant name or product name
    contains it, in SKU order: checked against a plain Python reading of the catalog."""
    from apps.inventory import selectors

    apply(VariantFactory(sku="TEE-L", product__name="Linen shirt"), store_a, 2)
    apply(VariantFactory(sku="CAP-9", name="Blue tee cap", product__name="Cap"), store_a, 4)
    VariantFactory(sku="TEE-XL")  # no level at this location
    here = [
        level.variant
        for level in StockLevel.objects.filter(location=store_a).select_related("variant__product")
    ]
    exact = [v for v in here if v.sku == query or v.barcodes.filter(code=query).exists()]
    text = query.lower()
    contains = [
        v for v in here if any(text in f.lower() for f in (v.sku, v.name or "", v.product.name))
    ]
    expected = sorted(v.sku for v in (exact or contains))
    screen = client_a.get(reverse("stock:index"), {"q": query})
    selected = [level.sku for level in selectors.stock_levels_at(store_a, search=query)]
    assert skus(screen) == selected == expected and expected
    assert screen.context["page"].count == len(expected)


def test_a_search_pages_in_sku_order_with_its_count(client_a, store_a, tee):
    """A search's matching levels are read once as ids in SKU order; the count is their
    number and each page a slice of them, the same as paging the unfiltered list."""
    for index in reversed(range(55)):
        apply(VariantFactory(sku=f"ZED-{index:03d}"), store_a, 1)
    first = client_a.get(reverse("stock:index"), {"q": "zed"})
    second = client_a.get(reverse("stock:index"), {"q": "zed", "page": "2"})
    fragment = client_a.get(reverse("stock:index"), {"q": "zed", "page": "2"}, **HTMX)
    assert skus(first) == [f"ZED-{index:03d}" for index in range(50)]
    assert skus(second) == skus(fragment) == [f"ZED-{index:03d}" for index in range(50, 55)]
    assert first.context["page"].count == 55
    assert second.context["page"].num_pages == 2


def test_a_search_page_query_count_does_not_grow_with_matches(
    client_a, store_a, tee, django_assert_num_queries
):
    """Session, user, locations, the exact lookup, the matches in SKU order, the page's
    levels, may-manage: the same on every page whatever the number of matches."""
    apply(VariantFactory(sku="ZED-000"), store_a, 1)
    with django_assert_num_queries(7) as few:
        client_a.get(reverse("stock:index"), {"q": "zed"}, **HTMX)
    for index in range(1, 80):
        apply(VariantFactory(sku=f"ZED-{index:03d}"), store_a, 1)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client_a.get(reverse("stock:index"), {"q": "zed", "after": "ZED-049"}, **HTMX)
    assert len(skus(response)) == 30


def test_low_filter_lists_only_levels_at_or_below_their_reorder_point(client_a, store_a, tee):
    cap = VariantFactory(sku="CAP-1")
    apply(cap, store_a, 2)
    StockLevel.objects.filter(variant=cap).update(reorder_point=2)
    StockLevel.objects.filter(variant=tee).update(reorder_point=5)
    response = client_a.get(reverse("stock:index"), {"low": "1"})
    assert [lv.variant.sku for lv in response.context["page"].levels] == ["CAP-1"]


def test_stock_list_query_count_does_not_grow_with_rows(
    client_a, store_a, django_assert_num_queries
):
    def variants(count, offset):
        for index in range(count):
            apply(VariantFactory(sku=f"V{offset + index:04d}"), store_a, 1)

    variants(2, 0)
    with django_assert_num_queries(7) as few:
        client_a.get(reverse("stock:index"))
    variants(30, 100)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client_a.get(reverse("stock:index"))
    assert len(response.context["page"].levels) == 32


def test_stock_pages_list_every_level_once_in_sku_order(client_a, store_a, store_b):
    """A page's levels are picked by a narrow subquery (variant ids in SKU order at
    this location) and then joined: pages still cover every level once, in order."""
    expected = []
    for index in range(57):
        variant = VariantFactory(sku=f"P{(index * 37) % 101:03d}")
        apply(variant, store_a, 1 + index % 3)
        apply(variant, store_b, 1)
        expected.append(variant.sku)
    apply(VariantFactory(sku="P000-ONLY-B"), store_b, 1)
    StockLevel.objects.filter(location=store_a, on_hand=1).update(reorder_point=1)
    pages = [client_a.get(reverse("stock:index"), {"page": n}) for n in (1, 2, 3)]
    listed = [[lv.variant.sku for lv in p.context["page"].levels] for p in pages]
    assert listed[0] + listed[1] == sorted(expected) and len(listed[0]) == 50
    assert listed[2] == listed[1]  # past the end: the last page
    low = client_a.get(reverse("stock:index"), {"low": "1"}).context["page"]
    assert [lv.variant.sku for lv in low.levels] == sorted(expected[::3])
    assert low.count == len(expected[::3])


def next_link(response, testid="next-page"):
    """The href of a pager link, unescaped, as the browser would follow it."""
    found = re.search(rf'<a href="\?([^"]*)"[^>]*data-testid="{testid}"', response.content.decode())
    return found and dict(parse_qsl(html.unescape(found.group(1))))


def test_next_and_previous_links_walk_every_level_once_by_sku(
    client_a, store_a, store_b, django_assert_num_queries
):
    """Next / previous carry the SKU at the page's edge (keyset paging): following them
    lists every level at the location once, in SKU order, in the same number of queries
    on every page, with the page number and the count shown."""
    expected = []
    for index in range(123):
        variant = VariantFactory(sku=f"K{(index * 37) % 1009:04d}")
        apply(variant, store_a, 1)
        apply(variant, store_b, 1)
        expected.append(variant.sku)
    apply(VariantFactory(sku="K0000-ONLY-B"), store_b, 1)
    with django_assert_num_queries(7) as first_queries:
        client_a.get(reverse("stock:index"))
    seen, params, statuses = [], {}, []
    while True:
        with django_assert_num_queries(len(first_queries.captured_queries)):
            response = client_a.get(reverse("stock:index"), params)
        page = response.context["page"]
        seen.append(skus(response))
        statuses.append(
            re.search(r'data-testid="page-status">([^<]*)<', response.content.decode())[1]
        )
        params = next_link(response)
        if not params:
            break
    assert [sku for rows in seen for sku in rows] == sorted(expected)
    assert [len(rows) for rows in seen] == [50, 50, 23]
    assert statuses == [f"Page {n} of 3 · 123 SKUs" for n in (1, 2, 3)]
    assert not page.has_next and page.has_previous
    back = client_a.get(reverse("stock:index"), next_link(response, "previous-page"))
    assert skus(back) == seen[1] and back.context["page"].number == 2
    first = client_a.get(reverse("stock:index"), next_link(back, "previous-page"))
    assert skus(first) == seen[0] and not first.context["page"].has_previous
    assert first.context["page"].number == 1


def test_keyset_pages_keep_the_search_and_the_low_filter(client_a, store_a, tee):
    for index in range(60):
        variant = VariantFactory(sku=f"ZED-{index:03d}")
        apply(variant, store_a, 1 + index % 2)
    StockLevel.objects.filter(location=store_a, on_hand=1).update(reorder_point=1)
    first = client_a.get(reverse("stock:index"), {"q": "zed", "low": "1"})
    assert skus(first) == [f"ZED-{index:03d}" for index in range(0, 60, 2)]
    assert first.context["page"].count == 30 and not first.context["page"].has_next
    first = client_a.get(reverse("stock:index"), {"q": "zed"})
    params = next_link(first)
    assert params == {"q": "zed", "after": "ZED-049", "page": "2"}
    second = client_a.get(reverse("stock:index"), params)
    assert skus(second) == [f"ZED-{index:03d}" for index in range(50, 60)]
    assert second.context["page"].number == 2 and second.context["page"].count == 60
    low = client_a.get(reverse("stock:index"), {"low": "1", "after": "ZED-010", "page": "2"})
    assert skus(low) == [f"ZED-{index:03d}" for index in range(12, 60, 2)]
    assert next_link(low, "first-page") == {"low": "1"}


@pytest.mark.parametrize("search", ["", "zed"])
def test_stale_or_odd_cursors_show_a_real_page(client_a, store_a, search):
    """A cursor whose SKU is gone, past the end, before the start or not a SKU at all
    still shows levels (the last or the first page), never an empty table or an error."""
    for index in range(55):
        apply(VariantFactory(sku=f"ZED-{index:03d}"), store_a, 1)
    every = [f"ZED-{index:03d}" for index in range(55)]
    cases = [
        ({"after": "ZZZ"}, every[5:] if not search else every[:50]),
        ({"before": "A"}, every[:50]),
        ({"after": "ZED-052", "page": "999"}, every[53:]),
        ({"before": "ZED-003", "page": "7"}, every[:50]),
        ({"after": "'; DROP TABLE x; --", "page": "-1"}, every[:50]),
        ({"before": "é" * 300}, every[:50] if search else every[5:]),
    ]
    for params, expected in cases:
        response = client_a.get(reverse("stock:index"), {"q": search, **params})
        assert response.status_code == 200
        assert skus(response) == expected, params
        assert 1 <= response.context["page"].number <= 2


def test_other_stores_stock_page_is_404(client_a, store_b):
    assert client_a.get(reverse("stock:location", args=["SB1"])).status_code == 404
    assert client_a.get(reverse("stock:location", args=["NOPE"])).status_code == 404


def test_variant_page_shows_every_visible_location_with_in_transit(
    client, hq_admin, store_a, store_b, tee
):
    transfer = transfer_create(
        source=store_a,
        destination=store_b,
        lines=[LineInput(code="TEE-M", quantity=5)],
        actor=hq_admin,
    )
    transfer_ship(transfer=transfer, actor=hq_admin)
    client.force_login(hq_admin)
    response = client.get(reverse("stock:variant", args=["TEE-M"]))
    rows = [
        (r["location"].code, r["level"].on_hand if r["level"] else 0, r["in_transit"])
        for r in response.context["rows"]
    ]
    assert rows == [("SA1", 7, 0), ("SB1", 0, 5)]
    assert response.context["totals"]["in_transit"] == 5


# --- movements ----------------------------------------------------------------------


def test_movements_filter_and_csv_export_escapes_formulas(client_a, store_a, store_b, tee):
    apply(tee, store_a, -2, reason=Reason.ADJUSTMENT, note='=HYPERLINK("http://x")')
    apply(tee, store_b, 4)  # not visible to manager A
    response = client_a.get(reverse("stock:movements"), {"reason": "adjustment"})
    assert [m.delta_on_hand for m in response.context["page"].object_list] == [-2]

    response = client_a.get(reverse("stock:movements"), {"sku": "TEE-M", "export": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:5] == ["time", "location", "sku", "reason", "on_hand_change"]
    body = [(r[1], r[3], r[4], r[13]) for r in rows[1:]]
    assert body == [
        ("SA1", "adjustment", "-2", '\'=HYPERLINK("http://x")'),
        ("SA1", "receipt", "12", ""),
    ]


@pytest.mark.parametrize(
    ("params", "error_field"),
    [
        ({"page": "99999999999999999999"}, None),
        ({"page": "-5"}, None),
        ({"page": "abc"}, None),
        ({"page": "1e9"}, None),
        ({"date_from": "2026-13-45"}, "date_from"),
        ({"date_to": "9999-12-31"}, "date_to"),
        ({"date_from": "0001-01-01"}, "date_from"),
        ({"date_from": "2026-05-02", "date_to": "2026-05-01"}, "date_to"),
        ({"reason": "theft"}, "reason"),
        ({"location": "SB1"}, "location"),
        ({"location": "NOPE"}, "location"),
        ({"sku": "NOPE"}, None),
        ({"sku": "x" * 500}, "sku"),
    ],
)
def test_bad_movement_parameters_never_fail(client_a, store_a, store_b, tee, params, error_field):
    apply(tee, store_b, 3)  # a row the manager of A must never see
    response = client_a.get(reverse("stock:movements"), params)
    assert response.status_code == 200
    page = response.context["page"]
    assert 1 <= page.number <= 10**6
    assert {m.location_id for m in page.object_list} <= {store_a.pk}
    form = response.context["form"]
    if error_field:
        assert list(form.errors) == [error_field]
        assert response.context["page"].object_list  # unfiltered, still listed
    else:
        assert not form.errors


def test_movements_page_past_the_end_is_empty_not_an_error(client_a, store_a, tee):
    response = client_a.get(reverse("stock:movements"), {"page": "99999999999999999999"})
    assert response.status_code == 200
    assert response.context["page"].number == 10**6
    assert response.context["page"].object_list == []


def test_movements_xlsx_export(client_a, store_a, tee):
    response = client_a.get(reverse("stock:movements"), {"export": "xlsx"})
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[1][1:5] == ("SA1", "TEE-M", "receipt", 12)


def test_movement_list_query_count_is_constant(client_a, store_a, tee, django_assert_num_queries):
    with django_assert_num_queries(6) as few:
        client_a.get(reverse("stock:movements"))
    for _ in range(10):
        apply(tee, store_a, 1)
    with django_assert_num_queries(len(few.captured_queries)):
        client_a.get(reverse("stock:movements"))


# --- adjustments --------------------------------------------------------------------


def test_adjustment_form_shows_errors_inline_and_changes_nothing(client_a, store_a, tee):
    before = stock_state()
    url = reverse("stock:adjust")
    bad = [
        ({"code": "NOPE", "delta": "2"}, 400, "code"),
        ({"code": "TEE-M", "delta": "1.5"}, 400, "delta"),
        ({"code": "TEE-M", "delta": "0"}, 400, "delta"),
        ({"code": "TEE-M", "delta": "-13"}, 409, None),
        ({"code": "TEE-M", "delta": "1000001"}, 400, "delta"),
        ({"code": "TEE-M", "delta": "-99999999999"}, 400, "delta"),
    ]
    for fields, status, field in bad:
        data = {"location": "SA1", "reason": "adjustment", "note": "", **fields}
        response = client_a.post(url, data, **HTMX)
        assert response.status_code == status, fields
        marker = f'data-testid="error-{field}"' if field else 'data-testid="form-error"'
        assert marker.encode() in response.content, fields
    assert stock_state() == before

    response = client_a.post(
        url,
        {"location": "SA1", "code": "4006381333931", "delta": "-2", "reason": "write_off"},
        **HTMX,
    )
    assert response.status_code == 200
    assert b"on hand now 10" in response.content
    assert levels() == [("SA1", "TEE-M", 10)]
    assert Movement.objects.order_by("-pk").values_list("reason", flat=True)[0] == "write_off"


def test_adjusting_another_managers_store_changes_nothing(client, manager_b, store_a, tee):
    client.force_login(manager_b)
    before = stock_state()
    response = client.post(
        reverse("stock:adjust"),
        {"location": "SA1", "code": "TEE-M", "delta": "5", "reason": "adjustment"},
    )
    # The form refuses it first: SA1 is not even a choice for them.
    assert response.status_code == 400
    assert response.context["form"].errors == {
        "location": ["Select a valid choice. SA1 is not one of the available choices."]
    }
    assert b'data-testid="error-location"' in response.content
    assert stock_state() == before


def test_the_adjust_service_refuses_another_managers_store(manager_b, store_a, tee):
    """Behind the form, the service checks the scope itself: store A does not exist for
    store B's manager."""
    before = stock_state()
    with pytest.raises(NotFound):
        stock_adjust(location=store_a, variant=tee, delta=5, actor=manager_b)
    with pytest.raises(NotFound):
        stock_adjust(location=store_a, variant=tee, delta=-1, reason="write_off", actor=manager_b)
    assert stock_state() == before


# --- transfers ----------------------------------------------------------------------


@pytest.fixture
def warehouse(db):
    return LocationFactory(code="W01", name="Warehouse", kind="warehouse")


def test_transfer_screens_create_ship_receive_short(client, hq_admin, warehouse, store_a, tee):
    apply(tee, warehouse, 10)
    client.force_login(hq_admin)
    response = client.post(
        reverse("stock:transfer_new"),
        {"source": "W01", "destination": "SA1", "lines": "TEE-M 4\n"},
    )
    transfer = Transfer.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("stock:transfer", args=[transfer.pk])

    client.post(reverse("stock:transfer_action", args=[transfer.pk, "ship"]))
    line = transfer.lines.get()
    before = stock_state()
    for huge in ("1000001", "99999999999999999999"):
        response = client.post(
            reverse("stock:transfer_action", args=[transfer.pk, "receive"]),
            {f"count_{line.pk}": huge},
            **HTMX,
        )
        assert response.status_code == 400
        assert b"at most 1,000,000 units" in response.content
    assert stock_state() == before
    response = client.post(
        reverse("stock:transfer_action", args=[transfer.pk, "receive"]),
        {f"count_{line.pk}": "3"},
        **HTMX,
    )
    assert response.status_code == 200
    assert b"short -1" in response.content
    assert levels() == [("SA1", "TEE-M", 15), ("W01", "TEE-M", 6)]

    before = stock_state()
    response = client.post(
        reverse("stock:transfer_action", args=[transfer.pk, "receive"]),
        {f"count_{line.pk}": "3"},
        **HTMX,
    )
    assert response.status_code == 409
    assert b"received" in response.content
    assert stock_state() == before


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"destination": "W01", "lines": "TEE-M 1"}, "destination"),
        ({"destination": "SA1", "lines": "TEE-M 0"}, "lines"),
        ({"destination": "SA1", "lines": "TEE-M -1"}, "lines"),
        ({"destination": "SA1", "lines": "TEE-M 1.5"}, "lines"),
        ({"destination": "SA1", "lines": "NOPE 1"}, "lines"),
        ({"destination": "SA1", "lines": "   "}, "lines"),
        ({"destination": "SA1", "lines": "TEE-M 1000001"}, "lines"),
        ({"destination": "SA1", "lines": "TEE-M 99999999999999999999"}, "lines"),
    ],
)
def test_transfer_form_bad_input_is_400_inline(
    client, hq_admin, warehouse, store_a, tee, data, field
):
    client.force_login(hq_admin)
    response = client.post(reverse("stock:transfer_new"), {"source": "W01", **data}, **HTMX)
    assert response.status_code == 400
    assert f'data-testid="error-{field}"'.encode() in response.content
    assert Transfer.objects.count() == 0


def test_transfer_of_other_stores_is_404_and_changes_nothing(
    client, manager_b, hq_admin, warehouse, store_a, tee
):
    apply(tee, warehouse, 10)
    transfer = transfer_create(
        source=warehouse,
        destination=store_a,
        lines=[LineInput(code="TEE-M", quantity=2)],
        actor=hq_admin,
    )
    client.force_login(manager_b)
    before = stock_state()
    assert client.get(reverse("stock:transfer", args=[transfer.pk])).status_code == 404
    for action in ("ship", "cancel", "receive"):
        url = reverse("stock:transfer_action", args=[transfer.pk, action])
        assert client.post(url).status_code == 404
    assert stock_state() == before


def test_transfer_list_query_count_is_constant(
    client, hq_admin, warehouse, store_a, tee, django_assert_num_queries
):
    client.force_login(hq_admin)

    def make(count):
        for _ in range(count):
            transfer_create(
                source=store_a,
                destination=warehouse,
                lines=[LineInput(code="TEE-M", quantity=1)],
                actor=hq_admin,
            )

    make(1)
    with django_assert_num_queries(7) as few:
        client.get(reverse("stock:transfers"))
    make(10)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("stock:transfers"))


# --- stocktakes ---------------------------------------------------------------------


def test_stocktake_screens_start_scan_review_post(client_a, store_a, tee):
    response = client_a.post(reverse("stock:stocktake_new"), {"location": "SA1"})
    stocktake = Stocktake.objects.get()
    assert response["Location"] == reverse("stock:stocktake", args=[stocktake.pk])
    scan = reverse("stock:stocktake_scan", args=[stocktake.pk])
    for _ in range(3):
        response = client_a.post(scan, {"code": "4006381333931"}, **HTMX)
        assert response.status_code == 200
    assert b'data-field="counted">3<' in response.content

    before = stock_state()
    response = client_a.post(scan, {"code": "0000000000"}, **HTMX)
    assert response.status_code == 400
    assert b"No SKU or barcode" in response.content
    response = client_a.post(scan, {"code": "TEE-M", "quantity": "-1"}, **HTMX)
    assert response.status_code == 400
    for huge in ("1000001", "99999999999999999999"):
        response = client_a.post(scan, {"code": "TEE-M", "quantity": huge}, **HTMX)
        assert response.status_code == 400
        assert b"at most 1,000,000 units" in response.content
    assert stock_state() == before

    client_a.post(scan, {"code": "TEE-M", "quantity": "10"}, **HTMX)
    review = client_a.get(reverse("stock:stocktake_review", args=[stocktake.pk]))
    assert [(ln.expected, ln.counted, ln.difference) for ln in review.context["lines"]] == [
        (12, 10, -2)
    ]
    post = reverse("stock:stocktake_action", args=[stocktake.pk, "post"])
    assert client_a.post(post).status_code == 302
    assert levels() == [("SA1", "TEE-M", 10)]

    before = stock_state()
    response = client_a.post(post)
    assert response.status_code == 409
    assert stock_state() == before


def test_starting_a_second_stocktake_is_409(client_a, store_a, manager_a):
    stocktake_start(location=store_a, actor=manager_a)
    response = client_a.post(reverse("stock:stocktake_new"), {"location": "SA1"})
    assert response.status_code == 409
    assert Stocktake.objects.count() == 1


def test_stocktake_of_other_store_is_404_and_changes_nothing(
    client, manager_a, manager_b, store_a, tee
):
    stocktake = stocktake_start(location=store_a, actor=manager_a)
    stocktake_count(stocktake=stocktake, actor=manager_a, variant=tee, counted=1)
    client.force_login(manager_b)
    before = stock_state()
    assert client.get(reverse("stock:stocktake", args=[stocktake.pk])).status_code == 404
    scan = reverse("stock:stocktake_scan", args=[stocktake.pk])
    assert client.post(scan, {"code": "TEE-M"}).status_code == 404
    post = reverse("stock:stocktake_action", args=[stocktake.pk, "post"])
    assert client.post(post).status_code == 404
    assert client.post(reverse("stock:stocktake_new"), {"location": "SA1"}).status_code == 404
    assert stock_state() == before


def test_counter_query_count_is_constant(client_a, store_a, manager_a, django_assert_num_queries):
    stocktake = stocktake_start(location=store_a, actor=manager_a)
    url = reverse("stock:stocktake", args=[stocktake.pk])
    stocktake_count(stocktake=stocktake, actor=manager_a, variant=VariantFactory(), counted=1)
    with django_assert_num_queries(8) as few:
        client_a.get(url)
    for _ in range(10):
        stocktake_count(stocktake=stocktake, actor=manager_a, variant=VariantFactory(), counted=2)
    with django_assert_num_queries(len(few.captured_queries)):
        client_a.get(url)


# --- alerts -------------------------------------------------------------------------


def test_alerts_inbox_lists_open_alerts_of_visible_locations(client_a, store_a, store_b, tee):
    cap = VariantFactory(sku="CAP-1")
    apply(cap, store_b, 1)
    for variant, location in ((tee, store_a), (cap, store_b)):
        level = StockLevel.objects.get(variant=variant, location=location)
        StockAlert.objects.create(level=level, available_when_raised=1, reorder_point=20)
    response = client_a.get(reverse("stock:alerts"))
    assert [a.level.variant.sku for a in response.context["page"].object_list] == ["TEE-M"]


# --- websocket ----------------------------------------------------------------------


def _communicator(user, code, origin="http://testserver"):
    app = URLRouter([path("ws/backoffice/stock/<str:code>/", BackofficeStockConsumer.as_asgi())])
    headers = [(b"host", b"testserver")]
    if origin:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(app, f"/ws/backoffice/stock/{code}/", headers=headers)
    communicator.scope["user"] = user
    return communicator


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_consumer_forwards_stock_events_and_refuses_others(manager_a, store_a, store_b):
    for code, origin in (("SB1", "http://testserver"), ("SA1", "http://evil.example")):
        communicator = _communicator(manager_a, code, origin)
        await communicator.connect()
        output = await communicator.receive_output()
        assert output == {"type": "websocket.close", "code": 4403}
        await communicator.wait()

    communicator = _communicator(manager_a, "SA1")
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    variant = await database_sync_to_async(VariantFactory)(sku="LIVE-1")
    await database_sync_to_async(apply)(variant, store_a, 4)
    message = await communicator.receive_json_from(timeout=3)
    assert (message["type"], message["sku"], message["on_hand"]) == ("stock", "LIVE-1", 4)
    await communicator.disconnect()


def test_serial_tracked_goods_through_the_forms(client, hq_admin, warehouse, store_a):
    phone = VariantFactory(sku="PHONE", tracking="serial")
    client.force_login(hq_admin)
    response = client.post(
        reverse("stock:adjust"),
        {
            "location": "W01",
            "code": "PHONE",
            "delta": "2",
            "reason": "adjustment",
            "serials": "SN1, SN2",
        },
        **HTMX,
    )
    assert response.status_code == 200, response.content
    response = client.post(
        reverse("stock:transfer_new"),
        {"source": "W01", "destination": "SA1", "lines": "PHONE 2"},
        **HTMX,
    )
    assert response.status_code == 400
    assert b"serial" in response.content
    response = client.post(
        reverse("stock:transfer_new"),
        {"source": "W01", "destination": "SA1", "lines": "PHONE 2 SN1,SN2"},
    )
    assert response.status_code == 302
    assert Transfer.objects.get().lines.get().serials == ["SN1", "SN2"]
    assert StockLevel.objects.get(variant=phone, location=warehouse).on_hand == 2


def test_an_associate_sees_stock_but_changes_nothing(client, associate_a, store_a, tee):
    client.force_login(associate_a)
    assert client.get(reverse("stock:index")).status_code == 200
    before = stock_state()
    data = {"location": "SA1", "code": "TEE-M", "delta": "1", "reason": "adjustment"}
    assert client.post(reverse("stock:adjust"), data).status_code == 404
    assert client.get(reverse("stock:transfer_new")).status_code == 404
    response = client.post(reverse("stock:stocktake_new"), {"location": "SA1"})
    assert response.status_code == 403
    assert stock_state() == before


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_consumer_forwards_a_batched_layer_message_in_order(manager_a, store_a):
    from channels.layers import get_channel_layer

    from apps.core.events import location_stream, stream_group

    communicator = _communicator(manager_a, "SA1")
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    stream = location_stream("SA1")
    batch = [{"type": "stock", "seq": seq, "sku": "LIVE-1", "on_hand": seq} for seq in (1, 2, 3)]
    await get_channel_layer().group_send(
        stream_group(stream), {"type": "stream.events", "stream": stream, "messages": batch}
    )
    received = [await communicator.receive_json_from(timeout=3) for _ in batch]
    assert received == batch
    await communicator.disconnect()


def levels_here_and_elsewhere(store_a, store_b, count=123):
    """`count` levels at store_a among variants stocked only at store_b (which a typed
    page must skip), SKUs not in creation order. Returns store_a's SKUs, sorted."""
    expected = []
    for index in range(count):
        variant = VariantFactory(sku=f"T{(index * 37) % 1009:04d}")
        apply(variant, store_a, 1)
        expected.append(variant.sku)
        if index % 4 == 0:
            apply(VariantFactory(sku=f"T{(index * 37) % 1009:04d}-B"), store_b, 1)
    return sorted(expected)


def test_a_typed_page_is_the_page_next_links_reach(
    client_a, store_a, store_b, django_assert_num_queries
):
    """A typed ?page=N (a bookmark, an edited URL) shows the levels that following Next
    N - 1 times shows, in the same number of queries."""
    levels_here_and_elsewhere(store_a, store_b)
    by_next, params = [], {}
    with django_assert_num_queries(7) as first_queries:
        client_a.get(reverse("stock:index"))
    queries = len(first_queries.captured_queries)
    while params is not None:
        by_next.append(skus(client_a.get(reverse("stock:index"), params)))
        params = next_link(client_a.get(reverse("stock:index"), params))
    assert [len(rows) for rows in by_next] == [50, 50, 23]
    for number, rows in enumerate(by_next, start=1):
        with django_assert_num_queries(queries):
            typed = client_a.get(reverse("stock:index"), {"page": number})
        assert skus(typed) == rows and typed.context["page"].number == number


def test_typed_pages_walk_the_sku_index_as_offset_would_page(
    store_a, store_b, django_assert_num_queries
):
    """On PostgreSQL a typed page walks the SKU index from the nearer end; the portable
    OFFSET (SQLite) gives the same levels on every page, in as many queries."""
    from apps.inventory.selectors import stock_page_at

    expected = levels_here_and_elsewhere(store_a, store_b, count=40)
    pages = []
    for number in range(1, 8):  # 6 pages of 7, and past the end
        with django_assert_num_queries(2):
            fast = stock_page_at(store_a, number=number, page_size=7)
        with django_assert_num_queries(2):
            portable = stock_page_at(store_a, number=number, page_size=7, portable=True)
        assert [lv.sku for lv in fast.levels] == [lv.sku for lv in portable.levels]
        assert (fast.number, fast.has_next) == (portable.number, portable.has_next)
        pages.append([lv.sku for lv in fast.levels])
    assert [sku for rows in pages[:6] for sku in rows] == expected
    assert pages[6] == pages[5] == expected[35:]
