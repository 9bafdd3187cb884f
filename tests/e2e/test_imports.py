"""The import screen's main path in a real browser (Celery eager, as in test settings)."""

from playwright.sync_api import expect

from apps.catalog.models import Variant
from apps.imports.models import ImportJob
from apps.inventory.models import Movement

CSV = (
    b"sku,product_handle,product_name,price,barcode,category,stock@SA1\n"
    b"E2E-TEE-S,e2e-tee,E2E Tee,19.90,4000000000017,Women > Tops,5\n"
    b"E2E-TEE-M,e2e-tee,,19.90,4000000000024,,3\n"
    b'E2E-TEE-L,e2e-tee,,"12,5O",,,\n'
)


def test_upload_preview_skip_bad_row_confirm_and_result(
    login, page, asgi_server, hq_admin, store_a
):
    login(hq_admin)
    page.get_by_role("link", name="Imports").click()
    expect(page.locator("h1")).to_have_text("Imports")

    page.set_input_files(
        "input[name=file]", files=[{"name": "tees.csv", "mimeType": "text/csv", "buffer": CSV}]
    )
    page.get_by_role("button", name="Upload and check").click()

    job = page.get_by_test_id("job")
    expect(job).to_have_attribute("data-status", "previewed")
    expect(page.get_by_test_id("count-create")).to_have_text("2")
    expect(page.get_by_test_id("count-invalid")).to_have_text("1")
    errors = page.get_by_test_id("row-errors")
    expect(errors).to_contain_text("4")
    expect(errors).to_contain_text("price `12,5O` is not a number")
    assert not Variant.objects.exists()

    # All or nothing (the default) refuses; switching to skip bad rows applies the rest.
    page.get_by_role("button", name="Confirm the import").click()
    expect(page.get_by_test_id("job-error")).to_contain_text("all-or-nothing")
    page.get_by_label("Skip the bad rows, write the good ones").check()
    page.get_by_role("button", name="Confirm the import").click()
    expect(page.get_by_test_id("job")).to_have_attribute("data-status", "applied")
    expect(page.get_by_test_id("result")).to_contain_text("2 stock movements")
    expect(page.get_by_test_id("error-file")).to_be_visible()

    assert sorted(Variant.objects.values_list("sku", flat=True)) == ["E2E-TEE-M", "E2E-TEE-S"]
    job_row = ImportJob.objects.get()
    assert list(
        Movement.objects.filter(reference_type="import", reference_id=str(job_row.pk))
        .order_by("variant__sku")
        .values_list("variant__sku", "delta_on_hand")
    ) == [("E2E-TEE-M", 3), ("E2E-TEE-S", 5)]

    # The job is listed with its outcome.
    page.get_by_role("complementary").get_by_role("link", name="Imports").click()
    expect(page.get_by_test_id("jobs")).to_contain_text("tees.csv")
    expect(page.get_by_test_id("jobs")).to_contain_text("Applied")
