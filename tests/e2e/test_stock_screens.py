"""Main path of each stock screen, in a real browser against the ASGI server."""

import csv
import io

from django.db import transaction
from playwright.sync_api import expect

from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from apps.inventory.models import StockAlert, StockLevel, Stocktake, Transfer
from tests.e2e.threads import run_elsewhere
from tests.factories import BarcodeFactory, LocationFactory, VariantFactory


def apply(variant, location, quantity, reason=Reason.RECEIPT):
    with transaction.atomic():
        stock_apply(
            changes=[StockChange(variant.pk, location.pk, reason, on_hand=quantity)],
            actor=Actor(),
        )


def on_hand(variant, location):
    return StockLevel.objects.get(variant=variant, location=location).on_hand


def stocked(location, sku, quantity, barcode=None, name=None):
    variant = VariantFactory(sku=sku, **({"product__name": name} if name else {}))
    if barcode:
        BarcodeFactory(variant=variant, code=barcode)
    apply(variant, location, quantity)
    return variant


def test_stock_list_search_and_low_filter(login, asgi_server, manager_a, store_a):
    stocked(store_a, "TEE-M", 12, barcode="4006381333931", name="Tee")
    cap = stocked(store_a, "CAP-1", 2, name="Cap")
    StockLevel.objects.filter(variant=cap).update(reorder_point=3)

    page = login(manager_a)
    page.get_by_role("link", name="Stock", exact=True).click()
    rows = page.locator("[data-testid=stock-table] tbody tr[data-sku]")
    expect(rows).to_have_count(2)
    expect(page.locator("tr[data-sku=TEE-M] [data-field=on_hand]")).to_have_text("12")

    page.get_by_test_id("stock-search").fill("4006381333931")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-sku", "TEE-M")
    expect(page).to_have_url(f"{asgi_server.url}/stock/SA1/?q=4006381333931")

    page.get_by_test_id("stock-search").fill("")
    expect(rows).to_have_count(2)
    page.get_by_test_id("low-filter").check()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-sku", "CAP-1")
    page.reload()  # the pushed URL is a full page
    expect(rows).to_have_count(1)
    expect(page.get_by_role("link", name="Orders")).to_be_visible()


def test_stock_list_next_and_previous(login, asgi_server, manager_a, store_a):
    for index in range(60):
        stocked(store_a, f"ZED-{index:03d}", 1 + index)
    page = login(manager_a)
    page.goto(f"{asgi_server.url}/stock/")
    rows = page.locator("[data-testid=stock-table] tbody tr[data-sku]")
    expect(rows).to_have_count(50)
    expect(page.get_by_test_id("page-status")).to_have_text("Page 1 of 2 · 60 SKUs")

    page.get_by_test_id("next-page").click()
    expect(rows).to_have_count(10)
    expect(rows.first).to_have_attribute("data-sku", "ZED-050")
    expect(page.get_by_test_id("page-status")).to_have_text("Page 2 of 2 · 60 SKUs")
    expect(page).to_have_url(f"{asgi_server.url}/stock/?after=ZED-049&page=2")
    page.reload()  # the pushed URL is a full page
    expect(rows.first).to_have_attribute("data-sku", "ZED-050")

    page.get_by_test_id("previous-page").click()
    expect(rows).to_have_count(50)
    expect(rows.first).to_have_attribute("data-sku", "ZED-000")
    expect(page.get_by_test_id("page-status")).to_have_text("Page 1 of 2 · 60 SKUs")

    page.get_by_test_id("stock-search").fill("ZED-05")
    expect(rows).to_have_count(10)
    expect(page.get_by_test_id("pager")).to_have_count(0)


def test_stock_numbers_update_live(login, asgi_server, manager_a, store_a):
    tee = stocked(store_a, "TEE-M", 12)
    page = login(manager_a)
    page.goto(f"{asgi_server.url}/stock/")
    expect(page.get_by_test_id("live-status")).to_have_text("live")
    cell = page.locator("tr[data-sku=TEE-M] [data-field=on_hand]")
    expect(cell).to_have_text("12")

    run_elsewhere(apply, tee, store_a, -3, reason=Reason.ADJUSTMENT)

    expect(cell).to_have_text("9")
    expect(page.locator("tr[data-sku=TEE-M] [data-field=available]")).to_contain_text("9")
    expect(page.locator("tr[data-sku=TEE-M]")).to_have_class("flash")


def test_adjustment_error_then_success(login, asgi_server, manager_a, store_a):
    tee = stocked(store_a, "TEE-M", 12)
    page = login(manager_a)
    page.goto(f"{asgi_server.url}/stock/adjust/")
    page.get_by_label("SKU or barcode").fill("NOPE")
    page.get_by_label("Change to on hand").fill("-2")
    page.get_by_test_id("adjust-submit").click()
    expect(page.get_by_test_id("error-code")).to_contain_text("No SKU or barcode")
    assert on_hand(tee, store_a) == 12

    page.get_by_label("SKU or barcode").fill("TEE-M")
    page.get_by_label("Change to on hand").fill("-2")
    page.get_by_test_id("adjust-submit").click()
    expect(page.get_by_test_id("adjust-done")).to_contain_text("on hand now 10")
    assert on_hand(tee, store_a) == 10


def test_transfer_create_ship_receive_short(login, asgi_server, hq_admin, store_a):
    warehouse = LocationFactory(code="W01", name="Warehouse", kind="warehouse")
    tee = stocked(warehouse, "TEE-M", 10, barcode="4006381333931")
    page = login(hq_admin)
    page.goto(f"{asgi_server.url}/stock/transfers/")
    page.get_by_test_id("transfer-new").click()
    page.locator("select[name=source]").select_option("W01")
    page.locator("select[name=destination]").select_option("SA1")
    page.locator("textarea[name=lines]").fill("W01 1")
    page.get_by_test_id("transfer-create").click()
    expect(page.get_by_test_id("error-lines")).to_contain_text("No SKU or barcode")

    page.locator("textarea[name=lines]").fill("4006381333931 4")
    page.get_by_test_id("transfer-create").click()
    expect(page.get_by_test_id("transfer-status")).to_have_text("Draft")
    transfer = Transfer.objects.get()
    expect(page).to_have_url(f"{asgi_server.url}/stock/transfers/{transfer.pk}/")

    page.get_by_test_id("transfer-ship").click()
    expect(page.get_by_test_id("transfer-status")).to_have_text("Shipped")
    assert on_hand(tee, warehouse) == 6

    page.get_by_label("Received TEE-M").fill("3")
    page.get_by_test_id("transfer-receive").click()
    expect(page.get_by_test_id("transfer-status")).to_have_text("Received")
    expect(page.locator("[data-testid=difference]")).to_have_text("short -1")
    assert on_hand(tee, store_a) == 3


def test_stocktake_scan_review_post(login, asgi_server, manager_a, store_a):
    tee = stocked(store_a, "TEE-M", 5, barcode="200000000001")
    cap = stocked(store_a, "CAP-1", 2, barcode="200000000002")
    page = login(manager_a)
    page.goto(f"{asgi_server.url}/stock/stocktakes/")
    page.get_by_test_id("stocktake-start").click()
    scan = page.get_by_test_id("scan-input")
    expect(scan).to_be_focused()

    # One at a time: each scan's result shows before the next.
    for code, shown in (("200000000001", "TEE-M: 1"), ("200000000002", "CAP-1: 1")):
        page.keyboard.type(code)
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("scan-last")).to_have_text(f"{shown} counted")
        expect(page.get_by_test_id("scan-input")).to_be_focused()
        expect(page.get_by_test_id("scan-input")).to_have_value("")
    # Then fast, as a scanner does: the next code is typed while the last is in flight.
    for _ in range(2):
        page.keyboard.type("200000000001")
        page.keyboard.press("Enter")
    expect(page.locator("tr[data-sku=TEE-M] [data-field=counted]")).to_have_text("3")
    expect(page.locator("tr[data-sku=CAP-1] [data-field=counted]")).to_have_text("1")

    page.keyboard.type("999999")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("scan-error")).to_contain_text("No SKU or barcode")

    page.get_by_test_id("stocktake-review").click()
    expect(page.locator("tr[data-sku=TEE-M] [data-testid=difference]")).to_have_text("-2")
    expect(page.locator("tr[data-sku=CAP-1] [data-testid=difference]")).to_have_text("-1")
    page.get_by_test_id("stocktake-post").click()
    expect(page.get_by_test_id("stocktake-status")).to_have_text("Posted")
    assert (on_hand(tee, store_a), on_hand(cap, store_a)) == (3, 1)
    assert Stocktake.objects.get().status == "posted"


def test_alerts_inbox_shows_an_alert(login, asgi_server, manager_a, store_a):
    tee = stocked(store_a, "TEE-M", 1)
    level = StockLevel.objects.get(variant=tee, location=store_a)
    StockAlert.objects.create(level=level, available_when_raised=1, reorder_point=4)
    page = login(manager_a)
    page.goto(f"{asgi_server.url}/stock/")
    page.get_by_role("link", name="Alerts").click()
    expect(page.locator("[data-testid=alert-table] tr[data-sku=TEE-M]")).to_be_visible()


def test_movement_export_downloads_a_csv(login, asgi_server, manager_a, store_a):
    stocked(store_a, "TEE-M", 7)
    page = login(manager_a)
    page.goto(f"{asgi_server.url}/stock/movements/")
    expect(page.locator("[data-testid=movement-table] tbody tr")).to_have_count(1)
    with page.expect_download() as info:
        page.get_by_test_id("export-csv").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8") as handle:
        rows = list(csv.reader(io.StringIO(handle.read())))
    assert [(r[1], r[2], r[3], r[4]) for r in rows[1:]] == [("SA1", "TEE-M", "receipt", "7")]
