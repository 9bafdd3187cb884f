"""NUL characters never reach the database (PostgreSQL text cannot store them)."""

import pytest

from apps.accounts.models import ApiClient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url", ["/stock/%00/", "/stores/%00/", "/orders/?member=a%00b", "/catalog/?q=%00"]
)
def test_nul_in_path_or_query_is_400_for_screens(client, manager_a, url):
    client.force_login(manager_a)
    response = client.get(url)
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_nul_in_a_form_post_is_400_and_changes_nothing(client, manager_a, store_a):
    client.force_login(manager_a)
    client.get(f"/stores/{store_a.code}/")
    response = client.post("/stores/switch/", {"location": "SA1\x00"})
    assert response.status_code == 400
    assert client.session["current_location"] == "SA1"


@pytest.mark.parametrize("body", ['{"name": "a\\u0000b"}', '{"name": "a\x00b"}'])
def test_nul_in_a_json_body_is_the_contract_400(device_api, body):
    response = device_api.generic(
        "POST", "/api/v1/sales", body.encode(), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "NUL" in response.json()["detail"]


def test_nul_in_an_api_query_is_the_contract_400(device_api, device_a):
    response = device_api.get("/api/v1/stock?sku=A%00")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert ApiClient.objects.count() == 1


def test_ordinary_requests_pass(client, manager_a, store_a):
    client.force_login(manager_a)
    assert client.get(f"/stores/{store_a.code}/?q=plain").status_code == 200
