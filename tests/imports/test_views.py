"""The import screens: upload, preview, confirm, result, error file, list."""

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse

from apps.catalog.models import Variant
from apps.imports import views
from apps.imports.models import ImportJob
from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from tests.factories import VariantFactory

from .helpers import csv_bytes

BAD_ROW = [["TEE-1", "tee", "Tee", "12.50", "", ""], ["TEE-2", "tee", "", "12,5O", "", ""]]


@pytest.fixture(autouse=True)
def run_tasks(monkeypatch, django_capture_on_commit_callbacks):
    """Tasks are queued after commit; in these (transaction-wrapped) tests, run each
    request's callbacks as its response returns, as a real commit would."""
    from django.test import Client

    original = Client.request

    def request(self, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return original(self, **kwargs)

    monkeypatch.setattr(Client, "request", request)


def upload(client, data, name="catalog.csv", **fields):
    return client.post(
        reverse("imports:index"),
        {"file": SimpleUploadedFile(name, data), "mode": "all_or_nothing", **fields},
    )


@pytest.fixture
def hq_client(client, hq_admin):
    client.force_login(hq_admin)
    return client


def test_upload_previews_counts_and_row_errors(hq_client):
    response = upload(hq_client, csv_bytes(BAD_ROW))
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("imports:job", args=[job.pk])
    page = hq_client.get(response.url).content.decode()
    assert job.status == "previewed"
    assert (job.count_create, job.count_invalid) == (1, 1)
    assert "price `12,5O` is not a number" in page
    assert not Variant.objects.exists()


def test_confirm_all_or_nothing_with_bad_rows_is_refused_and_writes_nothing(hq_client):
    upload(hq_client, csv_bytes(BAD_ROW))
    job = ImportJob.objects.get()
    response = hq_client.post(reverse("imports:confirm", args=[job.pk]), {"mode": "all_or_nothing"})
    assert response.status_code == 400
    assert "all-or-nothing" in response.content.decode()
    job.refresh_from_db()
    assert job.status == "previewed"
    assert not Variant.objects.exists()


def test_confirm_skip_invalid_applies_good_rows_and_offers_error_file(hq_client):
    upload(hq_client, csv_bytes(BAD_ROW))
    job = ImportJob.objects.get()
    response = hq_client.post(reverse("imports:confirm", args=[job.pk]), {"mode": "skip_invalid"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "applied"
    assert list(Variant.objects.values_list("sku", flat=True)) == ["TEE-1"]
    download = hq_client.get(reverse("imports:errors", args=[job.pk]))
    body = b"".join(download.streaming_content).decode("utf-8-sig")
    assert body.splitlines() == [
        "sku,product_handle,product_name,price,barcode,category,errors",
        'TEE-2,tee,,"12,5O",,,"price: price `12,5O` is not a number"',
    ]


def test_error_file_purged_while_being_sent_is_404(hq_client, monkeypatch):
    upload(hq_client, csv_bytes(BAD_ROW))
    job = ImportJob.objects.get()
    hq_client.post(reverse("imports:confirm", args=[job.pk]), {"mode": "skip_invalid"})
    job.refresh_from_db()
    assert job.error_file

    class PurgedMeanwhile:
        """The storage, with the retention purge deleting the file right after the
        view found it."""

        def exists(self, name):
            found = default_storage.exists(name)
            default_storage.delete(name)
            return found

        def open(self, name, mode):
            return default_storage.open(name, mode)

    monkeypatch.setattr(views, "default_storage", PurgedMeanwhile())
    assert hq_client.get(reverse("imports:errors", args=[job.pk])).status_code == 404
    assert not default_storage.exists(job.error_file)


def test_job_list_and_fragment_polling(hq_client, django_assert_max_num_queries):
    upload(hq_client, csv_bytes(BAD_ROW))
    upload(hq_client, csv_bytes(BAD_ROW), name="second.csv")
    with django_assert_max_num_queries(8):
        page = hq_client.get(reverse("imports:index")).content.decode()
    assert "second.csv" in page and "catalog.csv" in page
    job = ImportJob.objects.first()
    fragment = hq_client.get(reverse("imports:job", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and b'data-testid="job"' in fragment.content


def test_other_users_job_is_404(client, hq_admin, manager_a):
    client.force_login(hq_admin)
    upload(client, csv_bytes(BAD_ROW))
    job = ImportJob.objects.get()
    client.force_login(manager_a)
    assert client.get(reverse("imports:job", args=[job.pk])).status_code == 404
    assert client.post(reverse("imports:confirm", args=[job.pk])).status_code == 404


def test_manager_cannot_import_catalog(client, manager_a):
    client.force_login(manager_a)
    upload(client, csv_bytes(BAD_ROW))
    job = ImportJob.objects.get()
    assert job.status == "refused"
    assert "Only head office" in job.message
    assert not Variant.objects.exists()


def test_upload_not_a_spreadsheet_is_refused_cleanly(hq_client):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20
    response = upload(hq_client, png, name="photo.xlsx")
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert job.status == "refused"
    assert "is not an Excel workbook" in job.message


def test_running_job_polls_and_shows_progress_then_stops(hq_client):
    upload(hq_client, csv_bytes(BAD_ROW))
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(status="validating", rows_total=200, rows_done=50)
    page = hq_client.get(reverse("imports:job", args=[job.pk])).content.decode()
    assert 'hx-trigger="load delay:500ms"' in page
    assert '<progress value="50" max="200"' in page
    ImportJob.objects.filter(pk=job.pk).update(status="previewed")
    page = hq_client.get(reverse("imports:job", args=[job.pk])).content.decode()
    assert "hx-trigger" not in page.split('data-testid="job"')[1].split(">")[0]
    assert "<progress" not in page


def test_confirm_twice_over_http_is_409(hq_client):
    upload(hq_client, csv_bytes(BAD_ROW[:1]))
    job = ImportJob.objects.get()
    assert hq_client.post(reverse("imports:confirm", args=[job.pk])).status_code == 302
    response = hq_client.post(reverse("imports:confirm", args=[job.pk]))
    assert response.status_code == 409
    assert "can no longer be confirmed" in response.content.decode()
    assert Variant.objects.count() == 1


@pytest.mark.parametrize(
    ("kind", "file_type"),
    [("catalog", "csv"), ("catalog", "xlsx"), ("stock", "csv"), ("stock", "xlsx")],
)
def test_templates_download_and_import_as_their_format(hq_client, kind, file_type):
    from apps.imports.formats import format_detect
    from apps.imports.parsers import table_read

    response = hq_client.get(reverse("imports:template", args=[kind, file_type]))
    assert response.status_code == 200
    assert format_detect(table_read(response.content, f"t.{file_type}").header) == kind


def test_catalog_export_is_hq_only(client, manager_a, store_a, store_b):
    tee = VariantFactory(sku="TEE-M")
    with transaction.atomic():
        stock_apply(
            changes=[
                StockChange(tee.pk, store_a.pk, Reason.RECEIPT, on_hand=4),
                StockChange(tee.pk, store_b.pk, Reason.RECEIPT, on_hand=9),
            ],
            actor=Actor(),
        )
    client.force_login(manager_a)
    assert client.get(reverse("imports:export", args=["catalog", "csv"])).status_code == 404
    response = client.get(reverse("imports:export", args=["stock", "csv"]))
    assert response.status_code == 200
    rows = b"".join(response).decode("utf-8-sig").splitlines()
    # Only the store the manager runs: store B's level is not in their sheet.
    assert rows == ["sku,location,on_hand", "TEE-M,SA1,4"]


def test_associate_may_not_upload(client, associate_a):
    client.force_login(associate_a)
    response = upload(client, csv_bytes(BAD_ROW))
    assert response.status_code == 403
    assert "You do not manage any location" in response.content.decode()
    assert not ImportJob.objects.exists()
