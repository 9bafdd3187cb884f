"""Reads of import jobs, scoped: HQ sees every job, others their own uploads."""

from django.db.models import QuerySet

from .models import ImportJob


def import_job_list(*, actor) -> QuerySet[ImportJob]:
    jobs = ImportJob.objects.select_related("uploaded_by", "location")
    if actor is None or not actor.is_hq:
        jobs = jobs.filter(uploaded_by=actor)
    return jobs.order_by("-created_at", "-id")
