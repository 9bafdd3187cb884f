"""The preview's plumbing: progress per chunk while validating, and the upload's cells
read from the spreadsheet once (the apply reads them back)."""

import pytest
from django.core.files.storage import default_storage

from apps.catalog.models import Variant
from apps.imports import parsers, services, validation
from apps.imports.formats import header_map, rows_map
from apps.imports.models import ImportJob
from apps.imports.parsers import table_read
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


def test_the_apply_reads_the_cells_kept_by_the_validation(hq_admin, monkeypatch):
    job = run(hq_admin, csv_bytes(ROWS), filename="cells.csv")
    assert job.status == "previewed"

    def must_not_read(*args, **kwargs):
        raise AssertionError("the file was parsed again")

    monkeypatch.setattr(services, "table_read", must_not_read)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert job.status == "applied", job.message
    assert Variant.objects.count() == 7


def test_damaged_kept_cells_are_read_from_the_file_again(hq_admin, monkeypatch):
    job = run(hq_admin, csv_bytes(ROWS), filename="cells.csv")
    folder = job.file.rsplit("/", 1)[0]
    kept = [name for name in default_storage.listdir(folder)[1] if name.startswith("cells-")]
    assert len(kept) == 1
    with default_storage.open(f"{folder}/{kept[0]}", "wb") as handle:
        handle.write(b"not what was written")
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
