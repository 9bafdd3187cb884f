"""Catalog sync, SKU and barcode lookup (shared/pos-api.md, Catalog)."""

from decimal import Decimal

import pytest
from django.utils.dateparse import parse_datetime

from apps.catalog.models import Barcode, LocationPrice, Product, Variant
from tests.api.conftest import catalog_touch
from tests.factories import (
    BarcodeFactory,
    CategoryFactory,
    ProductFactory,
    VariantFactory,
)

pytestmark = pytest.mark.django_db

VARIANTS = "/api/v1/catalog/variants"


def _sync(client, **params):
    response = client.get(VARIANTS, params)
    assert response.status_code == 200, response.content
    return response.json()


def _sync_all(client, limit, cursor=None):
    """Follow next_cursor to the end; return (skus in order, pages, sync_cursor)."""
    skus, pages = [], 0
    params = {"limit": limit}
    if cursor:
        params["updated_after"] = cursor
    while True:
        body = _sync(client, **params)
        pages += 1
        skus += [row["sku"] for row in body["results"]]
        if body["next_cursor"] is None:
            return skus, pages, body["sync_cursor"]
        params = {"limit": limit, "cursor": body["next_cursor"]}


@pytest.fixture
def tee(db):
    category = CategoryFactory(name="Tops", path="Women > Tops")
    product = ProductFactory(handle="basic-tee", name="Basic tee", brand="Omo", category=category)
    variant = VariantFactory(
        product=product,
        sku="TEE-M-BLK",
        option1_name="Size",
        option1_value="M",
        option2_name="Colour",
        option2_value="Black",
        price="19.90",
        compare_at_price="24.90",
    )
    BarcodeFactory(variant=variant, code="0012345678905")
    BarcodeFactory(variant=variant, code="2000000000015")
    catalog_touch(variant)
    variant.refresh_from_db()
    return variant


def test_variant_json_is_exactly_the_contract(device_api, tee):
    body = _sync(device_api)
    assert body["next_cursor"] is None
    [row] = body["results"]
    assert set(row) == {
        "sku",
        "barcodes",
        "name",
        "product",
        "options",
        "price",
        "compare_at_price",
        "active",
        "tracking",
        "updated_at",
    }
    assert row["sku"] == "TEE-M-BLK"
    assert row["barcodes"] == ["0012345678905", "2000000000015"]
    assert row["name"] == "Basic tee - M / Black"
    assert row["product"] == {
        "handle": "basic-tee",
        "name": "Basic tee",
        "brand": "Omo",
        "category": "Women > Tops",
    }
    assert row["options"] == {"Size": "M", "Colour": "Black"}
    assert row["price"] == "19.90"
    assert row["compare_at_price"] == "24.90"
    assert row["active"] is True
    assert row["tracking"] == "none"
    assert parse_datetime(row["updated_at"]) == tee.updated_at


def test_product_without_category_and_variant_without_compare_price(device_api):
    VariantFactory(sku="PLAIN", product=ProductFactory(category=None), price="5.00")
    [row] = _sync(device_api)["results"]
    assert row["product"]["category"] is None
    assert row["compare_at_price"] is None
    assert row["barcodes"] == []


def test_price_is_the_location_price_for_a_device_and_the_base_price_for_an_integration(
    device_api, integration_api, store_a, store_b, tee
):
    LocationPrice.objects.create(variant=tee, location=store_a, price="17.50")
    LocationPrice.objects.create(variant=tee, location=store_b, price="15.00")
    assert _sync(device_api)["results"][0]["price"] == "17.50"
    assert device_api.get(f"{VARIANTS}/TEE-M-BLK").json()["price"] == "17.50"
    assert _sync(integration_api)["results"][0]["price"] == "19.90"


def test_full_paged_sync_returns_every_variant_once_in_change_order(device_api):
    variants = [VariantFactory(sku=f"V{i:03d}") for i in range(25)]
    # Changes in an order unlike the SKUs' or ids': the sync follows the change order.
    order = variants[10:] + variants[:10]
    for variant in order:
        catalog_touch(variant)
    skus, pages, _ = _sync_all(device_api, limit=7)
    assert skus == [v.sku for v in order]
    assert pages == 4


def test_delta_sync_returns_only_what_changed_after_the_cursor(device_api):
    variants = [VariantFactory(sku=f"D{i:02d}") for i in range(10)]
    catalog_touch(*variants)
    _, _, cursor = _sync_all(device_api, limit=4)
    assert _sync(device_api, updated_after=cursor)["results"] == []

    catalog_touch(variants[3])
    catalog_touch(variants[7], variants[1])
    body = _sync(device_api, updated_after=cursor)
    assert [row["sku"] for row in body["results"]] == ["D03", "D01", "D07"]
    assert body["next_cursor"] is None
    assert _sync(device_api, updated_after=body["sync_cursor"])["results"] == []


def test_a_change_committed_between_pages_is_not_skipped(device_api):
    variants = [VariantFactory(sku=f"P{i:02d}") for i in range(6)]
    catalog_touch(*variants)
    first = _sync(device_api, limit=3)
    # An already-served variant changes while the client is paging: it comes again.
    catalog_touch(variants[0])
    rest, _, _ = _sync_all(device_api, limit=3, cursor=first["next_cursor"])
    assert [row["sku"] for row in first["results"]] + rest == [
        "P00",
        "P01",
        "P02",
        "P03",
        "P04",
        "P05",
        "P00",
    ]


def test_deactivated_variants_and_products_arrive_as_tombstones(device_api):
    keep = VariantFactory(sku="KEEP")
    gone = VariantFactory(sku="GONE")
    product = ProductFactory(handle="discontinued")
    of_gone_product = VariantFactory(sku="OLD-PRODUCT", product=product)
    catalog_touch(keep, gone, of_gone_product)
    _, _, cursor = _sync_all(device_api, limit=10)

    Variant.objects.filter(pk=gone.pk).update(active=False)
    Product.objects.filter(pk=product.pk).update(active=False)
    catalog_touch(gone, of_gone_product)
    rows = _sync(device_api, updated_after=cursor)["results"]
    assert {row["sku"]: row["active"] for row in rows} == {"GONE": False, "OLD-PRODUCT": False}


def test_query_count_per_page_does_not_grow_with_the_page(
    device_api, store_a, django_assert_num_queries
):
    for i in range(30):
        variant = VariantFactory(
            sku=f"Q{i:02d}", product=ProductFactory(category=CategoryFactory())
        )
        BarcodeFactory(variant=variant)
        LocationPrice.objects.create(variant=variant, location=store_a, price="1.00")
    device_api.get(VARIANTS)  # warm: records the device's last use once
    # auth, the page (variants + product + category + location price), the barcodes
    with django_assert_num_queries(3):
        small = device_api.get(VARIANTS, {"limit": 2})
    with django_assert_num_queries(3):
        large = device_api.get(VARIANTS, {"limit": 30})
    assert len(small.json()["results"]) == 2
    assert len(large.json()["results"]) == 30
    assert {row["price"] for row in large.json()["results"]} == {"1.00"}


@pytest.mark.parametrize("sku", ["TEE-M-BLK", "A/B 12", "00042", "ÉTÉ-1"])
def test_lookup_by_sku_accepts_what_skus_can_be(device_api, sku):
    VariantFactory(sku=sku, price="3.00")
    VariantFactory(sku="42")  # leading zeros are not a number: 00042 is not 42
    response = device_api.get(f"{VARIANTS}/{sku}")
    assert response.status_code == 200
    assert response.json()["sku"] == sku
    assert response.json()["price"] == "3.00"


def test_lookup_by_barcode_keeps_leading_zeros(device_api, tee):
    other = VariantFactory(sku="OTHER")
    BarcodeFactory(variant=other, code="12345678905")
    response = device_api.get("/api/v1/catalog/barcodes/0012345678905")
    assert response.status_code == 200
    assert response.json()["sku"] == "TEE-M-BLK"
    assert device_api.get("/api/v1/catalog/barcodes/12345678905").json()["sku"] == "OTHER"


def test_an_inactive_variant_is_still_found_by_lookup(device_api, tee):
    Variant.objects.filter(pk=tee.pk).update(active=False)
    body = device_api.get("/api/v1/catalog/barcodes/2000000000015").json()
    assert body["sku"] == "TEE-M-BLK" and body["active"] is False


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/catalog/variants/NOPE",
        "/api/v1/catalog/barcodes/999",
        "/api/v1/catalog/barcodes/x/y",
    ],
)
def test_unknown_sku_or_barcode_is_404_not_found(device_api, tee, path):
    response = device_api.get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.json()["errors"] == []


def test_integration_reads_the_catalog(integration_api, tee):
    assert integration_api.get(f"{VARIANTS}/TEE-M-BLK").json()["price"] == "19.90"


def test_prices_are_money_strings(device_api, store_a, tee):
    LocationPrice.objects.create(variant=tee, location=store_a, price=Decimal("7"))
    assert _sync(device_api)["results"][0]["price"] == "7.00"


def test_name_is_the_variants_display_name(device_api):
    product = ProductFactory(name="Mug")
    plain = VariantFactory(sku="MUG", product=product)
    named = VariantFactory(sku="MUG-XL", product=product, name="Big mug", option1_name="Size")
    only_names = VariantFactory(sku="MUG-2", product=product, option1_name="Size")
    by_sku = {row["sku"]: row for row in _sync(device_api)["results"]}
    for variant in (plain, named, only_names):
        assert by_sku[variant.sku]["name"] == variant.display_name
    assert by_sku["MUG-XL"]["options"] == {"Size": ""}


def test_barcodes_as_one_array_parameter_match_a_plain_in_query(device_api):
    """barcodes_by_variant (ids as one array parameter on PostgreSQL, AnyOf) gives
    exactly what `variant_id__in` gives: same variants, same codes, same order."""
    from apps.catalog.api import barcodes_by_variant

    variants = [VariantFactory(sku=f"BC-{n}") for n in range(6)]
    for n, variant in enumerate(variants[:5]):
        for code in (f"9{n}0", f"0{n}5", f"5{n}", "ÉTÉ" + str(n))[: 1 + n % 4]:
            BarcodeFactory(variant=variant, code=code)
    ids = [v.pk for v in variants] + [10**9]
    fast = barcodes_by_variant(ids)
    plain = {}
    for variant_id, code in (
        Barcode.objects.filter(variant_id__in=ids)
        .order_by("code")
        .values_list("variant_id", "code")
    ):
        plain.setdefault(variant_id, []).append(code)
    assert fast == plain
    assert variants[5].pk not in fast and len(fast) == 5
    assert _sync(device_api)["results"][4]["barcodes"] == fast[variants[4].pk]


@pytest.mark.parametrize("accept", ["application/json", "application/json; indent=4"])
def test_fast_renderer_writes_the_bytes_drfs_json_renderer_writes(accept):
    from django.utils.translation import gettext_lazy
    from rest_framework.renderers import JSONRenderer

    from apps.catalog.api_renderers import FastJSONRenderer

    body = {
        "results": [{"sku": "ÉTÉ/1\u2028x\u2029", "price": Decimal("1.50"), "n": None}],
        "flag": True,
        "lazy": gettext_lazy("Not found."),
        "count": 3,
    }
    expected = JSONRenderer().render(body, accept, {})
    assert FastJSONRenderer().render(body, accept, {}) == expected
    assert FastJSONRenderer().render({1: "int key"}, accept, {}) == JSONRenderer().render(
        {1: "int key"}, accept, {}
    )


@pytest.mark.postgres
def test_updated_at_as_text_from_postgresql_matches_the_python_rendering(store_a):
    """UtcIso (PostgreSQL writes updated_at as text) gives exactly the bodies of the
    portable path, which parses the timestamp and formats it in Python."""
    import datetime as dt

    from apps.catalog.api import variant_rows
    from apps.catalog.selectors import variant_list_for_api

    moments = [
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 2, 3, 4, 5, 120, tzinfo=dt.UTC),
        dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    ]
    for n, moment in enumerate(moments):
        variant = VariantFactory(sku=f"TS-{n}")
        Variant.objects.filter(pk=variant.pk).update(updated_at=moment)
    for location in (store_a, None):
        queryset = variant_list_for_api(location=location).order_by("sku")
        fast = [row.body for row in variant_rows(queryset)]
        portable = [row.body for row in variant_rows(queryset, portable=True)]
        assert fast == portable
        assert [body["updated_at"] for body in fast] == [
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.000120Z",
            "1999-12-31T23:59:59.999999Z",
            "2026-07-01T04:30:00Z",
        ]
