"""The whole job through a real Celery worker (not eager): upload queues validation
after commit, confirm queues the apply; the page's progress comes from the database."""

import threading
import time

import pytest
from celery.contrib.testing.worker import start_worker

from apps.catalog.models import Variant
from apps.imports.models import ImportJob
from apps.imports.services import import_job_confirm, import_job_create
from omo_site.celery import app as celery_app

from .helpers import csv_bytes


def _forget_cached_backend():
    celery_app._backend_cache = None
    celery_app._local = threading.local()


@pytest.fixture
def real_worker(transactional_db):
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    _forget_cached_backend()
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield
    celery_app.conf.task_always_eager = previous
    _forget_cached_backend()


def _wait_for(job_id: int, status: str, seconds: float = 60) -> ImportJob:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = ImportJob.objects.get(pk=job_id)
        if job.status == status:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} stayed {job.status}, not {status}")


def test_upload_and_confirm_through_a_worker(real_worker, hq_admin):
    job = import_job_create(
        actor=hq_admin, filename="w.csv", content=csv_bytes([["W-1", "w", "W", "1", "", ""]])
    )
    job = _wait_for(job.pk, "previewed")
    assert job.count_create == 1
    import_job_confirm(actor=hq_admin, job_id=job.pk)
    _wait_for(job.pk, "applied")
    assert Variant.objects.filter(sku="W-1").exists()
