"""The browser tests' helper for work done in a plain thread."""

import gc

import pytest
from django.db import connection

from apps.inventory.models import StockLevel
from tests.e2e.threads import run_elsewhere


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_run_elsewhere_leaves_no_session_on_the_test_database():
    pids = []

    def work():
        StockLevel.objects.count()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pids.append(cursor.fetchone()[0])

    # The collector ends a dropped connection's session sooner or later (which made the
    # teardown failure intermittent): keep it from hiding one here.
    gc.disable()
    try:
        run_elsewhere(work)
        # What the test database's teardown does before DROP DATABASE.
        connection.close()
        connection.close_pool()
        with connection._nodb_cursor() as cursor:
            # The thread's own session only: an earlier test's leak is the session
            # guard's to report (tests/conftest.py), not a failure of this helper.
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid = %s",
                [connection.settings_dict["NAME"], pids[0]],
            )
            assert cursor.fetchone() == (0,)
    finally:
        gc.enable()
