"""Retention: finished imports lose their stored files after OMO_IMPORT_RETENTION_DAYS;
the job rows, running jobs and jobs awaiting a confirm are kept."""

import os
from datetime import timedelta
from pathlib import Path, PurePath

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from apps.imports import services, tasks
from apps.imports.models import ImportJob
from apps.imports.retention import import_files_purge
from apps.imports.services import CELLS_FOLDER, import_job_cancel, import_job_confirm
from apps.inventory.models import Movement, StockLevel
from tests.factories import VariantFactory

from .helpers import csv_bytes, run

Status = ImportJob.Status


def rows(sku: str) -> list[list[str]]:
    """A valid row and an invalid one (so the job has an error file), one per file."""
    return [[sku, sku.lower(), "Tee", "12.50", "", ""], [f"{sku}-BAD", "x", "", "12,5O", "", ""]]


def finished_days_ago(job: ImportJob, days: int) -> ImportJob:
    ImportJob.objects.filter(pk=job.pk).update(
        finished_at=timezone.now() - timedelta(days=days, minutes=1)
    )
    job.refresh_from_db()
    return job


def applied(actor, sku: str) -> ImportJob:
    job = run(actor, csv_bytes(rows(sku)), filename=f"{sku}.csv", mode="skip_invalid")
    job = import_job_confirm(actor=actor, job_id=job.pk, run_now=True)
    assert job.status == Status.APPLIED, job.message
    assert job.error_file and default_storage.exists(job.error_file)
    return job


def folder_of(job: ImportJob) -> Path:
    return Path(settings.MEDIA_ROOT) / PurePath(job.file).parent


def cells_of(job: ImportJob) -> list[str]:
    return [name for name in default_storage.listdir(CELLS_FOLDER)[1] if job.sha256 in name]


def cells_written_days_ago(days: int) -> None:
    """Parsed cells as old as the jobs the test ages (they were written just now)."""
    when = (timezone.now() - timedelta(days=days)).timestamp()
    for name in default_storage.listdir(CELLS_FOLDER)[1]:
        os.utime(default_storage.path(f"{CELLS_FOLDER}/{name}"), (when, when))


def test_files_of_old_finished_jobs_go_and_their_rows_stay(hq_admin):
    old_applied = finished_days_ago(applied(hq_admin, "OLD-APPLIED"), 31)
    refused = run(hq_admin, b"name\nno sku column\n", filename="refused.csv")
    assert refused.status == Status.REFUSED
    refused = finished_days_ago(refused, 40)
    cancelled = run(hq_admin, csv_bytes(rows("OLD-CANCELLED")), filename="cancelled.csv")
    import_job_cancel(actor=hq_admin, job_id=cancelled.pk)
    cancelled = finished_days_ago(cancelled, 31)
    # A cancel asked while applying leaves its marker beside the upload.
    default_storage.save(f"{PurePath(cancelled.file).parent}/cancel", ContentFile(b"cancel"))
    before = {job.pk: ImportJob.objects.values().get(pk=job.pk) for job in (old_applied, refused)}

    assert import_files_purge() == 3

    for job in (old_applied, refused, cancelled):
        assert not default_storage.exists(job.file)
        assert not folder_of(job).exists()
    assert not default_storage.exists(old_applied.error_file)
    for pk, values in before.items():
        after = ImportJob.objects.values().get(pk=pk)
        assert after.pop("purged_at") is not None
        values.pop("purged_at")
        assert after == values  # who, when, which file, outcome, counts, errors, sha256
    assert ImportJob.objects.get(pk=old_applied.pk).row_errors[0]["message"] == (
        "price `12,5O` is not a number"
    )


def test_running_previewed_and_recent_jobs_keep_their_files(hq_admin):
    recent = finished_days_ago(applied(hq_admin, "RECENT"), 29)
    previewed = run(hq_admin, csv_bytes(rows("WAITING")), filename="waiting.csv")
    applying = run(hq_admin, csv_bytes(rows("APPLYING")), filename="applying.csv")
    uploaded = run(hq_admin, csv_bytes(rows("UPLOADED")), filename="uploaded.csv")
    long_ago = timezone.now() - timedelta(days=400)
    ImportJob.objects.filter(pk=previewed.pk).update(created_at=long_ago, validated_at=long_ago)
    # A worker died in the middle of these two: they wait for a retry, however old.
    ImportJob.objects.filter(pk=applying.pk).update(
        status=Status.APPLYING, created_at=long_ago, applying_at=long_ago
    )
    ImportJob.objects.filter(pk=uploaded.pk).update(status=Status.VALIDATING, created_at=long_ago)
    cells_written_days_ago(400)

    assert import_files_purge() == 0

    for job in (recent, previewed, applying, uploaded):
        assert default_storage.exists(job.file)
        assert len(cells_of(job)) == 1
        assert ImportJob.objects.get(pk=job.pk).purged_at is None
    assert default_storage.exists(recent.error_file)


def test_the_retention_is_the_setting(hq_admin, settings):
    settings.OMO_IMPORT_RETENTION_DAYS = 7
    week_old = finished_days_ago(applied(hq_admin, "WEEK"), 8)
    day_old = finished_days_ago(applied(hq_admin, "DAY"), 1)

    assert import_files_purge() == 1

    assert not default_storage.exists(week_old.file)
    assert default_storage.exists(day_old.file)


def must_not_parse(*args, **kwargs):
    raise AssertionError("the file was parsed again")


def test_parsed_cells_go_only_when_no_kept_job_has_the_same_file(hq_admin, monkeypatch):
    data = csv_bytes(rows("SHARED"))
    old = run(hq_admin, data, filename="shared.csv")
    import_job_cancel(actor=hq_admin, job_id=old.pk)
    old = finished_days_ago(old, 31)
    again = run(hq_admin, data, filename="shared again.csv")  # awaiting its confirm
    assert again.sha256 == old.sha256
    alone = run(hq_admin, csv_bytes(rows("ALONE")), filename="alone.csv")
    import_job_cancel(actor=hq_admin, job_id=alone.pk)
    alone = finished_days_ago(alone, 31)
    assert (len(cells_of(old)), len(cells_of(alone))) == (1, 1)
    cells_written_days_ago(31)
    # Cells of a file being validated right now, whose job has no sha256 yet.
    fresh = f"{CELLS_FOLDER}/v1-{'0' * 64}-other-200000.bin"
    default_storage.save(fresh, ContentFile(b"cells"))

    assert import_files_purge() == 2

    assert len(cells_of(again)) == 1
    assert cells_of(alone) == []
    assert default_storage.exists(fresh)
    assert default_storage.exists(again.file)
    # The kept cells are still read: the confirm does not parse the file again.
    monkeypatch.setattr(services, "table_read", must_not_parse)
    again = import_job_confirm(actor=hq_admin, job_id=again.pk, mode="skip_invalid", run_now=True)
    assert again.status == Status.APPLIED, again.message


def test_purging_twice_changes_nothing_the_second_time(hq_admin):
    job = finished_days_ago(applied(hq_admin, "TWICE"), 31)
    assert import_files_purge() == 1
    purged_at = ImportJob.objects.get(pk=job.pk).purged_at

    assert import_files_purge() == 0

    assert ImportJob.objects.get(pk=job.pk).purged_at == purged_at


DELTA_SHEET = b"sku,location,on_hand,delta\nA,SA1,,5\n"


def test_a_purged_delta_sheet_is_still_not_added_twice(hq_admin, store_a):
    VariantFactory(sku="A")
    first = run(hq_admin, DELTA_SHEET, filename="receipt.csv")
    first = import_job_confirm(actor=hq_admin, job_id=first.pk, run_now=True)
    assert (first.status, first.stock_movements) == (Status.APPLIED, 1)
    finished_days_ago(first, 90)
    assert import_files_purge() == 1

    job = run(hq_admin, DELTA_SHEET, filename="receipt.csv")
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)

    assert (job.status, job.stock_movements, job.count_unchanged) == (Status.APPLIED, 0, 1)
    assert StockLevel.objects.get().on_hand == 5
    assert Movement.objects.count() == 1


def test_the_page_of_a_purged_job_says_so(client, hq_admin):
    job = finished_days_ago(applied(hq_admin, "PAGE"), 31)
    client.force_login(hq_admin)
    page = client.get(reverse("imports:job", args=[job.pk])).content.decode()
    assert 'data-testid="error-file"' in page
    assert 'data-testid="purged"' not in page
    import_files_purge()

    response = client.get(reverse("imports:job", args=[job.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "The uploaded file and its error file were deleted on" in page
    assert "keep their files for 30 days" in page
    assert 'data-testid="error-file"' not in page
    assert "price `12,5O` is not a number" in page  # the kept row errors
    assert client.get(reverse("imports:errors", args=[job.pk])).status_code == 404


def test_beat_runs_the_purge_task(hq_admin):
    assert (
        settings.CELERY_BEAT_SCHEDULE["imports-files-purge"]["task"]
        == tasks.import_files_purge.name
    )
    job = finished_days_ago(applied(hq_admin, "BEAT"), 31)

    assert tasks.import_files_purge.delay().get() == 1

    assert not default_storage.exists(job.file)
