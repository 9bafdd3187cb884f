"""Back-office pages timed in a benchmark's child process (Django set up on its
database): through Django's test Client, so server time only (no network, no browser)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

QUICK_PRODUCTS = 2_000


@dataclass
class PageTiming:
    timings_ms: list[float]
    queries: int  # of the last request
    status: int  # of the last request
    sql_ms: float  # median time spent in the database per request

    @property
    def median_ms(self) -> float:
        return statistics.median(self.timings_ms)

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.timings_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def child_setup(quick: bool, *, products: int, build: Callable[[int], None]):
    """Django set up on the bench database, migrated and filled by `build(products)`
    (QUICK_PRODUCTS for a quick run); returns the products built, how many times to
    time each page, and a signed-in head-office client."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omo_site.settings.base")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    products = QUICK_PRODUCTS if quick else products
    build(products)
    return products, 10 if quick else 30, hq_client()


def hq_client():
    """A test Client signed in as a new head-office user."""
    from django.test import Client

    from apps.accounts.models import User

    user = User.objects.create_user("bench@omo.test", "bench-password", role="hq_admin")
    client = Client()
    client.force_login(user)
    return client


def page_time(client, url: str, params: dict, repeat: int, headers: dict | None = None):
    """GET url once to warm up, then `repeat` times measured."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = headers or {}
    client.get(url, params, **headers)
    timings, sql_timings, queries, status = [], [], 0, 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url, params, **headers)
            timings.append((time.perf_counter() - started) * 1000)
        queries, status = len(captured), response.status_code
        sql_timings.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
    return PageTiming(timings, queries, status, statistics.median(sql_timings))
