"""Set-based catalog upserts for bulk imports (owned by apps.imports).

`catalog_bulk_plan` reads what exists for a batch of rows in a few queries and works
out the difference; `catalog_bulk_write` (bulk_write.py) writes only that difference,
with `INSERT ... ON CONFLICT DO UPDATE` upserts, and moves the sync cursor of exactly
the variants it created or changed. A second run on the same rows finds nothing to
write: no UPDATE, no change_seq move.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter, ne
from typing import Any

from apps.core.lookups import AnyOf, any_of_chunks, rows_read

from .models import Barcode, Category, LocationPrice, Product, Variant

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
# The fields of variants_existing's rows, in their order.
VARIANT_ROW = ("id", "sku", "product__handle", *VARIANT_FIELDS)
_POSITION = {name: position for position, name in enumerate(VARIANT_ROW)}
# The keys of products_existing's rows, in their order.
_PRODUCT_ROW = ("id", "handle", *PRODUCT_FIELDS)
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
    # sku -> the current row (VARIANT_ROW's keys) of each variant the plan updates.
    existing_variants: dict[str, dict[str, Any]]
    existing_barcodes: dict[int, set[str]]
    existing_prices: dict[tuple[int, int], Decimal]
    categories: dict[str, int]  # existing path -> id
    changed_products: set[str]
    # sku -> id of the plan's variants that exist (all of them, unchanged ones too; a
    # plan kept for the apply, plans.py, has only those it updates).
    existing_ids: dict[str, int] = field(default_factory=dict)
    # sku -> id of every variant of the plan, filled in by catalog_bulk_write.
    variant_ids: dict[str, int] = field(default_factory=dict)
    # Ids of the variants catalog_bulk_write inserted (PostgreSQL; empty elsewhere): no
    # other transaction sees them until commit, so no one else can stock them meanwhile.
    created_variant_ids: set[int] = field(default_factory=set)


def variants_existing(skus) -> dict[str, tuple]:
    """sku -> the variant's current row as the plan compares it, a tuple of VARIANT_ROW
    (id, sku, its product's handle and VARIANT_FIELDS), for the skus that exist. Tuples,
    not dicts: a re-import compares 100,000 rows and makes dicts only of those it
    updates (a dict per row was 0.16 s of its CPU)."""
    existing: dict[str, tuple] = {}
    for chunk in any_of_chunks(skus):
        rows = rows_read(Variant.objects.filter(AnyOf("sku", chunk)).values_list(*VARIANT_ROW))
        existing.update(zip(map(itemgetter(1), rows), rows, strict=True))
    return existing


def products_existing(handles) -> dict[str, dict[str, Any]]:
    """handle -> the product's current row as the plan compares it (id, handle and
    PRODUCT_FIELDS), for the handles that exist."""
    existing: dict[str, dict[str, Any]] = {}
    for chunk in any_of_chunks(sorted(handles)):
        for row in rows_read(
            Product.objects.filter(AnyOf("handle", chunk)).values_list(
                "id", "handle", "name", "brand", "description", "category__path"
            )
        ):
            product = dict(zip(_PRODUCT_ROW, row, strict=True))
            product["category_path"] = product["category_path"] or ""
            existing[row[1]] = product
    return existing


def barcode_pairs_existing(variant_ids) -> list[tuple[int, str]]:
    """(variant id, code) of every barcode of these variants."""
    pairs: list[tuple[int, str]] = []
    for chunk in any_of_chunks(variant_ids):
        pairs += rows_read(
            Barcode.objects.filter(AnyOf("variant_id", chunk)).values_list("variant_id", "code")
        )
    return pairs


def barcodes_by_variant(pairs: Iterable[tuple[int, str]]) -> dict[int, set[str]]:
    """variant id -> its barcodes, from barcode_pairs_existing's (variant id, code)."""
    existing: dict[int, set[str]] = defaultdict(set)
    for variant_id, code in pairs:
        existing[variant_id].add(code)
    return existing


def catalog_bulk_plan(
    *,
    products: dict[str, ProductInput],
    variants: list[VariantInput],
    existing_variants: dict[str, tuple] | None = None,
    existing_products: dict[str, dict[str, Any]] | None = None,
    existing_barcodes: dict[int, set[str]] | None = None,
) -> CatalogBulkPlan:
    """Read the current rows for these inputs and decide each SKU's outcome. What the
    caller read already (variants_existing of these skus or more, products_existing of
    these handles or more, barcodes_by_variant of these variants or more) is not read
    again."""
    if existing_products is None:
        existing_products = products_existing(products)
    else:
        existing_products = {
            handle: existing_products[handle] for handle in products if handle in existing_products
        }
    if existing_variants is None:
        existing_variants = variants_existing(v.sku for v in variants)
    currents = list(map(existing_variants.get, [v.sku for v in variants]))
    existing_ids = {current[1]: current[0] for current in currents if current is not None}
    ids = list(existing_ids.values())
    if existing_barcodes is None:
        existing_barcodes = barcodes_by_variant(barcode_pairs_existing(ids))
    # Only a variant given location prices is compared with (and written over) its
    # current ones: a file without price@ columns reads none.
    priced = [
        current[0]
        for variant, current in zip(variants, currents, strict=True)
        if variant.location_prices and current is not None
    ]
    existing_prices: dict[tuple[int, int], Decimal] = {}
    for chunk in any_of_chunks(priced):
        for variant_id, location_id, price in rows_read(
            LocationPrice.objects.filter(AnyOf("variant_id", chunk)).values_list(
                "variant_id", "location_id", "price"
            )
        ):
            existing_prices[(variant_id, location_id)] = price
    paths = {p.values["category_path"] for p in products.values() if p.values.get("category_path")}
    categories = dict(Category.objects.filter(path__in=paths).values_list("path", "id"))

    changed_products = set()
    for handle, product in products.items():
        current = existing_products.get(handle)
        if current is None or any(current[k] != v for k, v in product.values.items()):
            changed_products.add(handle)
    outcome: dict[str, str] = {}
    updated: dict[str, dict[str, Any]] = {}
    position = _POSITION.__getitem__
    no_barcodes: set[str] = set()
    for variant, current in zip(variants, currents, strict=True):
        if current is None:
            outcome[variant.sku] = "create"
        elif (
            variant.handle in changed_products
            or current[2] != variant.handle
            # current[k] != v for any given field, compared in C (no generator per row).
            or any(
                map(
                    ne,
                    map(current.__getitem__, map(position, variant.values)),
                    variant.values.values(),
                )
            )
            or (
                variant.barcodes is not None
                and set(variant.barcodes) != existing_barcodes.get(current[0], no_barcodes)
            )
            or any(
                existing_prices.get((current[0], location_id)) != price
                for location_id, price in variant.location_prices.items()
            )
        ):
            outcome[variant.sku] = "update"
            updated[variant.sku] = dict(zip(VARIANT_ROW, current, strict=True))
        else:
            outcome[variant.sku] = "unchanged"
    return CatalogBulkPlan(
        outcome=outcome,
        products=products,
        variants=variants,
        existing_products=existing_products,
        existing_variants=updated,
        existing_barcodes=existing_barcodes,
        existing_prices=existing_prices,
        categories=categories,
        changed_products=changed_products,
        existing_ids=existing_ids,
    )
