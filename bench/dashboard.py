"""The location dashboard on a store with a long history: the live tiles fragment (what
every open dashboard refetches after a burst of stock or pickup events) and the full
page (tiles, 30-day chart, top products this week).

Data: a big store with 200,000 orders over two years (one line each; 85 % POS, the rest
online orders collected there) and, as the baseline in the same database, a small store
with 2,000 orders over the same two years. Measured in-process with Django's test client
against a throwaway PostgreSQL database (median of 15 requests). `--quick`: 20,000.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

from bench import _pg

DATABASE = _pg.db_name("omo_bench_dashboard")
REPEAT = 15


def run(args) -> list[dict]:
    from bench._pg import run_child

    count = 20_000 if getattr(args, "quick", False) else 200_000
    return run_child("bench.dashboard", DATABASE, [str(count)])


def _seed(location, count: int, variants, prefix: str) -> None:
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from apps.sales.models import Order, OrderLine

    now = timezone.now()
    span = timedelta(days=730)
    batch = 5000
    for start in range(0, count, batch):
        orders = []
        for index in range(start, min(count, start + batch)):
            at = now - span * (index / count)
            online = index % 7 == 0
            orders.append(
                Order(
                    channel="online" if online else "pos",
                    location=location,
                    number=f"{prefix}-{index}",
                    occurred_at=at - timedelta(hours=20) if online else at,
                    closed_at=at if online else None,
                    status="collected" if online else "completed",
                    subtotal=Decimal("10.00") + index % 90,
                    total=Decimal("10.00") + index % 90,
                )
            )
        Order.objects.bulk_create(orders)
        OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=order,
                    position=1,
                    variant=variants[number % len(variants)],
                    sku=variants[number % len(variants)].sku,
                    name="Bench product",
                    quantity=1 + number % 3,
                    unit_price=order.total,
                    total=order.total,
                )
                for number, order in enumerate(orders, start=start)
            ]
        )


def _median_ms(call) -> float:
    call()  # warm up
    timings = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _child(count: int) -> list[dict]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from apps.accounts.models import User
    from apps.catalog.models import Product, Variant
    from apps.stores.models import Location

    call_command("migrate", verbosity=0)
    big = Location.objects.create(code="BIG", name="Big store")
    small = Location.objects.create(code="SMALL", name="Small store")
    product = Product.objects.create(handle="bench", name="Bench product")
    variants = Variant.objects.bulk_create(
        [Variant(product=product, sku=f"B-{n:03d}", price="10.00") for n in range(200)]
    )
    started = time.perf_counter()
    _seed(big, count, variants, "BIG")
    _seed(small, count // 100, variants, "SMALL")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    seed_seconds = time.perf_counter() - started
    admin = User.objects.create_user(
        email="hq@bench.test", password="x", full_name="HQ", role=User.Role.HQ_ADMIN
    )
    client = Client()
    client.force_login(admin)

    def fragment(code):
        return lambda: client.get(f"/stores/{code}/", HTTP_HX_REQUEST="true")

    def page(code):
        return lambda: client.get(f"/stores/{code}/")

    assert client.get("/stores/BIG/").status_code == 200
    results = {
        (kind, code): _median_ms(make(code))
        for kind, make in (("tiles fragment", fragment), ("full page", page))
        for code in ("SMALL", "BIG")
    }
    load = os.getloadavg()[0]
    note = f"PostgreSQL, seeded in {seed_seconds:.0f} s, load avg {load:.1f} on 2 shared cores"
    rows = []
    for kind, target in (("tiles fragment", 50), ("full page", 200)):
        value = results[(kind, "BIG")]
        rows.append(
            {
                "benchmark": "dashboard",
                "measure": f"{kind}, store with {count:,} orders (median of {REPEAT})",
                "value": round(value, 1),
                "unit": "ms",
                "baseline": f"{results[(kind, 'SMALL')]:.1f} ms with {count // 100:,} orders; "
                + note,
                "target": f"<= {target} ms",
                "verdict": "ok" if value <= target else "over",
            }
        )
    return rows


if __name__ == "__main__" and "--child" in sys.argv:
    print(json.dumps(_child(int(sys.argv[-1]))))
