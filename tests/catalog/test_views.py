from decimal import Decimal

import pytest
from django.urls import reverse

from apps.catalog import services
from apps.catalog.models import Barcode, LocationPrice, Product, Variant
from tests.api.conftest import stock_receive
from tests.factories import (
    BarcodeFactory,
    CategoryFactory,
    ProductFactory,
    VariantFactory,
)

INDEX = "/catalog/"


def logged_in(client, user):
    client.force_login(user)
    return client


def row_names(response) -> list[str]:
    return [row.product.name for row in response.context["page"].rows]


@pytest.fixture
def catalog(db):
    tops = CategoryFactory(name="Tops", path="Women > Tops")
    CategoryFactory(name="Women", path="Women")
    tee = ProductFactory(name="Basic Tee", brand="Maison", category=tops)
    VariantFactory(product=tee, sku="TEE-S", price="19.90")
    VariantFactory(product=tee, sku="TEE-M", price="21.90")
    jeans = ProductFactory(name="Slim Jeans", brand="Denimo")
    jeans_variant = VariantFactory(product=jeans, sku="JEA-30", price="59.00")
    BarcodeFactory(variant=jeans_variant, code="4006381333931")
    ProductFactory(name="Old Serum", brand="Glow", active=False)
    return {"tee": tee, "jeans": jeans, "tops": tops}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["Basic Tee", "Old Serum", "Slim Jeans"]),
        ({"q": "tee-"}, ["Basic Tee"]),
        ({"q": "jea"}, ["Slim Jeans"]),
        ({"q": "4006381333931"}, ["Slim Jeans"]),
        ({"q": "400638133393"}, []),
        ({"q": "  SERUM "}, ["Old Serum"]),
        ({"brand": "maison"}, ["Basic Tee"]),
        ({"active": "no"}, ["Old Serum"]),
        ({"active": "yes"}, ["Basic Tee", "Slim Jeans"]),
    ],
)
def test_list_search_and_filters(client, hq_admin, catalog, params, expected):
    response = logged_in(client, hq_admin).get(INDEX, params)
    assert response.status_code == 200
    assert row_names(response) == expected


def test_category_filter_includes_subcategories(client, hq_admin, catalog):
    women = catalog["tops"].__class__.objects.get(path="Women")
    response = logged_in(client, hq_admin).get(INDEX, {"category": women.pk})
    assert row_names(response) == ["Basic Tee"]


def test_list_row_shows_variant_count_and_price_range(client, manager_a, catalog):
    response = logged_in(client, manager_a).get(INDEX, {"q": "basic"})
    (row,) = response.context["page"].rows
    assert (row.variant_count, row.price_min, row.price_max) == (
        2,
        Decimal("19.90"),
        Decimal("21.90"),
    )
    assert b"19.90 \xe2\x80\x93 21.90" in response.content


@pytest.mark.parametrize(
    "params",
    [
        {"page": "abc"},
        {"page": "-1"},
        {"page": "0"},
        {"page": "999999"},
        {"page": "99999999999999999999999"},
        {"category": "123456"},
        {"category": "x"},
        {"category": "-4"},
        {"active": "maybe"},
        {"q": "x" * 500},
        {"q": "%_\\'\""},
    ],
)
def test_bad_list_parameters_never_fail(client, hq_admin, catalog, params):
    response = logged_in(client, hq_admin).get(INDEX, params)
    assert response.status_code == 200
    assert response.context["page"].number >= 1


def test_page_past_the_end_shows_the_last_page(client, hq_admin, catalog):
    response = logged_in(client, hq_admin).get(INDEX, {"page": "999999"})
    assert response.context["page"].number == 1
    assert len(response.context["page"].rows) == 3


def test_unknown_category_is_reported_and_ignored(client, hq_admin, catalog):
    response = logged_in(client, hq_admin).get(INDEX, {"category": "123456"})
    assert "Unknown category" in response.content.decode()
    assert len(response.context["page"].rows) == 3


def test_pagination_pages_by_name(client, hq_admin):
    for index in range(120):
        ProductFactory(name=f"Item {index:03d}")
    client = logged_in(client, hq_admin)
    second = client.get(INDEX, {"page": "2"})
    assert row_names(second)[0] == "Item 050"
    assert second.context["page"].last_page == 3
    third = client.get(INDEX, {"page": "3"})
    assert row_names(third) == [f"Item {i:03d}" for i in range(100, 120)]


def test_htmx_search_returns_only_the_results_fragment(client, hq_admin, catalog):
    response = logged_in(client, hq_admin).get(INDEX, {"q": "TEE-S"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="product-results"')
    assert "Basic Tee" in body and "<html" not in body


def _make_products(count: int, variants_each: int = 2) -> Product:
    for index in range(count):
        product = ProductFactory(name=f"P {index:03d}", category=CategoryFactory(name=f"C{index}"))
        for number in range(variants_each):
            VariantFactory(product=product, sku=f"P{index:03d}-{number}")
    return product


@pytest.mark.parametrize("count", [5, 50])
def test_list_query_count_does_not_grow(client, hq_admin, django_assert_num_queries, count):
    _make_products(count)
    client = logged_in(client, hq_admin)
    client.get(INDEX)  # warm the session
    # session, user, current location, switcher locations, count, page, aggregates,
    # categories, brands
    with django_assert_num_queries(9):
        response = client.get(INDEX, {"q": "P", "page": "1"})
    assert len(response.context["page"].rows) == count


@pytest.mark.parametrize("count", [5, 50])
def test_product_page_query_count_does_not_grow(
    client, hq_admin, store_a, store_b, django_assert_num_queries, count
):
    product = ProductFactory(name="Big")
    for number in range(count):
        variant = VariantFactory(product=product, sku=f"BIG-{number:03d}")
        BarcodeFactory(variant=variant)
        LocationPrice.objects.create(variant=variant, location=store_a, price="1.00")
    client = logged_in(client, hq_admin)
    client.get(INDEX)
    # session, user, current location, switcher locations, product, visible locations,
    # variants, barcodes, location prices, stock
    with django_assert_num_queries(10):
        response = client.get(reverse("catalog:product", args=[product.pk]))
    assert len(response.context["detail"].variants) == count


def test_product_page_shows_stock_only_at_visible_locations(client, manager_a, store_a, store_b):
    variant = VariantFactory(sku="STK-1")
    stock_receive(store_a, variant, 7, reserved=2)
    stock_receive(store_b, variant, 11)
    response = logged_in(client, manager_a).get(
        reverse("catalog:product", args=[variant.product_id])
    )
    detail = response.context["detail"]
    assert [location.code for location in detail.locations] == ["SA1"]
    ((_variant, cells),) = detail.stock_rows
    assert (cells[0].on_hand, cells[0].reserved, cells[0].available) == (7, 2, 5)
    assert "11" not in response.content.decode().split('data-testid="stock"')[1]


def test_product_page_unknown_is_404(client, hq_admin):
    assert logged_in(client, hq_admin).get("/catalog/products/999999/").status_code == 404


def test_anonymous_is_sent_to_login(client):
    assert client.get(INDEX).status_code == 302


# --- create and edit -------------------------------------------------------------------


def create_payload(**overrides):
    payload = {
        "name": "Linen Shirt",
        "brand": "Maison",
        "category": "Men > Shirts",
        "active": "1",
        "sku": "LIN-M",
        "price": "49.90",
        "tracking": "none",
        "option1_name": "Size",
        "option1_value": "M",
        "barcode": "4006381333948",
    }
    return {**payload, **overrides}


def test_hq_creates_a_product_with_a_variant(client, hq_admin):
    response = logged_in(client, hq_admin).post(reverse("catalog:product_create"), create_payload())
    product = Product.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("catalog:product", args=[product.pk])
    variant = product.variants.get()
    assert (variant.sku, variant.price, variant.options) == (
        "LIN-M",
        Decimal("49.90"),
        {"Size": "M"},
    )
    assert product.category.path == "Men > Shirts"
    assert variant.barcodes.get().code == "4006381333948"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"price": "12,5O"}, "price", "not an amount"),
        ({"price": "-3"}, "price", "negative"),
        ({"name": ""}, "name", "required"),
        ({"sku": ""}, "sku", "required"),
        ({"sku": "has space"}, "sku", "spaces"),
        ({"tracking": "weird"}, "tracking", "Choose"),
        ({"option1_name": ""}, "option1_name", "Name this option"),
        ({"category": "A > > B"}, "category", "Women > Tops"),
        ({"name": "x" * 300}, "name", "At most 255"),
        ({"handle": "Not A Slug!"}, "handle", "Lower-case"),
    ],
)
def test_invalid_create_shows_the_error_under_the_field_and_writes_nothing(
    client, hq_admin, overrides, field, message
):
    response = logged_in(client, hq_admin).post(
        reverse("catalog:product_create"), create_payload(**overrides)
    )
    assert response.status_code == 400
    fields = {f.name: f for f in response.context["fields"] + response.context["variant_fields"]}
    if field in fields:
        assert message in fields[field].error
    else:
        assert any(message in error for error in response.context["other_errors"])
    assert not Product.objects.exists()
    assert not Variant.objects.exists()


def test_create_with_taken_barcode_names_the_sku(client, hq_admin):
    BarcodeFactory(code="4006381333948", variant=VariantFactory(sku="OLD-1"))
    response = logged_in(client, hq_admin).post(reverse("catalog:product_create"), create_payload())
    assert response.status_code == 400
    assert "already belongs to SKU OLD-1" in response.content.decode()
    assert Product.objects.count() == 1


def test_inline_validation_returns_the_fields_error(client, hq_admin):
    client = logged_in(client, hq_admin)
    url = reverse("catalog:product_validate")
    bad = client.post(url, create_payload(price="12,5O"), HTTP_HX_TRIGGER_NAME="price")
    assert bad.status_code == 200
    assert 'id="error-price"' in bad.content.decode()
    assert "is not an amount like 12.50" in bad.content.decode()
    good = client.post(url, create_payload(price="12.50"), HTTP_HX_TRIGGER_NAME="price")
    assert "<small" in good.content.decode() and "amount" not in good.content.decode()
    assert not Product.objects.exists()


def test_inline_validation_tolerates_garbage(client, hq_admin):
    client = logged_in(client, hq_admin)
    url = reverse("catalog:product_validate")
    response = client.post(
        url, {"_product": "abc", "_variant": "99999", "sku": "x"}, HTTP_HX_TRIGGER_NAME="<b>"
    )
    assert response.status_code == 200
    assert "<b>" not in response.content.decode()


def test_hq_edits_product_and_variant(client, hq_admin):
    variant = VariantFactory(sku="ED-1", price="10.00")
    client = logged_in(client, hq_admin)
    response = client.post(
        reverse("catalog:product_edit", args=[variant.product_id]),
        {"name": "Renamed", "brand": "New", "category": "Home", "active": "1"},
    )
    assert response.status_code == 302
    response = client.post(
        reverse("catalog:variant_edit", args=[variant.pk]),
        {"sku": "ED-1", "price": "11.00", "tracking": "lot"},
    )
    assert response.status_code == 302
    variant.refresh_from_db()
    assert (variant.product.name, variant.price, variant.tracking) == (
        "Renamed",
        Decimal("11.00"),
        "lot",
    )
    bad = client.post(
        reverse("catalog:variant_edit", args=[variant.pk]),
        {"sku": "ED-1", "price": "1.001", "tracking": "lot"},
    )
    assert bad.status_code == 400
    variant.refresh_from_db()
    assert variant.price == Decimal("11.00")


def test_hq_adds_variant_barcode_price_and_deactivates(client, hq_admin, store_a):
    product = ProductFactory()
    client = logged_in(client, hq_admin)
    client.post(
        reverse("catalog:variant_create", args=[product.pk]),
        {"sku": "NEW-1", "price": "5.00", "tracking": "none"},
    )
    variant = Variant.objects.get(sku="NEW-1")
    client.post(reverse("catalog:barcode_add", args=[variant.pk]), {"code": "777"})
    client.post(
        reverse("catalog:location_price_set", args=[variant.pk]),
        {"location": "SA1", "price": "4.50"},
    )
    client.post(reverse("catalog:variant_set_active", args=[variant.pk]), {"active": "0"})
    variant.refresh_from_db()
    assert variant.active is False
    assert list(variant.barcodes.values_list("code", flat=True)) == ["777"]
    assert LocationPrice.objects.get(variant=variant).price == Decimal("4.50")
    duplicate = client.post(reverse("catalog:barcode_add", args=[variant.pk]), {"code": "777"})
    assert duplicate.status_code == 400
    assert "already belongs to SKU NEW-1" in duplicate.content.decode()
    client.post(
        reverse("catalog:location_price_set", args=[variant.pk]),
        {"location": "SA1", "price": ""},
    )
    assert not LocationPrice.objects.exists()
    unknown = client.post(
        reverse("catalog:location_price_set", args=[variant.pk]),
        {"location": "NOPE", "price": "1"},
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize("who", ["manager_a", "associate_a"])
def test_non_hq_reads_but_cannot_change(client, request, who, store_a):
    user = request.getfixturevalue(who)
    variant = VariantFactory(sku="RO-1", price="10.00")
    barcode = BarcodeFactory(variant=variant, code="555")
    client = logged_in(client, user)
    listing = client.get(INDEX)
    assert listing.status_code == 200
    assert 'data-testid="product-create"' not in listing.content.decode()
    page = client.get(reverse("catalog:product", args=[variant.product_id]))
    assert page.status_code == 200
    assert "Edit product" not in page.content.decode()
    seq = Variant.objects.get(pk=variant.pk).change_seq
    attempts = [
        (reverse("catalog:product_create"), create_payload()),
        (reverse("catalog:product_edit", args=[variant.product_id]), {"name": "Hacked"}),
        (reverse("catalog:variant_create", args=[variant.product_id]), {"sku": "X", "price": "1"}),
        (reverse("catalog:variant_edit", args=[variant.pk]), {"sku": "RO-1", "price": "1"}),
        (reverse("catalog:variant_set_active", args=[variant.pk]), {"active": "0"}),
        (reverse("catalog:barcode_add", args=[variant.pk]), {"code": "666"}),
        (reverse("catalog:barcode_remove", args=[barcode.pk]), {}),
        (
            reverse("catalog:location_price_set", args=[variant.pk]),
            {"location": "SA1", "price": "1"},
        ),
        (reverse("catalog:product_validate"), {"sku": "X"}),
    ]
    for url, data in attempts:
        assert client.post(url, data).status_code == 403, url
    assert client.get(reverse("catalog:product_create")).status_code == 403
    variant.refresh_from_db()
    assert (variant.price, variant.active, variant.change_seq) == (Decimal("10.00"), True, seq)
    assert variant.product.name != "Hacked"
    assert list(Barcode.objects.values_list("code", flat=True)) == ["555"]
    assert Product.objects.count() == 1
    assert not LocationPrice.objects.exists()


def test_services_used_directly_still_agree_with_the_screen(hq_admin):
    # The inline check and the save share one set of rules.
    errors = services.product_input_check(data={"sku": "A", "price": "12,5O"})
    assert [e["field"] for e in errors] == ["price"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": "Nul\x00name"},
        {"sku": "SKU\x00"},
        {"brand": "\x00"},
        {"category": "A > \x00"},
        {"option1_value": "M\x00"},
        {"barcode": "12\x003"},
        {"price": "1\x00"},
        {"handle": "a\x00b"},
        {"description": "bad\x00text"},
    ],
)
def test_control_characters_are_refused_not_crashing(client, hq_admin, overrides):
    response = logged_in(client, hq_admin).post(
        reverse("catalog:product_create"), create_payload(**overrides)
    )
    assert response.status_code == 400
    assert not Product.objects.exists()


def test_location_price_with_garbage_location_is_404(client, hq_admin):
    variant = VariantFactory()
    response = logged_in(client, hq_admin).post(
        reverse("catalog:location_price_set", args=[variant.pk]),
        {"location": "NOPE", "price": "1"},
    )
    assert response.status_code == 404
    assert not variant.location_prices.exists()


def test_nul_in_a_list_parameter_is_refused_before_the_view(client, hq_admin, catalog):
    # apps.core.middleware.RejectNulMiddleware: PostgreSQL cannot compare against NUL.
    response = logged_in(client, hq_admin).get(INDEX, {"brand": "\x00"})
    assert response.status_code == 400


@pytest.mark.parametrize("count", [5, 50])
def test_search_fragment_query_count_does_not_grow(
    client, hq_admin, django_assert_num_queries, count
):
    _make_products(count)
    client = logged_in(client, hq_admin)
    client.get(INDEX)
    # session, user, current location, count, page, aggregates: no filter-bar lists
    with django_assert_num_queries(6):
        response = client.get(INDEX, {"q": "p"}, HTTP_HX_REQUEST="true")
    assert response.content.decode().count('data-testid="product-row"') == count
