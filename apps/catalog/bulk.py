"""Set-based catalog upserts for bulk imports (owned by apps.imports).

`catalog_bulk_plan` reads what exists for a batch of rows in a few queries and works
out the difference; `catalog_bulk_write` writes only that difference, with bulk inserts
and `INSERT ... ON CONFLICT DO UPDATE` upserts (the same statement on PostgreSQL and
SQLite), and moves the sync cursor of exactly the variants it created or changed. A
second run on the same rows finds nothing to write: no UPDATE, no change_seq move.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.core.events import event_append
from apps.core.lookups import AnyOf, any_of_chunks, array_literal

from .models import Barcode, Category, LocationPrice, Product, Variant
from .services import CATALOG_STREAM

VARIANT_FIELDS = (
    "price",
    "compare_at_price",
    "cost",
    "option1_name",
    "option1_value",
    "option2_name",
    "option2_value",
    "option3_name",
    "option3_value",
    "active",
    "tracking",
)
PRODUCT_FIELDS = ("name", "brand", "description", "category_path")
CHUNK = 4000
KEEP = object()  # "leave as it is" for optional inputs


@dataclass
class ProductInput:
    handle: str
    # Only the fields to set; a missing key keeps the current value.
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class VariantInput:
    sku: str
    handle: str
    values: dict[str, Any] = field(default_factory=dict)  # subset of VARIANT_FIELDS
    barcodes: list[str] | None = None  # None: keep; a list: exactly these
    # location_id -> price, or None to drop the override; missing keys are kept.
    location_prices: dict[int, Decimal | None] = field(default_factory=dict)


@dataclass
class CatalogBulkPlan:
    outcome: dict[str, str]  # sku -> "create" | "update" | "unchanged"
    products: dict[str, ProductInput]
    variants: list[VariantInput]
    existing_products: dict[str, dict[str, Any]]
    existing_variants: dict[str, dict[str, Any]]
    existing_barcodes: dict[int, set[str]]
    existing_prices: dict[tuple[int, int], Decimal]
    categories: dict[str, int]  # existing path -> id
    changed_products: set[str]
    # sku -> id of every variant of the plan, filled in by catalog_bulk_write.
    variant_ids: dict[str, int] = field(default_factory=dict)
    # Ids of the variants catalog_bulk_write inserted (PostgreSQL; empty elsewhere): no
    # other transaction sees them until commit, so no one else can stock them meanwhile.
    created_variant_ids: set[int] = field(default_factory=set)

    def variant_id(self, sku: str) -> int | None:
        row = self.existing_variants.get(sku)
        return row["id"] if row else None


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def variants_existing(skus) -> dict[str, dict[str, Any]]:
    """sku -> the variant's current row as the plan compares it (id, sku, its product's
    handle and VARIANT_FIELDS), for the skus that exist."""
    existing: dict[str, dict[str, Any]] = {}
    for chunk in any_of_chunks(skus):
        for row in Variant.objects.filter(AnyOf("sku", chunk)).values(
            "id", "sku", "product__handle", *VARIANT_FIELDS
        ):
            existing[row["sku"]] = row
    return existing


def products_existing(handles) -> dict[str, dict[str, Any]]:
    """handle -> the product's current row as the plan compares it (id, handle and
    PRODUCT_FIELDS), for the handles that exist."""
    existing: dict[str, dict[str, Any]] = {}
    for chunk in any_of_chunks(sorted(handles)):
        for row in Product.objects.filter(AnyOf("handle", chunk)).values(
            "id", "handle", "name", "brand", "description", "category__path"
        ):
            row["category_path"] = row.pop("category__path") or ""
            existing[row["handle"]] = row
    return existing


def barcodes_existing(variant_ids) -> dict[int, set[str]]:
    """variant id -> its barcodes, for the variants that have some."""
    existing: dict[int, set[str]] = defaultdict(set)
    for chunk in any_of_chunks(variant_ids):
        for variant_id, code in Barcode.objects.filter(AnyOf("variant_id", chunk)).values_list(
            "variant_id", "code"
        ):
            existing[variant_id].add(code)
    return existing


def catalog_bulk_plan(
    *,
    products: dict[str, ProductInput],
    variants: list[VariantInput],
    existing_variants: dict[str, dict[str, Any]] | None = None,
    existing_products: dict[str, dict[str, Any]] | None = None,
    existing_barcodes: dict[int, set[str]] | None = None,
) -> CatalogBulkPlan:
    """Read the current rows for these inputs and decide each SKU's outcome. What the
    caller read already (variants_existing of these skus or more, products_existing of
    these handles or more, barcodes_existing of these variants or more) is not read
    again."""
    if existing_products is None:
        existing_products = products_existing(products)
    else:
        existing_products = {
            handle: existing_products[handle] for handle in products if handle in existing_products
        }
    if existing_variants is None:
        existing_variants = variants_existing(v.sku for v in variants)
    else:
        existing_variants = {
            v.sku: existing_variants[v.sku] for v in variants if v.sku in existing_variants
        }
    ids = [row["id"] for row in existing_variants.values()]
    if existing_barcodes is None:
        existing_barcodes = barcodes_existing(ids)
    existing_prices: dict[tuple[int, int], Decimal] = {}
    for chunk in any_of_chunks(ids):
        for variant_id, location_id, price in LocationPrice.objects.filter(
            AnyOf("variant_id", chunk)
        ).values_list("variant_id", "location_id", "price"):
            existing_prices[(variant_id, location_id)] = price
    paths = {p.values["category_path"] for p in products.values() if p.values.get("category_path")}
    categories = dict(Category.objects.filter(path__in=paths).values_list("path", "id"))

    changed_products = set()
    for handle, product in products.items():
        current = existing_products.get(handle)
        if current is None or any(current[k] != v for k, v in product.values.items()):
            changed_products.add(handle)
    outcome: dict[str, str] = {}
    for variant in variants:
        current = existing_variants.get(variant.sku)
        if current is None:
            outcome[variant.sku] = "create"
        elif (
            variant.handle in changed_products
            or current["product__handle"] != variant.handle
            or any(current[k] != v for k, v in variant.values.items())
            or (
                variant.barcodes is not None
                and set(variant.barcodes) != existing_barcodes.get(current["id"], set())
            )
            or any(
                existing_prices.get((current["id"], location_id)) != price
                for location_id, price in variant.location_prices.items()
            )
        ):
            outcome[variant.sku] = "update"
        else:
            outcome[variant.sku] = "unchanged"
    return CatalogBulkPlan(
        outcome=outcome,
        products=products,
        variants=variants,
        existing_products=existing_products,
        existing_variants=existing_variants,
        existing_barcodes=existing_barcodes,
        existing_prices=existing_prices,
        categories=categories,
        changed_products=changed_products,
    )


def _categories_ensure(paths: set[str], known: dict[str, int]) -> dict[str, int]:
    """Create missing category levels ("A > B > C" creates A, A > B and A > B > C)."""
    wanted: set[str] = set()
    for path in paths:
        parts = [part.strip() for part in path.split(">")]
        for depth in range(1, len(parts) + 1):
            wanted.add(" > ".join(parts[:depth]))
    missing = wanted - set(known)
    if missing:
        known.update(Category.objects.filter(path__in=missing).values_list("path", "id"))
    for path in sorted(wanted - set(known), key=lambda p: p.count(">")):
        parent, _, name = path.rpartition(" > ")
        category = Category.objects.create(
            name=name, parent_id=known[parent] if parent else None, path=path
        )
        known[path] = category.pk
    return known


# Column types for the PostgreSQL UNNEST upsert, in VARIANT_FIELDS order.
_PG_TYPES = {
    "price": "numeric",
    "compare_at_price": "numeric",
    "cost": "numeric",
    "active": "boolean",
}


def _pg_array(values) -> str:
    """A PostgreSQL array literal, to be cast (`%s::text[]`): psycopg dumps a list element
    by element in Python, which cost more than the statement on 100,000-row imports."""
    values = list(values)
    if all(type(value) is str for value in values) or all(type(value) is int for value in values):
        # Most columns (the checks below per value were most of a 100,000-row import's
        # catalog write in Python).
        return array_literal(values)
    items = []
    for value in values:
        if value is None:
            items.append("NULL")
        elif value is True or value is False:
            items.append("true" if value else "false")
        elif isinstance(value, int | Decimal):
            items.append(str(value))
        else:
            text = str(value)
            if "\\" in text or '"' in text:
                text = text.replace("\\", "\\\\").replace('"', '\\"')
            items.append(f'"{text}"')
    return "{" + ",".join(items) + "}"


_PRODUCTS_UPSERT_SQL = """
INSERT INTO catalog_product
    (handle, name, brand, description, category_id, active, created_at, updated_at)
SELECT u.handle, u.name, u.brand, u.description, u.category_id, true, %s, %s
  FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[])
       AS u(handle, name, brand, description, category_id)
ON CONFLICT (handle) DO UPDATE
   SET name = EXCLUDED.name, brand = EXCLUDED.brand, description = EXCLUDED.description,
       category_id = EXCLUDED.category_id, updated_at = EXCLUDED.updated_at
RETURNING handle, id
"""


def _products_upsert(rows: list[Product], now) -> dict[str, int]:
    """Insert or update products by handle; return handle -> id of those read back. On
    PostgreSQL one UNNEST upsert per chunk; elsewhere bulk_create's upsert."""
    ids: dict[str, int] = {}
    if connection.vendor != "postgresql":
        for chunk in _chunks(rows):
            Product.objects.bulk_create(
                chunk,
                update_conflicts=True,
                unique_fields=["handle"],
                update_fields=["name", "brand", "description", "category", "updated_at"],
            )
        # bulk_create's upsert sets the ids on SQLite >= 3.35; the caller reads the others.
        return {p.handle: p.pk for p in rows if p.pk is not None}
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, 10_000):
            cursor.execute(
                _PRODUCTS_UPSERT_SQL,
                [
                    now,
                    now,
                    *(
                        _pg_array(getattr(p, f) for p in chunk)
                        for f in ("handle", "name", "brand", "description", "category_id")
                    ),
                ],
            )
            ids.update(cursor.fetchall())
    return ids


def _barcodes_insert(rows: list[tuple[int, str]]) -> None:
    if connection.vendor != "postgresql":
        for chunk in _chunks(rows):
            Barcode.objects.bulk_create(
                [Barcode(variant_id=variant_id, code=code) for variant_id, code in chunk]
            )
        return
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, 20_000):
            cursor.execute(
                "INSERT INTO catalog_barcode (variant_id, code)"
                " SELECT * FROM unnest(%s::bigint[], %s::text[])",
                [_pg_array(r[0] for r in chunk), _pg_array(r[1] for r in chunk)],
            )


def _variants_upsert(
    rows: list[dict[str, Any]], now, created: set[int] | None = None
) -> dict[str, int]:
    """Insert or update variants by SKU; return sku -> id of those it could read back,
    and add the ids of the inserted ones (not updated) to `created` on PostgreSQL.
    On PostgreSQL one INSERT ... SELECT FROM UNNEST(...) ON CONFLICT ... RETURNING per
    chunk, without building a model instance per row (the Python cost dominated
    100,000-row imports); elsewhere bulk_create's upsert."""
    ids: dict[str, int] = {}
    if not rows:
        return ids
    if connection.vendor != "postgresql":
        for chunk in _chunks(rows):
            created = Variant.objects.bulk_create(
                [Variant(created_at=now, updated_at=now, **row) for row in chunk],
                update_conflicts=True,
                unique_fields=["sku"],
                update_fields=["product", *VARIANT_FIELDS, "change_seq", "updated_at"],
            )
            ids.update((variant.sku, variant.pk) for variant in created if variant.pk)
        return ids
    columns = ["sku", "product_id", *VARIANT_FIELDS, "change_seq"]
    types = ["text", "bigint", *(_PG_TYPES.get(f, "text") for f in VARIANT_FIELDS), "bigint"]
    updates = ", ".join(
        f"{c} = EXCLUDED.{c}" for c in ["product_id", *VARIANT_FIELDS, "change_seq"]
    )
    # Column names and types come from the fixed lists above, never from input.
    sql = (
        f"INSERT INTO catalog_variant ({', '.join(columns)}, name, "  # noqa: S608
        "created_at, updated_at) SELECT u.*, '', %s, %s FROM UNNEST("
        + ", ".join(f"%s::{t}[]" for t in types)
        + f") AS u ON CONFLICT (sku) DO UPDATE SET {updates}, updated_at = EXCLUDED.updated_at"
        # xmax is 0 on a row version the statement inserted, set where it updated one.
        " RETURNING sku, id, xmax = '0'::xid"
    )
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, 10_000):
            arrays = [_pg_array(row[c] for row in chunk) for c in columns]
            cursor.execute(sql, [now, now, *arrays])
            for sku, pk, inserted in cursor.fetchall():
                ids[sku] = pk
                if inserted and created is not None:
                    created.add(pk)
    return ids


@transaction.atomic
def catalog_bulk_write(*, plan: CatalogBulkPlan) -> list[int]:
    """Write the plan's differences; return the ids of variants created or changed."""
    now = timezone.now()
    categories = _categories_ensure(
        {
            p.values["category_path"]
            for p in plan.products.values()
            if p.values.get("category_path")
        },
        dict(plan.categories),
    )
    product_ids = {handle: row["id"] for handle, row in plan.existing_products.items()}
    product_rows = []
    for handle in sorted(plan.changed_products):
        product = plan.products[handle]
        current = plan.existing_products.get(handle) or {
            "name": "",
            "brand": "",
            "description": "",
            "category_path": "",
        }
        values = {**current, **product.values}
        product_rows.append(
            Product(
                handle=handle,
                name=values["name"],
                brand=values["brand"],
                description=values["description"],
                category_id=categories.get(values["category_path"])
                if values["category_path"]
                else None,
                created_at=now,
                updated_at=now,
            )
        )
    product_ids.update(_products_upsert(product_rows, now))
    missing = [p.handle for p in product_rows if p.handle not in product_ids]
    for chunk in _chunks(missing):
        product_ids.update(Product.objects.filter(handle__in=chunk).values_list("handle", "id"))

    variant_rows = []
    for variant in plan.variants:
        if plan.outcome[variant.sku] == "unchanged":
            continue
        current = plan.existing_variants.get(variant.sku) or {
            "price": Decimal("0"),
            "compare_at_price": None,
            "cost": None,
            "option1_name": "",
            "option1_value": "",
            "option2_name": "",
            "option2_value": "",
            "option3_name": "",
            "option3_value": "",
            "active": True,
            "tracking": Variant.Tracking.NONE,
        }
        values = {k: current[k] for k in VARIANT_FIELDS} | variant.values
        variant_rows.append(
            {"sku": variant.sku, "product_id": product_ids[variant.handle], **values}
        )
    if variant_rows:
        # Move the sync cursor of exactly these variants (catalog_changes_record's rule:
        # one "catalog" event whose commit-ordered seq becomes their change_seq), written
        # by the upsert itself instead of a second UPDATE of every row.
        event = event_append(
            stream=CATALOG_STREAM,
            type="catalog",
            payload={"count": len({row["sku"] for row in variant_rows})},
        )
        for row in variant_rows:
            row["change_seq"] = event.seq
    variant_ids = {sku: row["id"] for sku, row in plan.existing_variants.items()}
    variant_ids.update(_variants_upsert(variant_rows, now, plan.created_variant_ids))
    new_skus = [v["sku"] for v in variant_rows if v["sku"] not in variant_ids]
    for chunk in _chunks(new_skus):
        variant_ids.update(Variant.objects.filter(sku__in=chunk).values_list("sku", "id"))

    barcodes_drop: list[tuple[int, str]] = []
    barcodes_add: list[tuple[int, str]] = []
    prices_drop: list[tuple[int, int]] = []
    prices_set: list[LocationPrice] = []
    for variant in plan.variants:
        if plan.outcome[variant.sku] == "unchanged":
            continue
        variant_id = variant_ids[variant.sku]
        if variant.barcodes is not None:
            current_codes = plan.existing_barcodes.get(variant_id, set())
            barcodes_drop += [(variant_id, code) for code in current_codes - set(variant.barcodes)]
            barcodes_add += [
                (variant_id, code) for code in variant.barcodes if code not in current_codes
            ]
        for location_id, price in variant.location_prices.items():
            current_price = plan.existing_prices.get((variant_id, location_id))
            if price is None and current_price is not None:
                prices_drop.append((variant_id, location_id))
            elif price is not None and price != current_price:
                prices_set.append(
                    LocationPrice(variant_id=variant_id, location_id=location_id, price=price)
                )
    if barcodes_drop:
        for chunk in _chunks(sorted({code for _, code in barcodes_drop})):
            Barcode.objects.filter(code__in=chunk).delete()
    _barcodes_insert(barcodes_add)
    by_location: dict[int, list[int]] = defaultdict(list)
    for variant_id, location_id in prices_drop:
        by_location[location_id].append(variant_id)
    for location_id, ids in by_location.items():
        for chunk in _chunks(ids):
            LocationPrice.objects.filter(location_id=location_id, variant_id__in=chunk).delete()
    for chunk in _chunks(prices_set):
        LocationPrice.objects.bulk_create(
            chunk,
            update_conflicts=True,
            unique_fields=["variant", "location"],
            update_fields=["price"],
        )
    plan.variant_ids = variant_ids
    return sorted({variant_ids[v.sku] for v in plan.variants if plan.outcome[v.sku] != "unchanged"})
