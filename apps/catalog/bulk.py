"""Set-based catalog upserts for bulk imports (owned by apps.imports).

`catalog_bulk_plan` reads what exists for a batch of rows in a few queries and works
out the difference; `catalog_bulk_write` (bulk_write.py) writes only that difference,
with `INSERT ... ON CONFLICT DO UPDATE` upserts, and moves the sync cursor of exactly
the variants it created or changed. A second run on the same rows finds nothing to
write: no UPDATE, no change_seq move.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from apps.core.lookups import AnyOf, any_of_chunks

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
