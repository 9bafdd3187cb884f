from decimal import Decimal

import pytest

from apps.catalog import services
from apps.catalog.models import Barcode, Category, LocationPrice, Product, Variant
from apps.catalog.selectors import prices_at, variant_price_at
from apps.core.errors import PermissionDenied, ValidationFailed
from tests.api.conftest import stock_receive
from tests.factories import BarcodeFactory, ProductFactory, VariantFactory


def field_codes(error: ValidationFailed) -> dict[str, str]:
    return {item["field"]: item["code"] for item in error.errors}


@pytest.mark.django_db
def test_category_path_creates_missing_levels_once():
    leaf = services.category_get_or_create_path(path=" Women >Tops > T-shirts ")
    assert leaf.path == "Women > Tops > T-shirts"
    assert leaf.parent.path == "Women > Tops"
    assert leaf.parent.parent.parent is None
    again = services.category_get_or_create_path(path="Women > Tops > T-shirts")
    assert again.pk == leaf.pk
    services.category_get_or_create_path(path="Women > Dresses")
    assert services.category_get_or_create_path(path="women > TOPS > t-shirts").pk == leaf.pk
    assert list(Category.objects.values_list("path", flat=True)) == [
        "Women",
        "Women > Dresses",
        "Women > Tops",
        "Women > Tops > T-shirts",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["", "Women > > Tops", ">", "A" * 121])
def test_category_path_refuses_bad_paths(path):
    with pytest.raises(ValidationFailed) as error:
        services.category_get_or_create_path(path=path)
    assert error.value.errors[0]["field"] == "category"
    assert Category.objects.count() == 0


@pytest.mark.django_db
def test_product_create_with_first_variant_moves_the_sync_cursor(hq_admin):
    product = services.product_create(
        actor=hq_admin,
        name="Basic Tee",
        brand="Maison",
        category_path="Women > Tops",
        variant={
            "sku": "TEE-W-S",
            "price": "19.90",
            "options": [("Size", "S"), ("Colour", "White")],
            "barcode": "4006381333931",
        },
    )
    assert product.handle == "basic-tee"
    assert product.category.path == "Women > Tops"
    variant = product.variants.get()
    assert variant.price == Decimal("19.90")
    assert variant.options == {"Size": "S", "Colour": "White"}
    assert variant.change_seq > 0
    assert list(variant.barcodes.values_list("code", flat=True)) == ["4006381333931"]


@pytest.mark.django_db
def test_product_create_reports_every_bad_field_and_writes_nothing(hq_admin):
    VariantFactory(sku="TAKEN-1")
    BarcodeFactory(code="123456", variant=Variant.objects.get(sku="TAKEN-1"))
    with pytest.raises(ValidationFailed) as error:
        services.product_create(
            actor=hq_admin,
            name="",
            variant={
                "sku": "taken-1",
                "price": "12,5O",
                "cost": "-1",
                "options": [("Size", "S"), ("", "Red"), ("A", "1"), ("B", "2")],
                "barcode": "123456",
                "tracking": "batch",
            },
        )
    codes = field_codes(error.value)
    assert codes["name"] == "required"
    assert codes["sku"] == "sku_taken"
    assert codes["price"] == "invalid_amount"
    assert codes["cost"] == "negative_amount"
    assert codes["options"] == "too_many_options"
    assert codes["barcode"] == "barcode_taken"
    assert codes["tracking"] == "invalid_choice"
    barcode_error = next(e for e in error.value.errors if e["field"] == "barcode")
    assert "TAKEN-1" in barcode_error["detail"]
    assert Product.objects.count() == 1
    assert Variant.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("price", "code"),
    [
        ("12.345", "invalid_amount"),
        ("abc", "invalid_amount"),
        ("NaN", "invalid_amount"),
        ("Infinity", "invalid_amount"),
        ("-0.01", "negative_amount"),
        ("", "required"),
        ("99999999999", "amount_too_large"),
        ("1e999999", "invalid_amount"),
        ("1e3", "invalid_amount"),
        ("1_000", "invalid_amount"),
        ("\u0661\u0662", "invalid_amount"),
        ("1,50", "invalid_amount"),
        ("12.5.3", "invalid_amount"),
    ],
)
def test_variant_price_must_be_a_non_negative_amount_with_two_decimals(hq_admin, price, code):
    product = ProductFactory()
    with pytest.raises(ValidationFailed) as error:
        services.variant_create(actor=hq_admin, product=product, sku="X-1", price=price)
    assert field_codes(error.value) == {"price": code}
    assert not Variant.objects.exists()


@pytest.mark.django_db
def test_variant_update_and_activation_move_the_cursor(hq_admin):
    variant = VariantFactory(sku="A-1", price="10.00")
    first = services.variant_update(
        actor=hq_admin, variant=variant, sku="A-1", price="12.50", options=[("Size", "M")]
    )
    assert first.price == Decimal("12.50")
    assert first.option1_name == "Size"
    seq_after_update = first.change_seq
    deactivated = services.variant_deactivate(actor=hq_admin, variant=variant)
    assert deactivated.active is False
    seq_after_deactivate = deactivated.change_seq
    assert seq_after_deactivate > seq_after_update
    activated = services.variant_activate(actor=hq_admin, variant=variant)
    assert activated.active is True
    assert activated.change_seq > seq_after_deactivate


@pytest.mark.django_db
def test_product_update_moves_every_variant(hq_admin):
    product = ProductFactory(name="Old")
    one, two = VariantFactory(product=product), VariantFactory(product=product)
    services.product_update(actor=hq_admin, product=product, name="New", brand="B")
    one.refresh_from_db()
    two.refresh_from_db()
    assert one.change_seq == two.change_seq > 0
    product.refresh_from_db()
    assert (product.name, product.handle, product.brand) == ("New", "new", "B")


@pytest.mark.django_db
def test_barcode_unique_across_catalog_names_the_owner(hq_admin):
    owner = VariantFactory(sku="OWNER-1")
    other = VariantFactory(sku="OTHER-1")
    services.barcode_add(actor=hq_admin, variant=owner, code="4006381333931")
    seq = Variant.objects.get(pk=other.pk).change_seq
    with pytest.raises(ValidationFailed) as error:
        services.barcode_add(actor=hq_admin, variant=other, code="4006381333931")
    assert error.value.errors[0]["code"] == "barcode_taken"
    assert "OWNER-1" in error.value.detail
    assert Variant.objects.get(pk=other.pk).change_seq == seq
    barcode = Barcode.objects.get(code="4006381333931")
    services.barcode_remove(actor=hq_admin, barcode=barcode)
    assert not Barcode.objects.exists()


@pytest.mark.django_db
def test_location_price_overrides_base_price(hq_admin, store_a, store_b):
    variant = VariantFactory(price="20.00")
    cheap = VariantFactory(price="5.00")
    variant.refresh_from_db()
    services.location_price_set(actor=hq_admin, variant=variant, location=store_a, price="17.50")
    assert variant_price_at(variant, store_a) == Decimal("17.50")
    assert variant_price_at(variant, store_b) == Decimal("20.00")
    assert variant_price_at(variant, None) == Decimal("20.00")
    assert prices_at(store_a, [variant.pk, cheap.pk, 999999]) == {
        variant.pk: Decimal("17.50"),
        cheap.pk: Decimal("5.00"),
    }
    with pytest.raises(ValidationFailed):
        services.location_price_set(actor=hq_admin, variant=variant, location=store_a, price="-1")
    assert LocationPrice.objects.get().price == Decimal("17.50")
    services.location_price_clear(actor=hq_admin, variant=variant, location=store_a)
    assert variant_price_at(variant, store_a) == Decimal("20.00")


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["manager_a", "associate_a", "anonymous"])
def test_only_hq_changes_the_catalog(request, who, store_a):
    actor = None if who == "anonymous" else request.getfixturevalue(who)
    variant = VariantFactory(sku="KEEP-1", price="10.00")
    barcode = BarcodeFactory(variant=variant, code="111")
    before = Variant.objects.get(pk=variant.pk).change_seq
    calls = [
        lambda: services.product_create(actor=actor, name="Nope"),
        lambda: services.product_update(actor=actor, product=variant.product, name="Changed"),
        lambda: services.variant_create(
            actor=actor, product=variant.product, sku="NEW-1", price="1"
        ),
        lambda: services.variant_update(actor=actor, variant=variant, sku="KEEP-1", price="1"),
        lambda: services.variant_deactivate(actor=actor, variant=variant),
        lambda: services.barcode_add(actor=actor, variant=variant, code="222"),
        lambda: services.barcode_remove(actor=actor, barcode=barcode),
        lambda: services.location_price_set(
            actor=actor, variant=variant, location=store_a, price="1"
        ),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    variant.refresh_from_db()
    assert (variant.price, variant.active, variant.change_seq) == (Decimal("10.00"), True, before)
    assert variant.product.name != "Changed"
    assert Product.objects.count() == 1
    assert list(Barcode.objects.values_list("code", flat=True)) == ["111"]
    assert not LocationPrice.objects.exists()


@pytest.mark.django_db
def test_tracking_cannot_change_once_the_sku_has_stock(hq_admin, store_a):
    variant = VariantFactory(sku="TRK-1", price="10.00")
    stock_receive(store_a, variant, 3)
    with pytest.raises(ValidationFailed) as error:
        services.variant_update(
            actor=hq_admin, variant=variant, sku="TRK-1", price="10.00", tracking="serial"
        )
    assert field_codes(error.value) == {"tracking": "tracking_locked"}
    variant.refresh_from_db()
    assert variant.tracking == "none"
