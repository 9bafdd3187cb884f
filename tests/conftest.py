"""Shared fixtures, and the rule that CI never skips for lack of a service.

Tests marked `postgres` need real row locks; `redis` ones need a Redis server. Locally
on SQLite they are skipped with a reason; with CI=true a missing service fails them.
"""

import os

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import (
    HqAdminFactory,
    LocationFactory,
    associate_at,
    integration,
    manager_of,
    pos_device,
)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _redis_reachable() -> bool:
    if not settings.REDIS_URL:
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Browser tests last: Playwright's sync API keeps an event loop running in the main
    thread for the rest of the session, which async tests (websockets) cannot share."""
    items.sort(key=lambda item: "/tests/e2e/" in str(item.path))


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres") and not settings.DATABASE_IS_POSTGRES:
        message = "needs PostgreSQL: set DATABASE_URL=postgres://..."
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    if item.get_closest_marker("redis") and not _redis_reachable():
        message = f"needs Redis: set REDIS_URL to a reachable server (now {settings.REDIS_URL!r})"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture
def store_a(db):
    return LocationFactory(code="SA1", name="Store A")


@pytest.fixture
def store_b(db):
    return LocationFactory(code="SB1", name="Store B")


@pytest.fixture
def hq_admin(db):
    return HqAdminFactory(email="hq@example.test", full_name="Hana HQ")


@pytest.fixture
def manager_a(store_a):
    return manager_of(store_a, email="manager.a@example.test", full_name="Manon A")


@pytest.fixture
def manager_b(store_b):
    return manager_of(store_b, email="manager.b@example.test", full_name="Bruno B")


@pytest.fixture
def associate_a(store_a):
    return associate_at(store_a, email="associate.a@example.test", full_name="Alex A")


@pytest.fixture
def device_a(store_a):
    """A POS device at store A: (ApiClient, key)."""
    return pos_device(store_a)


@pytest.fixture
def integration_client(db):
    return integration()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def device_api(device_a):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {device_a[1]}")
    return client


@pytest.fixture
def integration_api(integration_client):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {integration_client[1]}")
    return client
