"""Review fixes: no job stuck by what a file contains, control characters, re-imported
delta sheets, duplicates beside other row errors."""

import pytest

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
    real_stock_apply = services.stock_apply

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "stock_apply", broken)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert job.status == "failed"
    assert job.message == services.UNEXPECTED_APPLY
    assert not Variant.objects.exists() and not Product.objects.exists()
    assert not Movement.objects.exists() and not StockLevel.objects.exists()
    # The user uploads the file again and it applies.
    monkeypatch.setattr(services, "stock_apply", real_stock_apply)
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
