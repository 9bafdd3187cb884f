"""What a finished import keeps, and for how long (OMO_IMPORT_RETENTION_DAYS).

An upload is the retailer's whole catalog or stock sheet; it is needed until its job
finishes, not for ever. OMO_IMPORT_RETENTION_DAYS after a job finished (applied,
refused, failed or cancelled), beat deletes its folder: the uploaded file, the error
file, the preview's plan, the apply's progress and cancel files. The error file goes with the upload
because it is the upload's own rows, and the job row keeps the first ERRORS_KEPT row
errors and the counts. The job row stays for good: who, when, which file, the outcome,
and the file's sha256 (a delta sheet is still not added a second time, however old the
first import). Parsed cells (kept by content) go once no kept job has that content.
A job still running or awaiting a confirm is never touched.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime, timedelta
from pathlib import PurePath

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from .models import ImportJob
from .services import CELLS_FOLDER

Status = ImportJob.Status
FINISHED = (Status.APPLIED, Status.REFUSED, Status.FAILED, Status.CANCELLED)
# import_job_create stores each upload in a folder of its own; nothing else is in one.
JOB_FOLDER = re.compile(r"imports/[0-9a-f]{32}")
CELLS_NAME = re.compile(r"v\d+-(?P<digest>[0-9a-f]{64})-")


def import_files_purge() -> int:
    """Delete the stored files of the jobs that finished more than
    OMO_IMPORT_RETENTION_DAYS ago, and the parsed cells no other job needs; returns how
    many jobs were purged. Safe to run twice, and beside uploads and applies."""
    now = timezone.now()
    cutoff = now - timedelta(days=settings.OMO_IMPORT_RETENTION_DAYS)
    expired = ImportJob.objects.filter(
        status__in=FINISHED, finished_at__lt=cutoff, purged_at__isnull=True
    ).only("pk", "file", "error_file")
    purged = 0
    for job in expired.iterator():
        # Files first: a run stopped in between leaves the job to the next run.
        _job_files_delete(job)
        purged += ImportJob.objects.filter(pk=job.pk, purged_at__isnull=True).update(purged_at=now)
    _cells_delete(cutoff)
    return purged


def _job_files_delete(job: ImportJob) -> None:
    folder = str(PurePath(job.file).parent)
    names = {job.file, job.error_file} - {""}
    if JOB_FOLDER.fullmatch(folder):
        with contextlib.suppress(FileNotFoundError):
            names.update(f"{folder}/{name}" for name in default_storage.listdir(folder)[1])
    for name in sorted(names):
        default_storage.delete(name)
    if JOB_FOLDER.fullmatch(folder):
        # The folder itself, where the storage has folders (FileSystemStorage: rmdir).
        with contextlib.suppress(OSError):
            default_storage.delete(folder)


def _cells_delete(cutoff: datetime) -> None:
    """Parsed cells whose content no kept job has, written before the cutoff. A file
    being validated right now may not have its sha256 on its job yet: cells it writes
    now are newer than the cutoff, but the same bytes uploaded again after their jobs
    were purged find their old cells, which may go while they are read. That only
    costs a parse: _table_read_once reads the upload itself when its cells are missing."""
    kept = set(
        ImportJob.objects.filter(purged_at__isnull=True)
        .exclude(sha256="")
        .values_list("sha256", flat=True)
    )
    try:
        names = default_storage.listdir(CELLS_FOLDER)[1]
    except FileNotFoundError:
        return
    for name in names:
        found = CELLS_NAME.match(name)
        if found and found["digest"] in kept:
            continue
        path = f"{CELLS_FOLDER}/{name}"
        try:
            if default_storage.get_modified_time(path) >= cutoff:
                continue
        except FileNotFoundError:
            continue
        default_storage.delete(path)
