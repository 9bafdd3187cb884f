"""The write half of the catalog bulk upserts (the plan: bulk.py).

`catalog_bulk_write` writes a CatalogBulkPlan's differences: on PostgreSQL the new
products, variants and barcodes by COPY (bulk_copy.py) and the changed rows by one
`INSERT ... SELECT FROM UNNEST(...) ON CONFLICT DO UPDATE` per PG_CHUNK rows, elsewhere
bulk_create's upsert (the same statement on SQLite).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.core.events import event_append
from apps.core.lookups import array_literal
from apps.core.rows import ids_take

from .bulk import VARIANT_FIELDS, CatalogBulkPlan, VariantInput
from .bulk_copy import copy_column, copy_rows, copy_value, copy_write
from .models import Barcode, Category, LocationPrice, Product, Variant
from .services import CATALOG_STREAM

# Rows per bulk_create and per delete.
CHUNK = 4000


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


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


# Column types for the PostgreSQL UNNEST writes; text when not listed.
_PG_TYPES = {
    "product_id": "bigint",
    "category_id": "bigint",
    "variant_id": "bigint",
    "price": "numeric",
    "compare_at_price": "numeric",
    "cost": "numeric",
    "active": "boolean",
    "change_seq": "bigint",
}
_PLAIN_NUMBERS = frozenset({int, Decimal, type(None)})
PRODUCT_COLUMNS = ("handle", "name", "brand", "description", "category_id")
# Rows per PostgreSQL upsert statement: each is one round trip and one plan.
PG_CHUNK = 10_000
_NEW_VARIANT = {
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
_NEW_PRODUCT = {"name": "", "brand": "", "description": "", "category_path": ""}


def _pg_array(values) -> str:
    """A PostgreSQL array literal, to be cast (`%s::text[]`): psycopg dumps a list element
    by element in Python, which cost more than the statement on 100,000-row imports."""
    values = list(values)
    # One pass in C tells which quick path fits (a check per value was most of a
    # 100,000-row import's catalog write in Python).
    kinds = set(map(type, values))
    if len(kinds) <= 1 and kinds <= {str, int}:
        return array_literal(values)
    if kinds <= _PLAIN_NUMBERS:
        # Amounts with blanks: nothing to quote.
        return "{" + ",".join(["NULL" if value is None else str(value) for value in values]) + "}"
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


@dataclass
class _Column:
    """One column of an UNNEST write: an array literal, or `value` alone when every row
    has the same one (most option names, active, tracking, cost and change_seq on a
    typical sheet), which PostgreSQL then neither receives nor parses once per row."""

    name: str
    array: str | None = None
    value: Any = None


def _column(name: str, values: list, *, same_allowed: bool = True) -> _Column:
    first = values[0]
    if same_allowed and values.count(first) == len(values):
        return _Column(name, value=first)
    return _Column(name, array=_pg_array(values))


def _unnest_select(columns: list[_Column]) -> tuple[str, list, str, list]:
    """`SELECT` list and `FROM UNNEST(...)` source of the rows, with their parameters.
    The first column must be an array (the rows' key): it gives the row count."""
    select, select_params, types, arrays, names = [], [], [], [], []
    for column in columns:
        sql_type = _PG_TYPES.get(column.name, "text")
        if column.array is None:
            select.append(f"%s::{sql_type}")
            select_params.append(column.value)
        else:
            select.append(f"u.{column.name}")
            types.append(f"%s::{sql_type}[]")
            arrays.append(column.array)
            names.append(column.name)
    # Names and types come from the fixed lists of this module, never from input.
    source = f"UNNEST({', '.join(types)}) AS u({', '.join(names)})"
    return ", ".join(select), select_params, source, arrays


def _products_statement(rows: list[tuple], now) -> tuple[str, list]:
    columns = [
        _column(name, list(values), same_allowed=index > 0)
        for index, (name, values) in enumerate(
            zip(PRODUCT_COLUMNS, zip(*rows, strict=True), strict=True)
        )
    ]
    select, select_params, source, arrays = _unnest_select(columns)
    sql = (
        "INSERT INTO catalog_product (handle, name, brand, description, category_id, active,"  # noqa: S608
        f" created_at, updated_at) SELECT {select}, true, %s, %s FROM {source}"
        " ON CONFLICT (handle) DO UPDATE SET name = EXCLUDED.name, brand = EXCLUDED.brand,"
        " description = EXCLUDED.description, category_id = EXCLUDED.category_id,"
        " updated_at = EXCLUDED.updated_at RETURNING handle, id"
    )
    return sql, [*select_params, now, now, *arrays]


def _variant_columns(plan: CatalogBulkPlan, variants: list[VariantInput]) -> list[_Column]:
    """The rows of these variants as the upsert writes them (all but product_id and
    change_seq): the input's values over the current row, or a new variant's defaults."""
    existing = plan.existing_variants
    currents = [existing.get(variant.sku, _NEW_VARIANT) for variant in variants]
    columns = [_column("sku", [variant.sku for variant in variants], same_allowed=False)]
    for name in VARIANT_FIELDS:
        values = [
            variant.values[name] if name in variant.values else current[name]
            for variant, current in zip(variants, currents, strict=True)
        ]
        columns.append(_column(name, values))
    return columns


_VARIANT_UPDATES = ", ".join(
    f"{name} = EXCLUDED.{name}" for name in ("product_id", *VARIANT_FIELDS, "change_seq")
)


def _variants_statement(
    columns: list[_Column], product_ids: list[int], change_seq: int, now
) -> tuple[str, list]:
    columns = [
        columns[0],
        _column("product_id", product_ids),
        *columns[1:],
        _Column("change_seq", value=change_seq),
    ]
    select, select_params, source, arrays = _unnest_select(columns)
    sql = (
        f"INSERT INTO catalog_variant ({', '.join(c.name for c in columns)}, name,"  # noqa: S608
        f" created_at, updated_at) SELECT {select}, '', %s, %s FROM {source}"
        f" ON CONFLICT (sku) DO UPDATE SET {_VARIANT_UPDATES}, updated_at = EXCLUDED.updated_at"
        # xmax is 0 on a row version the statement inserted, set where it updated one.
        " RETURNING sku, id, xmax = '0'::xid"
    )
    return sql, [*select_params, now, now, *arrays]


@dataclass
class _Differences:
    """What a write changes besides the variant rows themselves."""

    barcodes_drop: list[tuple[int, str]] = field(default_factory=list)
    barcodes_add: list[tuple[int, str]] = field(default_factory=list)
    prices_drop: list[tuple[int, int]] = field(default_factory=list)
    prices_set: list[LocationPrice] = field(default_factory=list)


def _differences(plan: CatalogBulkPlan, variants: list[VariantInput], ids) -> _Differences:
    """Barcodes and location prices to change for these (created or changed) variants;
    `ids` maps their skus to their ids."""
    out = _Differences()
    for variant in variants:
        variant_id = ids[variant.sku]
        if variant.barcodes is not None:
            current_codes = plan.existing_barcodes.get(variant_id, set())
            out.barcodes_drop += [
                (variant_id, code) for code in current_codes - set(variant.barcodes)
            ]
            out.barcodes_add += [
                (variant_id, code) for code in variant.barcodes if code not in current_codes
            ]
        for location_id, price in variant.location_prices.items():
            current_price = plan.existing_prices.get((variant_id, location_id))
            if price is None and current_price is not None:
                out.prices_drop.append((variant_id, location_id))
            elif price is not None and price != current_price:
                out.prices_set.append(
                    LocationPrice(variant_id=variant_id, location_id=location_id, price=price)
                )
    return out


def _differences_copy(plan, variants, ids) -> tuple[_Differences, str]:
    """_differences, with the barcodes to add as COPY rows (PostgreSQL)."""
    differences = _differences(plan, variants, ids)
    add = differences.barcodes_add
    columns = [copy_column([r[0] for r in add]), copy_column([r[1] for r in add])] if add else []
    return differences, copy_rows(columns, len(add))


def _product_rows(plan: CatalogBulkPlan, categories: dict[str, int]) -> list[tuple]:
    """(handle, name, brand, description, category_id) of the products to write."""
    rows = []
    for handle in sorted(plan.changed_products):
        current = plan.existing_products.get(handle) or _NEW_PRODUCT
        values = {**current, **plan.products[handle].values}
        path = values["category_path"]
        rows.append(
            (
                handle,
                values["name"],
                values["brand"],
                values["description"],
                categories.get(path) if path else None,
            )
        )
    return rows


def _event_for(variants: list[VariantInput]):
    # Moves the sync cursor of exactly these variants (catalog_changes_record's rule:
    # one "catalog" event whose commit-ordered seq becomes their change_seq), written
    # by the upsert itself instead of a second UPDATE of every row.
    return event_append(
        stream=CATALOG_STREAM,
        type="catalog",
        payload={"count": len({variant.sku for variant in variants})},
    )


def _differences_write(differences: list[_Differences], barcode_copy=None) -> None:
    """Barcodes dropped before any is added (a code may move between variants), then
    location prices. `barcode_copy` (PostgreSQL): the added barcodes as COPY rows."""
    codes_drop = sorted({code for d in differences for _, code in d.barcodes_drop})
    for chunk in _chunks(codes_drop):
        Barcode.objects.filter(code__in=chunk).delete()
    if barcode_copy is None:
        add = [row for d in differences for row in d.barcodes_add]
        for chunk in _chunks(add):
            Barcode.objects.bulk_create(
                [Barcode(variant_id=variant_id, code=code) for variant_id, code in chunk]
            )
    elif any(barcode_copy):
        with connection.cursor() as cursor:
            pieces = filter(None, barcode_copy)
            copy_write(cursor, "catalog_barcode", ("variant_id", "code"), pieces)
    by_location: dict[int, list[int]] = defaultdict(list)
    for d in differences:
        for variant_id, location_id in d.prices_drop:
            by_location[location_id].append(variant_id)
    for location_id, ids in by_location.items():
        for chunk in _chunks(ids):
            LocationPrice.objects.filter(location_id=location_id, variant_id__in=chunk).delete()
    for chunk in _chunks([price for d in differences for price in d.prices_set]):
        LocationPrice.objects.bulk_create(
            chunk,
            update_conflicts=True,
            unique_fields=["variant", "location"],
            update_fields=["price"],
        )


_VARIANT_COPY_COLUMNS = (
    "id",
    "sku",
    "product_id",
    *VARIANT_FIELDS,
    "change_seq",
    "name",
    "created_at",
    "updated_at",
)


def _variants_copy_rows(
    plan: CatalogBulkPlan, variants: list[VariantInput], ids: list[int], product_ids, seq, now
) -> str:
    """New variants (and ids for them) as COPY rows: the input's values over a new
    variant's defaults, as the upsert writes them."""
    columns: list[list[str] | str] = [
        copy_column(ids),
        copy_column([variant.sku for variant in variants]),
        copy_column([product_ids[variant.handle] for variant in variants]),
    ]
    for name in VARIANT_FIELDS:
        default = _NEW_VARIANT[name]
        columns.append(copy_column([variant.values.get(name, default) for variant in variants]))
    stamp = copy_value(now)
    columns += [copy_value(seq), "", stamp, stamp]
    return copy_rows(columns, len(variants))


class _CreatedMeanwhile(Exception):
    """A row the plan found new (its handle or SKU) exists by now."""


def _copy_new(cursor, table: str, columns: tuple[str, ...], pieces) -> None:
    """COPY new rows (the futures of their copy_rows text) in a savepoint. Raises
    _CreatedMeanwhile, having written none of them, when one of them was created since
    the plan read (the unique index refuses it): the caller then upserts them like the
    others, as the portable path does. Any other refusal is raised again by the upsert."""
    try:
        with transaction.atomic():
            copy_write(cursor, table, columns, (piece.result() for piece in pieces))
    except IntegrityError as error:
        raise _CreatedMeanwhile from error


_PRODUCT_COPY_COLUMNS = ("id", *PRODUCT_COLUMNS, "active", "created_at", "updated_at")


def _products_copy_rows(rows: list[tuple], ids: list[int], now) -> str:
    values = zip(*rows, strict=True)
    columns = [copy_column(ids), *(copy_column(list(column)) for column in values)]
    stamp = copy_value(now)
    columns += [copy_value(True), stamp, stamp]
    return copy_rows(columns, len(rows))


def _products_copy(cursor, worker, rows: list[tuple], now) -> dict[str, int]:
    """COPY new products (_product_rows' rows), with ids taken from the sequence first;
    return their ids by handle (see _copy_new for _CreatedMeanwhile)."""
    if not rows:
        return {}
    ids = ids_take(cursor, "catalog_product", len(rows))
    pieces = [
        worker.submit(
            _products_copy_rows, rows[start : start + PG_CHUNK], ids[start : start + PG_CHUNK], now
        )
        for start in range(0, len(rows), PG_CHUNK)
    ]
    _copy_new(cursor, "catalog_product", _PRODUCT_COPY_COLUMNS, pieces)
    return dict(zip((row[0] for row in rows), ids, strict=True))


def _variants_copy(cursor, worker, plan, variants, product_ids, seq, now) -> tuple[dict, list]:
    """COPY the plan's new variants, with ids taken from the sequence first; return
    their ids by SKU and the futures of their differences (_differences_copy). See
    _copy_new for _CreatedMeanwhile."""
    if not variants:
        return {}, []
    ids = ids_take(cursor, "catalog_variant", len(variants))
    by_sku = dict(zip((variant.sku for variant in variants), ids, strict=True))
    chunks = [
        (variants[start : start + PG_CHUNK], ids[start : start + PG_CHUNK])
        for start in range(0, len(variants), PG_CHUNK)
    ]
    pieces = [
        worker.submit(_variants_copy_rows, plan, chunk, chunk_ids, product_ids, seq, now)
        for chunk, chunk_ids in chunks
    ]
    differences = [worker.submit(_differences_copy, plan, chunk, by_sku) for chunk, _ in chunks]
    try:
        _copy_new(cursor, "catalog_variant", _VARIANT_COPY_COLUMNS, pieces)
    except _CreatedMeanwhile:
        for future in differences:
            future.cancel()
        raise
    return by_sku, differences


def _write_postgresql(
    plan: CatalogBulkPlan, product_rows: list[tuple], now, meanwhile: Callable[[], Any] | None
) -> list[int]:
    """The new products and variants COPYed (_products_copy, _variants_copy), the
    others written by one UNNEST upsert per PG_CHUNK rows. Building the rows is most
    of the write's Python; it runs on a worker thread while the server stores the rows
    before (psycopg releases the GIL while it waits), instead of the server waiting for
    Python and Python for the server. The worker only builds text: every statement is
    executed here, on the transaction's connection."""
    new_products = [row for row in product_rows if row[0] not in plan.existing_products]
    changed_products = [row for row in product_rows if row[0] in plan.existing_products]
    changed = [v for v in plan.variants if plan.outcome[v.sku] != "unchanged"]
    created = [v for v in changed if plan.outcome[v.sku] == "create"]
    updated = [v for v in changed if plan.outcome[v.sku] != "create"]
    product_ids = {handle: row["id"] for handle, row in plan.existing_products.items()}
    variant_ids = dict(plan.existing_ids)
    written: list[int] = []
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog-bulk")
    try:
        # Queued in the order they are needed: the worker keeps one step ahead.
        product_statements = [
            worker.submit(_products_statement, chunk, now)
            for chunk in _chunks(changed_products, PG_CHUNK)
        ]
        variant_columns = [
            worker.submit(_variant_columns, plan, chunk) for chunk in _chunks(updated, PG_CHUNK)
        ]
        with connection.cursor() as cursor:
            try:
                product_ids.update(_products_copy(cursor, worker, new_products, now))
            except _CreatedMeanwhile:
                product_statements = [
                    worker.submit(_products_statement, chunk, now)
                    for chunk in _chunks(product_rows, PG_CHUNK)
                ]
            for statement in product_statements:
                cursor.execute(*statement.result())
                product_ids.update(cursor.fetchall())
            seq = _event_for(changed).seq if changed else 0
            try:
                ids, differences = _variants_copy(
                    cursor, worker, plan, created, product_ids, seq, now
                )
            except _CreatedMeanwhile:
                ids, differences, updated = {}, [], changed
                variant_columns = [
                    worker.submit(_variant_columns, plan, chunk)
                    for chunk in _chunks(updated, PG_CHUNK)
                ]
            plan.created_variant_ids.update(ids.values())
            variant_ids.update(ids)
            written += ids.values()
            for chunk, columns in zip(_chunks(updated, PG_CHUNK), variant_columns, strict=True):
                cursor.execute(
                    *_variants_statement(
                        columns.result(), [product_ids[v.handle] for v in chunk], seq, now
                    )
                )
                ids = {}
                for sku, pk, inserted in cursor.fetchall():
                    ids[sku] = pk
                    if inserted:
                        plan.created_variant_ids.add(pk)
                variant_ids.update(ids)
                written += ids.values()
                differences.append(worker.submit(_differences_copy, plan, chunk, ids))
        results = [future.result() for future in differences]
        plan.variant_ids = variant_ids
        after = worker.submit(meanwhile) if meanwhile is not None else None
        _differences_write([d for d, _ in results], [rows for _, rows in results])
        if after is not None:
            after.result()
    finally:
        # A failed statement leaves nothing for the queued builds to do.
        worker.shutdown(cancel_futures=True)
    return sorted(written)


def _write_portable(
    plan: CatalogBulkPlan, product_rows: list[tuple], now, meanwhile: Callable[[], Any] | None
) -> list[int]:
    """bulk_create's upserts (SQLite)."""
    product_ids = {handle: row["id"] for handle, row in plan.existing_products.items()}
    products = [
        Product(
            handle=handle,
            name=name,
            brand=brand,
            description=description,
            category_id=category_id,
            created_at=now,
            updated_at=now,
        )
        for handle, name, brand, description, category_id in product_rows
    ]
    for chunk in _chunks(products):
        Product.objects.bulk_create(
            chunk,
            update_conflicts=True,
            unique_fields=["handle"],
            update_fields=["name", "brand", "description", "category", "updated_at"],
        )
    # bulk_create's upsert sets the ids on SQLite >= 3.35; the others are read.
    product_ids.update((p.handle, p.pk) for p in products if p.pk is not None)
    missing = [p.handle for p in products if p.pk is None]
    for chunk in _chunks(missing):
        product_ids.update(Product.objects.filter(handle__in=chunk).values_list("handle", "id"))

    changed = [v for v in plan.variants if plan.outcome[v.sku] != "unchanged"]
    variant_ids = dict(plan.existing_ids)
    if changed:
        seq = _event_for(changed).seq
        rows = []
        for variant in changed:
            current = plan.existing_variants.get(variant.sku, _NEW_VARIANT)
            values = {k: current[k] for k in VARIANT_FIELDS} | variant.values
            rows.append(
                Variant(
                    sku=variant.sku,
                    product_id=product_ids[variant.handle],
                    change_seq=seq,
                    created_at=now,
                    updated_at=now,
                    **values,
                )
            )
        for chunk in _chunks(rows):
            created = Variant.objects.bulk_create(
                chunk,
                update_conflicts=True,
                unique_fields=["sku"],
                update_fields=["product", *VARIANT_FIELDS, "change_seq", "updated_at"],
            )
            variant_ids.update((variant.sku, variant.pk) for variant in created if variant.pk)
    new_skus = [v.sku for v in changed if v.sku not in variant_ids]
    for chunk in _chunks(new_skus):
        variant_ids.update(Variant.objects.filter(sku__in=chunk).values_list("sku", "id"))
    _differences_write([_differences(plan, changed, variant_ids)])
    plan.variant_ids = variant_ids
    if meanwhile is not None:
        meanwhile()
    return sorted({variant_ids[v.sku] for v in changed})


@transaction.atomic
def catalog_bulk_write(
    *, plan: CatalogBulkPlan, meanwhile: Callable[[], Any] | None = None
) -> list[int]:
    """Write the plan's differences; return the ids of variants created or changed.

    `meanwhile`, when given, is called once `plan.variant_ids` is complete, while the
    barcodes and location prices are written: on PostgreSQL on the write's worker
    thread, so it must not use the database (the caller's next Python work, overlapped
    with the server's). Its exceptions propagate."""
    now = timezone.now()
    categories = _categories_ensure(
        {
            p.values["category_path"]
            for p in plan.products.values()
            if p.values.get("category_path")
        },
        dict(plan.categories),
    )
    product_rows = _product_rows(plan, categories)
    if connection.vendor == "postgresql":
        return _write_postgresql(plan, product_rows, now, meanwhile)
    return _write_portable(plan, product_rows, now, meanwhile)
