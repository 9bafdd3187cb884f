"""The preview's plan, kept durably for the apply.

A preview works out everything its apply writes (`Preview.catalog_plan`, `Preview.stock`).
The apply may run in another process or on another machine, so the plan goes to the
default storage beside the upload, and the apply writes it instead of validating the
file again while nothing the preview read has changed (services._preview_kept).

Only what the write needs is kept: the variants to create or update with the rows they
were compared against, and the stock differences. It is stored as plain tuples, lists
and dicts (marshal, compressed): pickling the plan's dataclasses cost more CPU than the
validation it saves (100k rows: 2.2 s to dump, 1.7 s to load). A preview may wait for
its confirm across a deploy, and marshal's format is only that of one Python version: the
stored plan starts with the PLAN_VERSION and the Python version that wrote it, and one
written by any other is not used (the apply validates again).
"""

from __future__ import annotations

import contextlib
import marshal
import sys
import zlib
from decimal import Decimal
from pathlib import PurePath

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.catalog.bulk import CatalogBulkPlan, ProductInput, VariantInput

from .models import ImportJob
from .validation import Preview, StockDiff

# Stored with the plan: one written by another version of this module is never used.
PLAN_VERSION = 3
MONEY_FIELDS = ("price", "compare_at_price", "cost")


def plan_path(job: ImportJob) -> str:
    return f"{PurePath(job.file).parent}/plan.bin"


def _written_by() -> tuple[int, tuple[int, int]]:
    return (PLAN_VERSION, tuple(sys.version_info[:2]))


def plan_store(job: ImportJob, preview: Preview) -> str:
    """Keep what the preview would write; return its path in the storage ("" when it
    could not be stored: the apply then validates again)."""
    stock = preview.stock
    kept = (
        _written_by(),
        preview.kind,
        preview.rows_total,
        None if preview.catalog_plan is None else _catalog_pack(preview.catalog_plan),
        (
            [diff.row for diff in stock],
            [diff.sku for diff in stock],
            [diff.location_id for diff in stock],
            [diff.delta for diff in stock],
        ),
    )
    path = plan_path(job)
    try:
        data = zlib.compress(marshal.dumps(kept), 1)
        if default_storage.exists(path):
            default_storage.delete(path)
        return default_storage.save(path, ContentFile(data))
    except (OSError, ValueError):  # the storage failed, or a value marshal cannot keep
        return ""


def plan_load(path: str) -> Preview | None:
    """The preview kept at `path` with what its apply writes (no counts, errors or
    samples: the job has them), or None when it is missing, unreadable or written by
    another version."""
    with contextlib.suppress(OSError, ValueError, EOFError, TypeError, zlib.error):
        with default_storage.open(path, "rb") as handle:
            # Written by plan_store into our own storage, never uploaded.
            kept = marshal.loads(zlib.decompress(handle.read()))  # noqa: S302
        written_by, kind, rows_total, catalog, stock = kept
        if written_by != _written_by():
            return None
        preview = Preview(kind=kind, rows_total=rows_total)
        if catalog is not None:
            preview.catalog_plan = _catalog_unpack(catalog)
        preview.stock = [StockDiff(*diff) for diff in zip(*stock, strict=True)]
        return preview
    return None


def plan_delete(job: ImportJob) -> None:
    with contextlib.suppress(OSError):
        default_storage.delete(plan_path(job))


def _money_out(values: dict, text_of: dict) -> dict:
    """A copy with the amounts as text (text_of: id of an amount -> its text; a file
    repeats the same few amounts, the same Decimal objects)."""
    out = dict(values)
    for key in MONEY_FIELDS:
        value = out.get(key)
        if value is not None:
            text = text_of.get(id(value))
            if text is None:
                text = text_of[id(value)] = str(value)
            out[key] = text
    return out


def _catalog_pack(plan: CatalogBulkPlan) -> tuple:
    """The plan without its unchanged variants, which the write skips, nor their
    products, barcodes and prices. The stock write reads the ids of the variants it
    does not find in the plan."""
    outcome = plan.outcome
    variants = [v for v in plan.variants if outcome[v.sku] != "unchanged"]
    handles = dict.fromkeys(v.handle for v in variants)
    existing = {
        v.sku: plan.existing_variants[v.sku] for v in variants if v.sku in plan.existing_variants
    }
    ids = {row["id"] for row in existing.values()}
    # Held alive by the plan meanwhile, so their ids are not reused.
    text_of: dict[int, str] = {}
    skus = [v.sku for v in variants]
    # Column by column (one list per field, not a tuple per variant): fewer objects for
    # marshal to write, and most variants have no location price (None, not {}).
    return (
        (
            skus,
            [v.handle for v in variants],
            [outcome[sku] for sku in skus],
            [_money_out(v.values, text_of) for v in variants],
            [v.barcodes for v in variants],
            [
                {
                    location_id: None if price is None else str(price)
                    for location_id, price in v.location_prices.items()
                }
                if v.location_prices
                else None
                for v in variants
            ],
        ),
        {handle: plan.products[handle].values for handle in handles},
        {handle: row for handle, row in plan.existing_products.items() if handle in handles},
        {sku: _money_out(row, text_of) for sku, row in existing.items()},
        {
            variant_id: codes
            for variant_id, codes in plan.existing_barcodes.items()
            if variant_id in ids
        },
        [
            (variant_id, location_id, str(price))
            for (variant_id, location_id), price in plan.existing_prices.items()
            if variant_id in ids
        ],
        plan.categories,
        plan.changed_products & handles.keys(),
    )


def _catalog_unpack(packed: tuple) -> CatalogBulkPlan:
    (
        variants,
        products,
        existing_products,
        existing_variants,
        existing_barcodes,
        existing_prices,
        categories,
        changed_products,
    ) = packed
    skus, handles, outcomes, values_list, barcodes_list, prices_list = variants
    amounts: dict[str, Decimal] = {}

    def amount(text: str | None) -> Decimal | None:
        # A file repeats the same few prices: one Decimal each.
        if text is None:
            return None
        value = amounts.get(text)
        if value is None:
            value = amounts[text] = Decimal(text)
        return value

    def money_in(values: dict) -> dict:
        for key in MONEY_FIELDS:
            if key in values:
                values[key] = amount(values[key])
        return values

    return CatalogBulkPlan(
        outcome=dict(zip(skus, outcomes, strict=True)),
        products={
            handle: ProductInput(handle=handle, values=values)
            for handle, values in products.items()
        },
        variants=[
            VariantInput(
                sku=sku,
                handle=handle,
                values=money_in(values),
                barcodes=barcodes,
                location_prices={}
                if prices is None
                else {location_id: amount(price) for location_id, price in prices.items()},
            )
            for sku, handle, values, barcodes, prices in zip(
                skus, handles, values_list, barcodes_list, prices_list, strict=True
            )
        ],
        existing_products=existing_products,
        existing_variants={sku: money_in(row) for sku, row in existing_variants.items()},
        existing_barcodes=existing_barcodes,
        existing_prices={
            (variant_id, location_id): amount(price)
            for variant_id, location_id, price in existing_prices
        },
        categories=categories,
        changed_products=changed_products,
        existing_ids={sku: row["id"] for sku, row in existing_variants.items()},
    )
