"""The stock screens at 100,000 variants and 20 locations: server time and queries.

Builds a throwaway PostgreSQL database (omo_bench_stock_screen, dropped afterwards)
with 20 locations, 20,000 products x 5 variants, a barcode each, a stock level for
every variant at every location (2,000,000 levels) and 200,000 ledger movements, then
times through Django's test Client (server time only: no network, no browser), median
and p95 over N requests: the stock list at one location (first page, SKU search,
barcode, name search, low-stock filter, page 1000 reached by its Next link and page 999
by Previous (keyset: the links carry the SKU at the page's edge), a typed ?page=1000
(no link leads to it: a walk of the SKU index from the nearer end), the htmx
fragment), one variant across all locations, and the movement history. Target < 150 ms
each. The baseline, measured in the same run, is the login page: the floor for any
rendered page here.

Run: `python -m bench stock_screen` (`--quick` for a small smoke run).
"""

from __future__ import annotations

import os
import sys
import time

from bench import _pg
from bench._pages import child_setup, page_time
from bench._pg import run_child

DB_NAME = _pg.db_name("omo_bench_stock_screen")
TARGET_MS = 150.0
PRODUCTS = 20_000
VARIANTS_PER_PRODUCT = 5
LOCATIONS = 20
MOVEMENTS = 200_000


def run(args) -> list[dict]:
    quick = bool(getattr(args, "quick", False))
    return run_child("bench.stock_screen", DB_NAME, ["--quick"] if quick else [])


def _build(products: int) -> None:
    from django.db import connection

    started = time.monotonic()
    words = "ARRAY['Tee','Jeans','Dress','Jacket','Cream','Serum','Lipstick','Headphones']"
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO stores_location (code, name, kind, timezone, address, city, active,
                   allows_negative_stock)
               SELECT 'B' || lpad(i::text, 2, '0'), 'Bench store ' || i, 'store',
                      'Europe/Paris', '', 'Paris', true, true
               FROM generate_series(1, %s) AS i""",
            [LOCATIONS],
        )
        cursor.execute(
            f"""INSERT INTO catalog_product (handle, name, brand, description, category_id,
                    active, created_at, updated_at)
               SELECT 'p-' || i, ({words})[1 + i %% 8] || ' ' || i, 'Brand ' || (i %% 50),
                      '', NULL, true, now(), now()
               FROM generate_series(1, %s) AS i""",
            [products],
        )
        cursor.execute(
            """INSERT INTO catalog_variant (product_id, sku, name, option1_name,
                   option1_value, option2_name, option2_value, option3_name, option3_value,
                   price, compare_at_price, cost, active, tracking, change_seq, created_at,
                   updated_at)
               SELECT p.id, 'SKU-' || lpad(p.id::text, 6, '0') || '-' || v,
                      '', 'Size', (ARRAY['XS','S','M','L','XL'])[v], '', '', '', '',
                      19.90, NULL, NULL, true, 'none', 0, now(), now()
               FROM catalog_product p, generate_series(1, %s) AS v""",
            [VARIANTS_PER_PRODUCT],
        )
        cursor.execute(
            """INSERT INTO catalog_barcode (variant_id, code)
               SELECT id, '2' || lpad(id::text, 12, '0') FROM catalog_variant"""
        )
        cursor.execute(
            """INSERT INTO inventory_stocklevel (variant_id, location_id, on_hand, reserved,
                   reorder_point, negative_allowed, seq, updated_at)
               SELECT v.id, l.id, (v.id + l.id) % 30, (v.id % 3), 2, true, 0, now()
               FROM catalog_variant v, stores_location l"""
        )
        cursor.execute(
            """INSERT INTO inventory_movement (level_id, variant_id, location_id,
                   delta_on_hand, delta_reserved, on_hand_after, reserved_after, reason,
                   reference_type, reference_id, serial, note, seq, created_at)
               SELECT s.id, s.variant_id, s.location_id, 1, 0, s.on_hand, 0, 'receipt',
                      'bench', '', '', '', 0, now() - (g || ' seconds')::interval
               FROM generate_series(1, %s) AS g
               JOIN inventory_stocklevel s ON s.id = 1 + (g * 7919) %% %s""",
            [MOVEMENTS if products == PRODUCTS else 20_000, products * VARIANTS_PER_PRODUCT],
        )
        cursor.execute("VACUUM ANALYZE")
    sys.stderr.write(f"built the stock data in {time.monotonic() - started:.1f} s\n")


def child(quick: bool) -> list[dict]:
    products, repeat, client = child_setup(quick, products=PRODUCTS, build=_build)
    from django.test import Client

    from apps.inventory.models import StockLevel

    floor = page_time(Client(), "/accounts/login/", {}, repeat)
    middle = products // 2
    fragment = {"HTTP_HX_REQUEST": "true"}
    # Page 1000 as the screen reaches it: its "Next" link carries the last SKU of page
    # 999 (keyset paging). A typed ?page=1000 is served by a walk of the SKU index.
    deep = 1000 if not quick else 100
    levels = StockLevel.objects.filter(location__code="B07").order_by("variant__sku")
    before_deep = levels.values_list("variant__sku", flat=True)[(deep - 1) * 50 - 1]
    first_of_deep = levels.values_list("variant__sku", flat=True)[(deep - 1) * 50]
    pages = [
        ("stock list: first page", "/stock/B07/", {}, {}),
        ("stock list: SKU search", "/stock/B07/", {"q": f"SKU-{middle:06d}"}, {}),
        ("stock list: barcode exact", "/stock/B07/", {"q": f"2{middle * 5:012d}"}, {}),
        ("stock list: name search 'serum 12'", "/stock/B07/", {"q": "serum 12"}, {}),
        ("stock list: low-stock filter", "/stock/B07/", {"low": "1"}, {}),
        (
            f"stock list: page {deep} by Next",
            "/stock/B07/",
            {"after": before_deep, "page": deep},
            {},
        ),
        (
            f"stock list: page {deep - 1} by Previous",
            "/stock/B07/",
            {"before": first_of_deep, "page": deep - 1},
            {},
        ),
        (f"stock list: typed ?page={deep}", "/stock/B07/", {"page": deep}, {}),
        ("stock list: htmx fragment", "/stock/B07/", {"q": "jeans"}, fragment),
        ("one variant, 20 locations", f"/stock/variant/SKU-{middle:06d}-3/", {}, {}),
        ("movements: first page", "/stock/movements/", {}, {}),
        ("movements: one SKU", "/stock/movements/", {"sku": f"SKU-{middle:06d}-3"}, {}),
    ]
    rows = []
    for label, url, params, headers in pages:
        page = page_time(client, url, params, repeat, headers)
        rows.append(
            {
                "benchmark": "stock_screen",
                "measure": f"{label} median/p95 ({page.queries} queries, HTTP {page.status})",
                "value": f"{page.median_ms:.1f} / {page.p95_ms:.1f}",
                "unit": "ms",
                "baseline": f"login page {floor.median_ms:.1f} ms",
                "target": f"< {TARGET_MS:.0f} ms",
                "verdict": "ok" if page.status == 200 and page.median_ms < TARGET_MS else "MISS",
            }
        )
    rows.append(
        {
            "benchmark": "stock_screen",
            "measure": "data size (variants / locations / levels)",
            "value": f"{products * VARIANTS_PER_PRODUCT} / {LOCATIONS} / "
            f"{products * VARIANTS_PER_PRODUCT * LOCATIONS}",
            "unit": "rows",
            "baseline": "",
            "target": "100000 / 20",
            "verdict": "quick run" if quick else "ok",
        }
    )
    return rows


if __name__ == "__main__" and "--child" in sys.argv:
    import json

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omo_site.settings.base")
    result = child("--quick" in sys.argv)
    from django.db import connections

    connections.close_all()
    print(json.dumps(result))
