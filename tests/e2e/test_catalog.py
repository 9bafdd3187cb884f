"""The catalog's main paths in a real browser: search as you type, the product page,
create with inline validation, and a manager's read-only view."""

import re
from decimal import Decimal

from playwright.sync_api import expect

from apps.catalog.models import Product, Variant
from tests.factories import BarcodeFactory, ProductFactory, VariantFactory


def _catalog():
    tee = ProductFactory(name="Basic Tee", brand="Maison")
    VariantFactory(product=tee, sku="TEE-W-S", price="19.90")
    VariantFactory(product=tee, sku="TEE-W-M", price="19.90")
    jeans = ProductFactory(name="Slim Jeans", brand="Denimo")
    jeans_variant = VariantFactory(product=jeans, sku="JEA-32", price="59.00")
    BarcodeFactory(variant=jeans_variant, code="4006381333931")
    ProductFactory(name="Rose Serum", brand="Glow")
    return tee, jeans


def test_hq_searches_as_they_type_and_opens_a_product(login, asgi_server, hq_admin, store_a):
    _catalog()
    page = login(hq_admin)
    page.goto(f"{asgi_server.url}/catalog/")
    rows = page.get_by_test_id("product-row")
    expect(rows).to_have_count(3)

    search = page.get_by_test_id("catalog-search")
    search.press_sequentially("tee-w", delay=40)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Basic Tee")
    expect(rows.first).to_contain_text("2")
    expect(page).to_have_url(re.compile(r"/catalog/\?q=tee-w(&|$)"))

    search.fill("")
    search.press_sequentially("4006381333931", delay=20)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Slim Jeans")

    # A pushed URL reloads into the full page with the same results.
    page.reload()
    expect(page.get_by_test_id("catalog-search")).to_have_value("4006381333931")
    expect(page.get_by_test_id("product-row")).to_have_count(1)

    page.get_by_role("link", name="Slim Jeans").click()
    expect(page.get_by_test_id("product-title")).to_have_text("Slim Jeans")
    expect(page.get_by_test_id("variants")).to_contain_text("JEA-32")
    expect(page.get_by_test_id("variants")).to_contain_text("4006381333931")


def test_hq_creates_a_product_after_fixing_a_bad_price(login, asgi_server, hq_admin, store_a):
    page = login(hq_admin)
    page.goto(f"{asgi_server.url}/catalog/")
    page.get_by_test_id("product-create").click()
    page.fill("#field-name", "Linen Shirt")
    page.fill("#field-brand", "Maison")
    page.fill("#field-category", "Men > Shirts")
    page.fill("#field-sku", "LIN-M")
    page.fill("#field-option1_name", "Size")
    page.fill("#field-option1_value", "M")
    page.locator("#field-price").press_sequentially("12,5O", delay=30)
    page.locator("#field-price").blur()
    expect(page.locator("#error-price")).to_contain_text("is not an amount like 12.50")

    # Submitting anyway is refused with the error under the field, nothing saved.
    page.get_by_test_id("save").click()
    expect(page.locator("#error-price")).to_contain_text("is not an amount like 12.50")
    assert not Product.objects.exists()

    page.fill("#field-price", "12.50")
    page.locator("#field-price").blur()
    expect(page.locator("#error-price")).to_have_text("")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("product-title")).to_have_text("Linen Shirt")
    expect(page.get_by_test_id("variants")).to_contain_text("LIN-M")
    variant = Variant.objects.get(sku="LIN-M")
    assert variant.price == Decimal("12.50")
    assert variant.product.category.path == "Men > Shirts"


def test_manager_reads_the_catalog_but_cannot_change_it(login, asgi_server, manager_a, page):
    tee, _jeans = _catalog()
    login(manager_a)
    page.goto(f"{asgi_server.url}/catalog/")
    expect(page.get_by_test_id("product-row")).to_have_count(3)
    expect(page.get_by_test_id("product-create")).to_have_count(0)
    page.get_by_role("link", name="Basic Tee").click()
    expect(page.get_by_test_id("product-title")).to_have_text("Basic Tee")
    expect(page.get_by_test_id("product-edit")).to_have_count(0)

    # Posting by hand (with the page's CSRF token) is refused and changes nothing.
    status = page.evaluate(
        """async (url) => {
            const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken'];
            const body = new URLSearchParams({name: 'Hacked', sku: 'H-1', price: '1'});
            const response = await fetch(url, {method: 'POST', body,
                headers: {'X-CSRFToken': token}});
            return response.status;
        }""",
        f"{asgi_server.url}/catalog/products/new/",
    )
    assert status == 403
    edit_status = page.goto(f"{asgi_server.url}/catalog/products/{tee.pk}/edit/").status
    assert edit_status == 403
    assert Product.objects.count() == 3
    assert not Product.objects.filter(name="Hacked").exists()
