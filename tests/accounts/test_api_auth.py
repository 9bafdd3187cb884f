import pytest
from django.utils import timezone

from apps.accounts.models import ApiClient

pytestmark = pytest.mark.django_db

SESSION = "/api/v1/pos/session"


def _assert_error_body(response, status, code):
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["errors"] == []


def test_missing_token_is_401_with_the_contract_body(api):
    _assert_error_body(api.get(SESSION), 401, "not_authenticated")


@pytest.mark.parametrize(
    "header", ["Token nope", "Token abcdefgh.wrong-secret", "Token", "Token a b", "Bearer x"]
)
def test_unknown_or_malformed_token_is_401(api, device_a, header):
    response = api.get(SESSION, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["code"] in {"authentication_failed", "not_authenticated"}


def test_a_right_prefix_with_a_wrong_secret_is_401(api, device_a):
    _client, key = device_a
    forged = key.split(".")[0] + ".forged-secret"
    _assert_error_body(
        api.get(SESSION, HTTP_AUTHORIZATION=f"Token {forged}"), 401, "authentication_failed"
    )


def test_revoked_token_is_401(api, device_a):
    client, key = device_a
    ApiClient.objects.filter(pk=client.pk).update(revoked_at=timezone.now())
    _assert_error_body(
        api.get(SESSION, HTTP_AUTHORIZATION=f"Token {key}"), 401, "authentication_failed"
    )


def test_device_session_names_the_device_and_its_location(device_api, device_a, store_a, settings):
    response = device_api.get(SESSION)
    assert response.status_code == 200
    body = response.json()
    assert body["device"] == {"id": device_a[0].pk, "name": "Till 1"}
    assert body["location"] == {
        "code": "SA1",
        "name": "Store A",
        "kind": "store",
        "timezone": "Europe/Paris",
        "currency": settings.OMO_CURRENCY,
    }
    assert body["server_time"]


def test_integration_session_has_no_device_and_no_location(integration_api):
    body = integration_api.get(SESSION).json()
    assert body["device"] is None and body["location"] is None


def test_key_is_stored_hashed_and_last_use_is_recorded(device_api, device_a):
    client, key = device_a
    stored = ApiClient.objects.get(pk=client.pk)
    assert key.split(".")[1] not in (stored.key_hash, stored.key_prefix)
    assert stored.last_used_at is None
    device_api.get(SESSION)
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_a_logged_in_browser_session_does_not_open_the_api(client, hq_admin):
    client.force_login(hq_admin)
    assert client.get(SESSION).status_code == 401
