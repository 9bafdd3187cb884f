"""The preview's plumbing: progress per chunk while validating, and the upload's cells
read from the spreadsheet once (the apply reads them back)."""

from random import Random

import pytest
from django.core.files.storage import default_storage

from apps.catalog.models import Variant
from apps.imports import parsers, services, validation
from apps.imports.formats import header_map, rows_map
from apps.imports.models import ImportJob
from apps.imports.parsers import table_read
from apps.imports.plans import plan_path
from apps.imports.services import import_job_confirm
from apps.imports.validation import catalog_preview

from .helpers import csv_bytes, run

pytestmark = pytest.mark.django_db

ROWS = [[f"S{i}", "tee", "Tee", "5", f"9{i:05d}", ""] for i in range(7)]


def test_validation_reports_progress_per_chunk(hq_admin, monkeypatch):
    monkeypatch.setattr(validation, "CHUNK", 2)
    table = table_read(csv_bytes(ROWS), "x.csv")
    seen = []
    preview = catalog_preview(
        rows_map(table, header_map(table, "catalog")[0]), actor=hq_admin, progress=seen.append
    )
    assert seen == [2, 4, 6]
    assert preview.counts()["create"] == 7


def test_the_job_shows_validation_progress(hq_admin, monkeypatch):
    monkeypatch.setattr(validation, "CHUNK", 3)
    seen = []
    real_preview = validation.catalog_preview

    def watching(rows, **kwargs):
        report = kwargs["progress"]

        def progress(done):
            report(done)
            seen.append(ImportJob.objects.values_list("rows_done", "rows_total").get())

        return real_preview(rows, **{**kwargs, "progress": progress})

    monkeypatch.setattr(services, "catalog_preview", watching)
    job = run(hq_admin, csv_bytes(ROWS))
    assert job.status == "previewed"
    assert seen == [(3, 7), (6, 7)]
    assert (job.rows_done, job.rows_total) == (7, 7)


def test_an_apply_that_validates_again_reads_the_cells_kept_by_the_validation(
    hq_admin, monkeypatch
):
    job = run(hq_admin, csv_bytes(ROWS), filename="cells.csv")
    assert job.status == "previewed"
    # Without its stored plan the apply validates the file again.
    default_storage.delete(plan_path(job))

    def must_not_read(*args, **kwargs):
        raise AssertionError("the file was parsed again")

    monkeypatch.setattr(services, "table_read", must_not_read)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert job.status == "applied", job.message
    assert Variant.objects.count() == 7


def test_damaged_kept_cells_are_read_from_the_file_again(hq_admin, monkeypatch):
    job = run(hq_admin, csv_bytes(ROWS), filename="cells.csv")
    folder = "imports/cells"
    kept = [name for name in default_storage.listdir(folder)[1] if job.sha256 in name]
    assert len(kept) == 1
    with default_storage.open(f"{folder}/{kept[0]}", "wb") as handle:
        handle.write(b"not what was written")
    default_storage.delete(plan_path(job))
    reads = []
    real_read = parsers.table_read

    def counting(*args, **kwargs):
        reads.append(1)
        return real_read(*args, **kwargs)

    monkeypatch.setattr(services, "table_read", counting)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert job.status == "applied", job.message
    assert reads == [1]
    assert Variant.objects.count() == 7


def reads_counted(monkeypatch) -> list[str]:
    reads: list[str] = []
    real_read = parsers.table_read

    def counting(data, filename):
        reads.append(filename)
        return real_read(data, filename)

    monkeypatch.setattr(services, "table_read", counting)
    return reads


def test_the_same_file_uploaded_again_is_not_parsed_again(hq_admin, monkeypatch):
    reads = reads_counted(monkeypatch)
    first = run(hq_admin, csv_bytes(ROWS), filename="cells.csv")
    again = run(hq_admin, csv_bytes(ROWS), filename="other name.csv")
    assert reads == ["cells.csv"]
    assert again.file != first.file
    fields = ("status", "count_create", "count_invalid", "row_errors", "samples")
    assert [getattr(again, f) for f in fields] == [getattr(first, f) for f in fields]
    # Other bytes are read from their own file.
    run(hq_admin, csv_bytes(ROWS[:3]), filename="cells.csv")
    assert reads == ["cells.csv", "cells.csv"]


def test_bytes_read_as_csv_are_still_refused_under_a_workbook_name(hq_admin, monkeypatch):
    reads = reads_counted(monkeypatch)
    assert run(hq_admin, csv_bytes(ROWS), filename="cells.csv").status == "previewed"
    job = run(hq_admin, csv_bytes(ROWS), filename="cells.xlsx")
    assert job.status == "refused"
    assert "is not an Excel workbook" in job.message
    assert reads == ["cells.csv", "cells.xlsx"]


@pytest.mark.parametrize("seed", range(30))
def test_cells_read_by_blocks_are_those_read_cell_by_cell(monkeypatch, seed):
    """Random sheets (blank rows, short and long rows, blank first cells, numbers,
    booleans, quoted formulas), read a few rows at a time: the rows kept and their texts
    are those of cell_text on each cell, numbered as the user sees them."""
    random = Random(seed)
    monkeypatch.setattr(parsers, "ROWS_BLOCK", random.choice([1, 3, 7, 50]))
    cells = ["", " a ", "b", "'=x", None, 1.0, 2.5, 7, True, "", "", "c d"]
    header = ["sku", "name", "price", "stock"]
    raw = [header]
    for _ in range(random.randint(0, 40)):
        if random.random() < 0.2:
            raw.append([])
            continue
        length = random.randint(1, 6)
        values = [random.choice(cells) for _ in range(length)]
        if random.random() < 0.6 and values[0] in ("", None):
            values[0] = "x"  # most rows have their first cell filled
        raw.append(values)
    width = len(header)
    expected = []
    for number, values in enumerate(raw[1:], start=2):
        texts = [parsers.cell_text(v) for v in values[:width]]
        texts += [""] * (width - len(texts))
        if any(texts) or any(parsers.cell_text(v) for v in values[width:]):
            expected.append((number, texts))
    assert parsers._table_from(iter(raw), "xlsx").rows == expected
