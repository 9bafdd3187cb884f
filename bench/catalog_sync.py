"""Catalog sync through the API: a full paged sync of 100,000 variants at limit=1000,
then a delta sync after 10 changes (issue 4 targets: <= 10 s and <= 50 ms).

Measured in-process with DRF's APIClient against a throwaway PostgreSQL database: the
time is the server's (routing, auth, queries, serialisation) without network, plus the
bench's own json.loads of each body (reported on its own line). `--quick` uses 10,000 variants.
"""

from __future__ import annotations

import json
import os
import sys
import time

from bench import _pg

DATABASE = _pg.db_name("omo_bench_catalog_sync")
PRODUCTS_PER_VARIANTS = 5
PAGE = 1000


def run(args) -> list[dict]:
    from bench._pg import run_child

    count = 10_000 if getattr(args, "quick", False) else 100_000
    return run_child("bench.catalog_sync", DATABASE, [str(count)])


def _seed(count: int):
    from django.db import transaction

    from apps.accounts.models import ApiClient
    from apps.accounts.services import api_client_script_create
    from apps.catalog.models import Barcode, Category, LocationPrice, Product, Variant
    from apps.catalog.services import catalog_changes_record
    from apps.stores.models import Location

    store = Location.objects.create(code="S01", name="Bench store")
    _device, key = api_client_script_create(
        kind=ApiClient.Kind.POS_DEVICE, name="Bench till", location=store
    )
    categories = Category.objects.bulk_create(
        [Category(name=f"Cat {i}", path=f"Cat {i}") for i in range(20)]
    )
    products = Product.objects.bulk_create(
        [
            Product(
                handle=f"p-{i}",
                name=f"Product {i}",
                brand=f"Brand {i % 50}",
                category=categories[i % 20],
            )
            for i in range(count // PRODUCTS_PER_VARIANTS)
        ],
        batch_size=5000,
    )
    variants = Variant.objects.bulk_create(
        [
            Variant(
                product=products[i // PRODUCTS_PER_VARIANTS],
                sku=f"SKU-{i:07d}",
                option1_name="Size",
                option1_value=["XS", "S", "M", "L", "XL"][i % 5],
                price="19.90",
                compare_at_price="24.90" if i % 3 == 0 else None,
            )
            for i in range(count)
        ],
        batch_size=5000,
    )
    Barcode.objects.bulk_create(
        [Barcode(variant=v, code=f"2{v.pk:012d}") for v in variants], batch_size=5000
    )
    LocationPrice.objects.bulk_create(
        [LocationPrice(variant=v, location=store, price="17.50") for v in variants[::5]],
        batch_size=5000,
    )
    ids = [v.pk for v in variants]
    for start in range(0, len(ids), 1000):  # as an import would: one change per chunk
        with transaction.atomic():
            catalog_changes_record(variant_ids=ids[start : start + 1000])
    return key, ids


def _child(count: int) -> list[dict]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from rest_framework.test import APIClient

    from apps.catalog.services import catalog_changes_record

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    key, ids = _seed(count)
    seed_seconds = time.perf_counter() - started
    # Statistics as autovacuum leaves them a minute after a big import: without them the
    # planner guesses a few hundred rows per seq, hashes the whole remaining catalog for
    # every page and sorts it (115 ms a page instead of 4 ms).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.get("/api/v1/catalog/variants", {"limit": 1})  # warm up (imports, auth)

    started, cpu_started = time.perf_counter(), time.process_time()
    params, received, pages, parse_seconds = {"limit": PAGE}, 0, 0, 0.0
    while True:
        response = client.get("/api/v1/catalog/variants", params)
        parse_started = time.perf_counter()
        body = json.loads(response.content)
        parse_seconds += time.perf_counter() - parse_started
        received += len(body["results"])
        pages += 1
        if body["next_cursor"] is None:
            break
        params = {"limit": PAGE, "cursor": body["next_cursor"]}
    full_seconds = time.perf_counter() - started
    full_cpu = time.process_time() - cpu_started
    assert received == count, (received, count)
    sync_cursor = body["sync_cursor"]

    for variant_id in ids[:: len(ids) // 10][:10]:
        with transaction.atomic():
            catalog_changes_record(variant_ids=[variant_id])
    timings, cpu_timings = [], []
    for _ in range(5):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(
            "/api/v1/catalog/variants", {"limit": PAGE, "updated_after": sync_cursor}
        )
        delta = json.loads(response.content)
        timings.append((time.perf_counter() - started) * 1000)
        cpu_timings.append((time.process_time() - cpu_started) * 1000)
        assert len(delta["results"]) == 10 and delta["next_cursor"] is None
    timings.sort()
    cpu_timings.sort()
    name = "catalog_sync"
    load = os.getloadavg()[0]
    note = f"in-process APIClient, PostgreSQL, {count:,} variants, seeded in {seed_seconds:.0f} s"
    return [
        {
            "benchmark": name,
            "measure": f"full sync, {pages} pages of {PAGE}",
            "value": round(full_seconds, 2),
            "unit": "s",
            "baseline": note,
            "target": "<= 10 s",
            "verdict": "ok" if full_seconds <= 10 else "over",
        },
        {
            "benchmark": name,
            "measure": "full sync: CPU of the Django process",
            "value": round(full_cpu, 2),
            "unit": "s",
            "baseline": f"wall {full_seconds:.1f} s at load avg {load:.1f} on 2 cores",
            "target": "",
            "verdict": "the rest is PostgreSQL and waiting for a CPU",
        },
        {
            "benchmark": name,
            "measure": "full sync: of which the bench's json.loads of the bodies",
            "value": round(parse_seconds, 2),
            "unit": "s",
            "baseline": "client side, inside the figures above",
            "target": "",
            "verdict": "info",
        },
        {
            "benchmark": name,
            "measure": "delta sync after 10 changes (median of 5)",
            "value": round(timings[len(timings) // 2], 1),
            "unit": "ms",
            "baseline": f"CPU {cpu_timings[2]:.1f} ms; full-sync page avg "
            f"{full_seconds / pages * 1000:.0f} ms",
            "target": "<= 50 ms",
            "verdict": "ok" if timings[len(timings) // 2] <= 50 else "over",
        },
    ]


if __name__ == "__main__" and "--child" in sys.argv:
    print(json.dumps(_child(int(sys.argv[-1]))))
