"""Shared fixtures, and the rule that CI never skips for lack of a service.

Tests marked `postgres` need real row locks; `redis` ones need a Redis server. Locally
on SQLite they are skipped with a reason; with CI=true a missing service fails them.
"""

import gc
import os
import time

import pytest
from django.conf import settings
from django.db import connection
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


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's, and before it drops the test database on PostgreSQL: fail the
    run if a session other than ours is still connected to it.

    With Django's pool, a connection its thread never returned stays checked out: closing
    the pool leaves it open, and only the garbage collector, whenever it runs, ends its
    session. DROP DATABASE then failed now and then ("being accessed by other users"),
    reported as a mere warning. The collector is run first, so that this does not depend
    on when it last ran; a session left after it is a connection something still holds,
    an error that shows the session's last query.
    """
    yield
    if not settings.DATABASE_IS_POSTGRES:
        return
    with django_db_blocker.unblock():
        # A connection nothing refers to any more goes with the collector's next run;
        # run it now, so the check is the same on every run: what is left is held.
        gc.collect()
        connection.close()
        connection.close_pool()
        # Closed sessions take a moment to go; DROP DATABASE itself waits up to 5 seconds.
        deadline = time.monotonic() + 5
        while (sessions := _other_sessions()) and time.monotonic() < deadline:
            time.sleep(0.1)
    if sessions:
        listed = "\n".join(
            f"  pid {pid}, {state}, last query: {query}" for pid, state, query in sessions
        )
        pytest.fail(
            f"{len(sessions)} session(s) still connected to the test database: a connection "
            f"checked out of the pool and never returned (close it in a finally in the "
            f"thread that used it; see tests/e2e/threads.py).\n{listed}",
            pytrace=False,
        )


def _other_sessions() -> list[tuple]:
    with connection._nodb_cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, left(query, 200) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [connection.settings_dict["NAME"]],
        )
        return cursor.fetchall()


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
