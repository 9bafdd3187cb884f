"""Demo: the sample catalog file, uploaded and checked, waiting on the Imports screen.

A newcomer opens Imports, sees `demo-catalog.csv` ready to confirm (42 new SKUs, stock
at S01 and W01), and confirms it; the file itself is apps/imports/samples/ for
uploading again from the screen. Idempotent: the job is created once.
"""

from __future__ import annotations

from pathlib import Path

from apps.accounts.models import User

from .models import ImportJob
from .services import import_job_create

SAMPLE = Path(__file__).resolve().parent / "samples" / "demo-catalog.csv"


def seed(users: dict[str, User]) -> ImportJob | None:
    uploader = next((user for user in users.values() if user.is_hq), None)
    if uploader is None or ImportJob.objects.filter(original_filename=SAMPLE.name).exists():
        return None
    return import_job_create(
        actor=uploader, filename=SAMPLE.name, content=SAMPLE.read_bytes(), run_now=True
    )
