import pytest

from apps.catalog import demo
from apps.catalog.models import Barcode, LocationPrice, Product, Variant
from apps.stores import demo as stores_demo


def ean13_valid(code: str) -> bool:
    if len(code) != 13 or not code.isdigit():
        return False
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(code[:12]))
    return (10 - total % 10) % 10 == int(code[12])


def test_ean13_check_digit_is_right():
    # 4006381333931 is a published valid EAN-13; same algorithm on our in-store range.
    assert ean13_valid("4006381333931")
    assert ean13_valid(demo.ean13(1))
    assert demo.ean13(1) == "2000000000015"


@pytest.mark.django_db
def test_demo_catalog_is_believable_and_idempotent():
    locations = stores_demo.seed()
    variants = demo.seed(locations)
    assert 1800 <= len(variants) <= 2300
    assert Variant.objects.count() == len(variants)
    tracking = dict.fromkeys(("none", "lot", "serial"), 0)
    for variant in variants:
        tracking[variant.tracking] += 1
    assert all(count > 50 for count in tracking.values())
    assert Variant.objects.filter(option1_name="Size", option1_value="XS").exists()
    assert Variant.objects.filter(sku__startswith="CRM", tracking="lot").exists()
    assert Variant.objects.filter(sku__startswith="HPH", tracking="serial").exists()
    codes = list(Barcode.objects.values_list("code", flat=True))
    assert len(codes) == len(variants)
    assert all(ean13_valid(code) for code in codes)
    assert LocationPrice.objects.filter(location__code__in=["S01", "S02"]).count() == 120
    assert all(v.change_seq > 0 for v in Variant.objects.all())
    counts = (Product.objects.count(), Variant.objects.count(), Barcode.objects.count())
    again = demo.seed(locations)
    assert len(again) == len(variants)
    assert (Product.objects.count(), Variant.objects.count(), Barcode.objects.count()) == counts
    assert LocationPrice.objects.count() == 120
