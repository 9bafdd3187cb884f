"""Review fixes: no job stuck by what a file contains, control characters, re-imported
delta sheets, duplicates beside other row errors."""

import pytest
from django.utils import timezone

from apps.catalog.models import Product, Variant
from apps.core.errors import ValidationFailed
from apps.imports import cells, services
from apps.imports.cells import CellError
from apps.imports.models import ImportJob
from apps.imports.services import import_job_confirm
from apps.inventory.models import Movement, StockLevel
from tests.factories import VariantFactory

from .helpers import run


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1e999999999999", "on_hand `1e999999999999` is too large"),
        ("-1e999999999999", "on_hand `-1e999999999999` is too large"),
        ("1e-999999999999", "on_hand `1e-999999999999` is not a whole number"),
        ("NaN", "on_hand `NaN` is not a whole number"),
    ],
)
def test_whole_number_never_overflows(text, message):
    with pytest.raises(CellError) as caught:
        cells.whole_number(text, "on_hand")
    assert str(caught.value) == message


def test_huge_exponent_is_a_row_error_not_a_stuck_job(manager_a, store_a):
    VariantFactory(sku="A")
    job = run(manager_a, b"sku,location,on_hand\nA,SA1,1e999999999999\n", filename="s.csv")
    assert job.status == "previewed"
    assert job.count_invalid == 1
    assert job.row_errors == [
        {
            "row": 2,
            "column": "on_hand",
            "value": "1e999999999999",
            "message": "on_hand `1e999999999999` is too large",
        }
    ]
    with pytest.raises(ValidationFailed):
        import_job_confirm(actor=manager_a, job_id=job.pk, run_now=True)
    assert ImportJob.objects.get(pk=job.pk).status == "previewed"
    assert not Movement.objects.exists() and not StockLevel.objects.exists()


def test_unexpected_error_in_validation_refuses_the_job(hq_admin, store_a, monkeypatch):
    VariantFactory(sku="A")

    def broken(rows, *, actor):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "stock_preview", broken)
    job = run(hq_admin, b"sku,location,on_hand\nA,SA1,3\n", filename="s.csv")
    assert job.status == "refused"
    assert job.message == services.UNEXPECTED_VALIDATE
    assert job.finished_at is not None
    assert not Movement.objects.exists() and not StockLevel.objects.exists()


def test_unexpected_error_in_apply_fails_the_job_and_writes_nothing(hq_admin, store_a, monkeypatch):
    data = b"sku,product_handle,product_name,price,stock@SA1\nA,tee,Tee,1,3\n"
    job = run(hq_admin, data)
    assert job.status == "previewed", job.message
    real_apply_batches = services.stock_apply_batches

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "stock_apply_batches", broken)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert job.status == "failed"
    assert job.message == services.UNEXPECTED_APPLY
    assert not Variant.objects.exists() and not Product.objects.exists()
    assert not Movement.objects.exists() and not StockLevel.objects.exists()
    # The user uploads the file again and it applies.
    monkeypatch.setattr(services, "stock_apply_batches", real_apply_batches)
    job = run(hq_admin, data)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert job.status == "applied"
    assert StockLevel.objects.get().on_hand == 3


def test_duplicate_sku_beside_a_row_with_another_error_is_not_written(hq_admin):
    data = b"sku,product_handle,product_name,price\nA1,h1,Tee,10\nA1,h1,Tee,abc\n"
    job = run(hq_admin, data, mode="skip_invalid")
    assert job.status == "previewed", job.message
    duplicate = "sku `A1` appears on rows 2, 3: each may appear once"
    assert [(e["row"], e["column"], e["message"]) for e in job.row_errors] == [
        (2, "sku", duplicate),
        (3, "price", "price `abc` is not a number"),
        (3, "sku", duplicate),
    ]
    assert (job.count_create, job.count_update, job.count_invalid) == (0, 0, 2)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert job.status == "applied"
    assert not Variant.objects.exists() and not Product.objects.exists()


def test_duplicate_sku_and_location_beside_a_row_with_another_error(hq_admin, store_a):
    VariantFactory(sku="A")
    data = b"sku,location,on_hand\nA,SA1,5\nA,sa1,abc\n"
    job = run(hq_admin, data, filename="s.csv", mode="skip_invalid")
    assert job.status == "previewed", job.message
    duplicate = "sku and location `A` appears on rows 2, 3: each may appear once"
    assert [(e["row"], e["column"], e["message"]) for e in job.row_errors] == [
        (2, "sku", duplicate),
        (3, "on_hand", "on_hand `abc` is not a whole number"),
        (3, "sku", duplicate),
    ]
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert job.status == "applied"
    assert not Movement.objects.exists() and not StockLevel.objects.exists()


def padded_catalog(last_row: bytes) -> bytes:
    """400 good rows (well past the first 4 KB), then last_row."""
    lines = [b"sku,product_handle,product_name,price"]
    lines += [f"P{n:04d},pad,Padding product,1".encode() for n in range(400)]
    return b"\n".join([*lines, last_row]) + b"\n"


def test_nul_after_the_first_4kb_is_a_row_error_and_is_never_written(hq_admin):
    data = padded_catalog(b"B\x00X,h,Name\x00,1")
    assert b"\x00" not in data[:4096]
    job = run(hq_admin, data, mode="skip_invalid")
    assert job.status == "previewed", job.message
    assert job.row_errors == [
        {
            "row": 402,
            "column": "sku",
            "value": "B\\x00X",
            "message": "sku contains a control character (U+0000): remove it",
        },
        {
            "row": 402,
            "column": "product_name",
            "value": "Name\\x00",
            "message": "product_name contains a control character (U+0000): remove it",
        },
    ]
    assert (job.count_create, job.count_invalid) == (400, 1)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert job.status == "applied", job.message
    assert Variant.objects.count() == 400
    assert not Variant.objects.filter(sku__contains="X").exists()
    assert list(Product.objects.values_list("handle", flat=True)) == ["pad"]


@pytest.mark.parametrize("cell", ["A\x01", "A\x7f", "A\tB", "A\nB"])
def test_a_sku_with_any_control_character_is_a_row_error(hq_admin, cell):
    with pytest.raises(CellError):
        cells.code_text(cell, "sku")


def test_line_breaks_in_text_fields_are_kept(hq_admin):
    data = b'sku,product_handle,product_name,price,description\nA,h,Tee,1,"two\r\nlines\tx"\n'
    job = run(hq_admin, data)
    assert job.status == "previewed" and not job.row_errors, job.row_errors
    import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert Product.objects.get().description == "two\r\nlines\tx"


def test_nul_in_a_stock_sheet_is_a_row_error(hq_admin, store_a):
    VariantFactory(sku="A")
    # Past the first 4 KB: 400 rows of skus not in the catalog (row errors of their own).
    pad = b"".join(f"PAD{n:04d},SA1,1\n".encode() for n in range(400))
    data = b"sku,location,on_hand\nA,SA1,1\n" + pad + b"A\x00,SA1,2\nA,S\x00A1,3\n"
    assert b"\x00" not in data[:4096]
    job = run(hq_admin, data, filename="s.csv", mode="skip_invalid")
    assert job.status == "previewed", job.message
    assert job.count_invalid == 402
    assert [(e["row"], e["column"], e["message"]) for e in job.row_errors[-2:]] == [
        (403, "sku", "sku contains a control character (U+0000): remove it"),
        (404, "location", "location contains a control character (U+0000): remove it"),
    ]
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert job.status == "applied"
    assert StockLevel.objects.get().on_hand == 1


DELTA_SHEET = b"sku,location,on_hand,delta\nA,SA1,,5\nB,SA1,7,\n"


def confirmed(actor, data, **kwargs):
    job = run(actor, data, filename="receipt.csv", **kwargs)
    assert job.status == "previewed", job.message
    return import_job_confirm(actor=actor, job_id=job.pk, run_now=True)


def levels():
    return dict(StockLevel.objects.values_list("variant__sku", "on_hand"))


def test_the_same_delta_sheet_twice_changes_nothing_the_second_time(hq_admin, store_a):
    VariantFactory(sku="A")
    VariantFactory(sku="B")
    first = confirmed(hq_admin, DELTA_SHEET)
    assert (first.status, first.stock_movements) == ("applied", 2)
    assert levels() == {"A": 5, "B": 7}
    assert first.sha256 and len(first.sha256) == 64

    job = run(hq_admin, DELTA_SHEET, filename="receipt again.csv")
    assert job.status == "previewed"
    assert job.sha256 == first.sha256
    assert (job.count_update, job.count_unchanged, job.count_invalid) == (0, 2, 0)
    assert [w for w in job.warnings if "already imported" in w] == [
        f"This file was already imported (import {first.pk}, "
        f"{timezone.localtime(first.finished_at):%Y-%m-%d %H:%M}): its delta rows are not "
        "added again. To add stock again, upload a new file."
    ]
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert (job.status, job.stock_movements) == ("applied", 0)
    assert levels() == {"A": 5, "B": 7}
    assert Movement.objects.count() == 2


def test_the_same_delta_sheet_confirmed_twice_before_either_applied(hq_admin, store_a):
    VariantFactory(sku="A")
    VariantFactory(sku="B")
    one = run(hq_admin, DELTA_SHEET, filename="receipt.csv")
    two = run(hq_admin, DELTA_SHEET, filename="receipt.csv")
    assert (one.count_update, two.count_update) == (2, 2)  # neither applied yet
    assert import_job_confirm(actor=hq_admin, job_id=one.pk, run_now=True).status == "applied"
    two = import_job_confirm(actor=hq_admin, job_id=two.pk, run_now=True)
    assert (two.status, two.stock_movements, two.count_unchanged) == ("applied", 0, 2)
    assert levels() == {"A": 5, "B": 7}


def test_another_file_with_the_same_delta_is_added(hq_admin, store_a):
    VariantFactory(sku="A")
    VariantFactory(sku="B")
    confirmed(hq_admin, DELTA_SHEET)
    job = confirmed(hq_admin, DELTA_SHEET.replace(b"B,SA1,7,", b"B,SA1,8,"))
    assert (job.status, job.stock_movements) == ("applied", 2)
    assert levels() == {"A": 10, "B": 8}


def test_a_delta_sheet_not_applied_before_is_applied(hq_admin, store_a):
    VariantFactory(sku="A")
    VariantFactory(sku="B")
    cancelled = run(hq_admin, DELTA_SHEET, filename="receipt.csv")
    services.import_job_cancel(actor=hq_admin, job_id=cancelled.pk)
    job = confirmed(hq_admin, DELTA_SHEET)
    assert (job.status, job.stock_movements) == ("applied", 2)
    assert not [w for w in job.warnings if "already imported" in w]
    assert levels() == {"A": 5, "B": 7}
