import pytest

from tests.factories import UserFactory, VariantFactory


@pytest.mark.django_db
def test_catalog_admin_is_read_only(client):
    superuser = UserFactory(email="root@example.test", is_superuser=True, is_staff=True)
    variant = VariantFactory(sku="ADM-1")
    client.force_login(superuser)
    listing = client.get("/admin/catalog/variant/")
    assert listing.status_code == 200
    assert "ADM-1" in listing.content.decode()
    assert client.get("/admin/catalog/variant/add/").status_code == 403
    response = client.post(
        f"/admin/catalog/variant/{variant.pk}/change/", {"sku": "CHANGED", "price": "1"}
    )
    assert response.status_code in (200, 403)
    variant.refresh_from_db()
    assert variant.sku == "ADM-1"
