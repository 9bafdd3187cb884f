"""Celery tasks: take a job id (or nothing, from beat), call the service, safe to run twice."""

from celery import shared_task

from . import retention
from .services import import_job_apply, import_job_validate, statistics_refresh


@shared_task(name="imports.validate")
def import_validate(job_id: int) -> str:
    return import_job_validate(job_id=job_id).status


@shared_task(name="imports.apply")
def import_apply(job_id: int) -> str:
    return import_job_apply(job_id=job_id).status


@shared_task(name="imports.statistics_refresh")
def import_statistics_refresh() -> None:
    statistics_refresh()


@shared_task(name="imports.files_purge")
def import_files_purge() -> int:
    return retention.import_files_purge()
