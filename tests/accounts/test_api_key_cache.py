"""The per-process cache of checked API keys (apps.accounts.services), which the test
settings turn off for every other test."""

import pytest
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import ApiClient

pytestmark = pytest.mark.django_db

SESSION = "/api/v1/pos/session"


@pytest.fixture
def cache_on(settings):
    settings.OMO_API_KEY_CACHE_SECONDS = 5
    services.api_key_cache_clear()
    yield
    services.api_key_cache_clear()


def test_a_checked_key_is_not_read_again_within_the_ttl(
    cache_on, device_api, django_assert_num_queries
):
    assert device_api.get(SESSION).status_code == 200  # reads the client, records last use
    with django_assert_num_queries(0):
        assert device_api.get(SESSION).status_code == 200


def test_each_request_gets_its_own_copy_of_the_client(cache_on, device_a):
    first = services.api_client_authenticate_cached(device_a[1])
    first.name = "changed by one request"
    second = services.api_client_authenticate_cached(device_a[1])
    assert second.name == "Till 1" and second is not first
    assert second.location.code == "SA1"


def test_a_wrong_secret_is_never_cached(cache_on, api, device_a):
    # The right key is cached first: a cache keyed by prefix would let the forgery in.
    assert api.get(SESSION, HTTP_AUTHORIZATION=f"Token {device_a[1]}").status_code == 200
    prefix = device_a[1].split(".")[0]
    for _ in range(2):
        response = api.get(SESSION, HTTP_AUTHORIZATION=f"Token {prefix}.forged")
        assert response.status_code == 401
    assert set(services._key_cache) == {device_a[1]}


def test_a_revocation_here_takes_effect_at_once(cache_on, device_api, device_a, hq_admin):
    assert device_api.get(SESSION).status_code == 200
    services.api_client_revoke(actor=hq_admin, client=device_a[0])
    assert device_api.get(SESSION).status_code == 401


def test_a_revocation_elsewhere_takes_effect_after_the_ttl(
    cache_on, device_api, device_a, monkeypatch
):
    assert device_api.get(SESSION).status_code == 200
    ApiClient.objects.filter(pk=device_a[0].pk).update(revoked_at=timezone.now())
    assert device_api.get(SESSION).status_code == 200  # another process revoked it
    later = services.time.monotonic() + 5.1
    monkeypatch.setattr(services.time, "monotonic", lambda: later)
    assert device_api.get(SESSION).status_code == 401


def test_with_the_cache_off_every_request_reads_the_client(
    settings, device_api, django_assert_num_queries
):
    settings.OMO_API_KEY_CACHE_SECONDS = 0
    device_api.get(SESSION)
    with django_assert_num_queries(1):
        assert device_api.get(SESSION).status_code == 200
