from apps.catalog.models import Variant
from apps.imports.models import ImportJob
from apps.imports.services import import_job_confirm

from .helpers import csv_bytes, run


def test_catalog_import_creates_variants(hq_admin):
    data = csv_bytes(
        [["A-1", "tee", "Tee", "12.50", "123", "Women > Tops"], ["A-2", "tee", "", "13", "", ""]]
    )
    job = run(hq_admin, data)
    assert job.status == ImportJob.Status.PREVIEWED, job.message
    assert (job.count_create, job.count_invalid) == (2, 0), job.row_errors
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert job.status == ImportJob.Status.APPLIED, job.message
    assert Variant.objects.get(sku="A-1").product.category.path == "Women > Tops"
