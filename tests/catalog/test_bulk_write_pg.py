"""The PostgreSQL write of catalog_bulk_write (new rows COPYed with ids taken from
their sequences, changed rows by UNNEST upserts chunk by chunk, each chunk's rows built
on a worker thread while the server stores the chunk before, a column with one value
throughout passed once) writes exactly what the portable bulk_create path writes: the
same rows, barcodes, location prices, catalog event and change_seq, and the same ids in
the plan for the stock write. Each path runs on the same data inside a savepoint that is
rolled back in between."""

from __future__ import annotations

import threading
from decimal import Decimal
from unittest import mock

import pytest
from django.db import IntegrityError, transaction

import apps.catalog.bulk_write as bulk
from apps.catalog.bulk import VARIANT_FIELDS, ProductInput, VariantInput, catalog_bulk_plan
from apps.catalog.bulk_write import catalog_bulk_write
from apps.catalog.models import Barcode, LocationPrice, Product, Variant
from apps.core.models import Event

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


class _Rollback(Exception):
    pass


@pytest.fixture
def catalog(store_a):
    shirt = Product.objects.create(handle="shirt", name="Shirt", brand="Acme")
    mug = Product.objects.create(handle="mug", name="Mug")
    Variant.objects.create(product=shirt, sku="SHIRT-S", price="10.00", option1_name="Size")
    moved = Variant.objects.create(product=shirt, sku="SHIRT-M", price="10.00", cost="4.00")
    Barcode.objects.create(variant=moved, code="111")
    LocationPrice.objects.create(variant=moved, location=store_a, price="9.00")
    Variant.objects.create(product=mug, sku="MUG-1", price="3.00")
    return store_a


def _inputs(store) -> tuple[dict, list]:
    products = {
        "shirt": ProductInput("shirt", {"name": "Shirt v2"}),
        "mug": ProductInput("mug", {}),
        "cap": ProductInput(
            "cap", {"name": "Cap", "brand": "Acme", "category_path": "Hats > Caps"}
        ),
        "solo": ProductInput("solo", {"name": "Solo"}),
    }
    variants = [
        VariantInput("SHIRT-S", "shirt", {"price": Decimal("12.00")}),
        # Moves to another product, drops its barcode and its location price.
        VariantInput("SHIRT-M", "mug", {}, barcodes=["222"], location_prices={store.pk: None}),
        VariantInput("MUG-1", "mug", {"price": Decimal("3.00")}),  # unchanged
        *(
            VariantInput(
                f"CAP-{index}",
                "cap",
                {
                    "price": Decimal("5.00"),
                    "compare_at_price": Decimal("7.50") if index % 2 else None,
                    "option1_name": "Colour",
                    "option1_value": ["red\tand\nblue", "NULL", 'say "hi"', "a,b", "back\\slash"][
                        index
                    ],
                    "active": index != 3,
                    "tracking": Variant.Tracking.LOT if index == 4 else Variant.Tracking.NONE,
                },
                barcodes=[f"9{index}", f"8{index}"],
                location_prices={store.pk: Decimal("4.50")} if index < 2 else {},
            )
            for index in range(5)
        ),
        # The last chunk has one row: every column but the SKU is one value.
        VariantInput("SOLO-1", "solo", {"price": Decimal("1.00")}, barcodes=["333"]),
    ]
    return products, variants


def _snapshot() -> dict:
    return {
        "variants": sorted(
            Variant.objects.values_list(
                "sku", "product__handle", "name", *VARIANT_FIELDS, "change_seq"
            )
        ),
        "products": sorted(
            Product.objects.values_list(
                "handle", "name", "brand", "description", "category__path", "active"
            )
        ),
        "barcodes": sorted(Barcode.objects.values_list("variant__sku", "code")),
        "prices": sorted(LocationPrice.objects.values_list("variant__sku", "location_id", "price")),
        "events": list(
            Event.objects.filter(stream="catalog").order_by("seq").values_list("seq", "payload")
        ),
    }


def _run(store, *, portable: bool, since_the_plan=None) -> tuple[dict, dict]:
    try:
        with transaction.atomic():
            products, variants = _inputs(store)
            plan = catalog_bulk_plan(products=products, variants=variants)
            if since_the_plan is not None:
                since_the_plan()
            if portable:
                with mock.patch.object(bulk, "_write_postgresql", bulk._write_portable):
                    written = catalog_bulk_write(plan=plan)
            else:
                written = catalog_bulk_write(plan=plan)
            ids = dict(Variant.objects.values_list("sku", "id"))
            by_id = {pk: sku for sku, pk in ids.items()}
            outcome = {
                "snapshot": _snapshot(),
                "outcome": plan.outcome,
                "written": sorted(by_id[pk] for pk in written),
                "variant_ids": plan.variant_ids == {sku: ids[sku] for sku in plan.outcome},
                "created": sorted(by_id[pk] for pk in plan.created_variant_ids),
            }
            raise _Rollback
    except _Rollback:
        pass
    return outcome


def test_the_chunked_write_matches_the_portable_one(catalog, monkeypatch):
    monkeypatch.setattr(bulk, "PG_CHUNK", 3)
    before = _snapshot()
    threads = threading.active_count()

    portable = _run(catalog, portable=True)
    assert _snapshot() == before
    chunked = _run(catalog, portable=False)

    assert chunked["snapshot"] == portable["snapshot"]
    assert chunked["outcome"] == portable["outcome"]
    assert chunked["written"] == portable["written"]
    assert chunked["variant_ids"] is True
    # Known on PostgreSQL only: the variants the upsert inserted rather than updated.
    assert chunked["created"] == [*(f"CAP-{index}" for index in range(5)), "SOLO-1"]
    assert threading.active_count() == threads  # the worker is gone
    snapshot = chunked["snapshot"]
    assert chunked["written"] == sorted(
        ["SHIRT-S", "SHIRT-M", *(f"CAP-{index}" for index in range(5)), "SOLO-1"]
    )
    [(seq, payload)] = [event for event in snapshot["events"] if event not in before["events"]]
    assert payload == {"count": 8}
    rows = {row[0]: row for row in snapshot["variants"]}
    assert {sku for sku, row in rows.items() if row[-1] == seq} == set(chunked["written"])
    assert rows["MUG-1"][-1] != seq
    cap = {
        sku: dict(zip(("sku", "handle", "name", *VARIANT_FIELDS), row, strict=False))
        for sku, row in rows.items()
    }
    assert [cap[f"CAP-{index}"]["option1_value"] for index in range(5)] == [
        "red\tand\nblue",
        "NULL",
        'say "hi"',
        "a,b",
        "back\\slash",
    ]
    assert [cap[f"CAP-{index}"]["compare_at_price"] for index in range(5)] == [
        None,
        Decimal("7.50"),
        None,
        Decimal("7.50"),
        None,
    ]
    assert cap["SHIRT-M"]["handle"] == "mug" and cap["SHIRT-M"]["cost"] == Decimal("4.00")
    assert cap["SOLO-1"]["price"] == Decimal("1.00")
    assert ("SHIRT-M", "111") not in snapshot["barcodes"]
    assert ("SHIRT-M", "222") in snapshot["barcodes"]
    assert snapshot["prices"] == [
        ("CAP-0", catalog.pk, Decimal("4.50")),
        ("CAP-1", catalog.pk, Decimal("4.50")),
    ]
    assert ("cap", "Cap", "Acme", "", "Hats > Caps", True) in snapshot["products"]


@pytest.mark.parametrize("created", ["variant", "product"])
def test_a_row_created_since_the_plan_read_is_updated_as_on_the_portable_path(
    catalog, monkeypatch, created
):
    """The new products and variants are COPYed; when one of them was created in the
    meantime (the plan read before it), the COPY is undone and they are upserted, as
    the portable path's upsert does: the result is the same."""
    monkeypatch.setattr(bulk, "PG_CHUNK", 3)

    def since_the_plan():
        if created == "variant":
            mug = Product.objects.get(handle="mug")
            Variant.objects.create(product=mug, sku="CAP-2", price="1.00", option1_name="Old")
        else:
            Product.objects.create(handle="cap", name="Old cap", brand="Other")

    portable = _run(catalog, portable=True, since_the_plan=since_the_plan)
    copied = _run(catalog, portable=False, since_the_plan=since_the_plan)

    assert copied["snapshot"] == portable["snapshot"]
    assert copied["written"] == portable["written"]
    assert copied["variant_ids"] is True
    cap = {row[0]: row for row in copied["snapshot"]["variants"]}["CAP-2"]
    assert cap[1:4] == ("cap", "", Decimal("5.00"))
    assert ("cap", "Cap", "Acme", "", "Hats > Caps", True) in copied["snapshot"]["products"]
    expected = [f"CAP-{index}" for index in range(5) if created == "product" or index != 2]
    assert copied["created"] == [*expected, "SOLO-1"]


def test_a_failing_chunk_writes_nothing(catalog, monkeypatch):
    """A barcode of a variant outside the plan fails the insert after every variant
    chunk was written: the whole write rolls back and its worker thread ends."""
    monkeypatch.setattr(bulk, "PG_CHUNK", 2)
    other = Variant.objects.create(product=Product.objects.get(handle="mug"), sku="OTHER", price=1)
    Barcode.objects.create(variant=other, code="91")
    before = _snapshot()
    threads = threading.active_count()
    products, variants = _inputs(catalog)
    plan = catalog_bulk_plan(products=products, variants=variants)

    with pytest.raises(IntegrityError):
        catalog_bulk_write(plan=plan)

    assert _snapshot() == before
    assert threading.active_count() == threads


def test_meanwhile_runs_beside_the_last_writes_with_every_id(catalog):
    products, variants = _inputs(catalog)
    plan = catalog_bulk_plan(products=products, variants=variants)
    seen = []

    catalog_bulk_write(
        plan=plan,
        meanwhile=lambda: seen.append((threading.get_ident(), dict(plan.variant_ids))),
    )

    [(thread, ids)] = seen
    assert thread != threading.get_ident()  # the write's worker, not this thread
    assert ids == dict(Variant.objects.filter(sku__in=plan.outcome).values_list("sku", "id"))


def test_a_failing_meanwhile_writes_nothing(catalog):
    before = _snapshot()
    products, variants = _inputs(catalog)
    plan = catalog_bulk_plan(products=products, variants=variants)

    def fail():
        raise LookupError("stock changes")

    with pytest.raises(LookupError):
        catalog_bulk_write(plan=plan, meanwhile=fail)

    assert _snapshot() == before
