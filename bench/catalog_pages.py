"""Catalog screens at 100,000 variants: server time and queries per page.

Builds a throwaway PostgreSQL database (omo_bench_catalog, dropped afterwards) with
20 locations, 20,000 products x 5 variants, a barcode per variant and stock at three
locations, then times the product list (first page, name search, SKU prefix, barcode,
a filtered page, page 50, page 200: the deepest, as the count stops at 10,000) and a
product page through Django's test Client: server time only (no network, no
browser), median and p95 over N requests, target < 150 ms.
The baseline, measured in the same run, is a location dashboard: the floor for any
back-office page (session, user, location switcher, base template) on this machine
right now. "SQL" is the median time spent in the database per request.

It runs in a child process so its database settings never mix with another
benchmark's Django setup in the same `python -m bench` run.
"""

from __future__ import annotations

import json
import sys
import time

from bench import _pg
from bench._pages import child_setup, page_time

DB_NAME = _pg.db_name("omo_bench_catalog")
TARGET_MS = 150.0
PRODUCTS = 20_000
VARIANTS_PER_PRODUCT = 5
LOCATIONS = 20
STOCKED_LOCATIONS = 3


def run(args) -> list[dict]:
    quick = bool(getattr(args, "quick", False))
    try:
        _pg.database_drop(DB_NAME)  # a left-over one; and it tells whether PostgreSQL is here
    except Exception as error:  # any reason means "no PostgreSQL here"
        return [
            {
                "benchmark": "catalog_pages",
                "measure": "all pages",
                "value": "skipped",
                "unit": "",
                "baseline": "",
                "target": f"< {TARGET_MS:.0f} ms",
                "verdict": f"PostgreSQL unavailable: {str(error).splitlines()[0][:80]}",
            }
        ]
    return _pg.run_child("bench.catalog_pages", DB_NAME, ["--quick"] if quick else [])


# --- the child: everything below runs with DATABASE_URL set to the bench database ------


def _build(products: int) -> None:
    from django.db import connection

    started = time.monotonic()
    variants = products * VARIANTS_PER_PRODUCT
    words = "ARRAY['Tee','Jeans','Dress','Jacket','Cream','Serum','Lipstick','Headphones']"
    adjectives = "ARRAY['Basic','Slim','Linen','Organic','Classic','Wireless','Rich','Matte']"
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
            """INSERT INTO catalog_category (name, parent_id, path)
               SELECT 'Cat ' || i, NULL, 'Cat ' || i FROM generate_series(1, 40) AS i"""
        )
        cursor.execute(
            f"""INSERT INTO catalog_product (handle, name, brand, description, category_id,
                    active, created_at, updated_at)
               SELECT 'p-' || i,
                      ({adjectives})[1 + i %% 8] || ' ' || ({words})[1 + (i / 8) %% 8]
                        || ' ' || i,
                      'Brand ' || (i %% 50), '',
                      (SELECT min(id) FROM catalog_category) + i %% 40,
                      i %% 17 <> 0, now(), now()
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
                      (5 + (p.id * 7 + v) %% 200)::numeric + 0.90, NULL, NULL,
                      true, 'none', 0, now(), now()
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
               SELECT v.id, l.id, (v.id %% 30), (v.id %% 3), 2, true, 0, now()
               FROM catalog_variant v,
                    (SELECT id FROM stores_location ORDER BY code LIMIT %s) AS l""",
            [STOCKED_LOCATIONS],
        )
        cursor.execute("VACUUM ANALYZE")
    count = variants
    sys.stderr.write(f"built {count} variants in {time.monotonic() - started:.1f} s\n")


def child(quick: bool) -> list[dict]:
    products, repeat, client = child_setup(quick, products=PRODUCTS, build=_build)
    from apps.catalog.models import Category, Product
    from apps.stores.models import Location

    category = Category.objects.order_by("pk")[3]
    product = Product.objects.order_by("pk")[products // 2]
    location = Location.objects.order_by("code").first()
    floor = page_time(client, f"/stores/{location.code}/", {}, repeat)
    pages = [
        ("list: first page", "/catalog/", {}),
        ("list: name search 'linen'", "/catalog/", {"q": "linen"}),
        ("list: name search 'serum 1234'", "/catalog/", {"q": "serum 1234"}),
        ("list: SKU prefix 'SKU-0123'", "/catalog/", {"q": "SKU-0123"}),
        ("list: barcode exact", "/catalog/", {"q": "2000000050001"}),
        (
            "list: category+brand+active",
            "/catalog/",
            {"category": category.pk, "brand": "Brand 3", "active": "yes"},
        ),
        ("list: page 50", "/catalog/", {"page": 50}),
        # The deepest page there is: the list counts at most COUNT_LIMIT matches.
        ("list: page 200 (deepest)", "/catalog/", {"page": 200}),
        ("list: htmx search fragment", "/catalog/", {"q": "serum 1"}),
        ("product page (5 SKUs)", f"/catalog/products/{product.pk}/", {}),
    ]
    rows = []
    for label, url, params in pages:
        headers = {"HTTP_HX_REQUEST": "true"} if "fragment" in label else {}
        page = page_time(client, url, params, repeat, headers)
        rows.append(
            {
                "benchmark": "catalog_pages",
                "measure": (
                    f"{label} median/p95 ({page.queries} queries, SQL {page.sql_ms:.1f} ms,"
                    f" HTTP {page.status})"
                ),
                "value": f"{page.median_ms:.1f} / {page.p95_ms:.1f}",
                "unit": "ms",
                "baseline": f"dashboard page {floor.median_ms:.1f} ms (HTTP {floor.status})",
                "target": f"< {TARGET_MS:.0f} ms",
                "verdict": "ok" if page.status == 200 and page.median_ms < TARGET_MS else "MISS",
            }
        )
    rows.append(
        {
            "benchmark": "catalog_pages",
            "measure": "data size (variants / locations)",
            "value": f"{products * VARIANTS_PER_PRODUCT} / {LOCATIONS}",
            "unit": "rows",
            "baseline": "",
            "target": "100000 / 20",
            "verdict": "quick run" if quick else "ok",
        }
    )
    return rows


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(child("--quick" in sys.argv)))
    else:
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("--quick", action="store_true")
        for row in run(parser.parse_args()):
            print(row)
