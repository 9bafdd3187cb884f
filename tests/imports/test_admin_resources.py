"""django-import-export's own row-by-row path (admin, benchmark baseline)."""

import tablib

from apps.catalog.models import Variant
from apps.imports.resources import VariantAdminResource
from tests.factories import ProductFactory, UserFactory


def test_plain_model_resource_import_records_catalog_changes(db):
    ProductFactory(handle="tee")
    dataset = tablib.Dataset(headers=["sku", "product_handle", "price", "active", "tracking"])
    dataset.append(["A", "tee", "10.00", "1", "none"])
    result = VariantAdminResource().import_data(dataset, dry_run=False, raise_errors=True)
    assert result.totals["new"] == 1
    assert Variant.objects.get(sku="A").change_seq > 0
    # Importing it again: skipped as unchanged, the cursor stays.
    seq = Variant.objects.get(sku="A").change_seq
    result = VariantAdminResource().import_data(dataset, dry_run=False, raise_errors=True)
    assert result.totals["skip"] == 1
    assert Variant.objects.get(sku="A").change_seq == seq


def test_admin_changelists_with_import_export(client, db):
    admin_user = UserFactory(email="root@example.test", is_superuser=True, is_staff=True)
    client.force_login(admin_user)
    for url in (
        "/admin/imports/variantrecord/",
        "/admin/imports/variantrecord/import/",
        "/admin/imports/productrecord/export/",
        "/admin/imports/importjob/",
    ):
        assert client.get(url).status_code == 200, url
