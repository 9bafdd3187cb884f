"""On PostgreSQL a big import's stock goes through the bulk ledger path
(inventory.ledger_bulk). The same stock sheet applied to two stores, one on each path,
gives the same levels, ledger rows and events at each store, and check_stock stays clean."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

import apps.imports.services as services
import apps.inventory.ledger_bulk as ledger_bulk
from apps.core.models import Event
from apps.inventory.models import Movement, StockLevel
from tests.factories import VariantFactory

from .helpers import csv_bytes
from .test_stock_and_apply import STOCK_HEADER, applied

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _at(location) -> dict:
    levels = StockLevel.objects.filter(location=location).order_by("variant__sku")
    movements = Movement.objects.filter(location=location).order_by("id")
    events = Event.objects.filter(stream=f"location.{location.code}").order_by("id")
    return {
        "levels": list(levels.values_list("variant__sku", "on_hand", "reserved", "seq")),
        "movements": [
            (m.variant.sku, m.delta_on_hand, m.on_hand_after, m.reason, m.reference_type, m.seq)
            for m in movements.select_related("variant")
        ],
        "events": [
            (seq, {k: v for k, v in message.items() if k not in ("location", "type", "seq")})
            for e in events
            for seq, message in e.messages()
        ],
    }


def test_a_stock_sheet_writes_the_same_on_the_bulk_and_the_portable_path(
    hq_admin, store_a, store_b, monkeypatch
):
    variants = [VariantFactory(sku=f"S{i:03d}") for i in range(30)]
    # Some levels exist beforehand: counts then write the difference, deltas add.
    for code in ("SA1", "SB1"):
        applied(
            hq_admin,
            csv_bytes([[v.sku, code, "5", ""] for v in variants[:10]], header=STOCK_HEADER),
            filename=f"seed-{code}.csv",
        )
    rows = [
        [v.sku, "{code}", str(i % 4) if i % 3 else "", "" if i % 3 else str(i % 5 + 1)]
        for i, v in enumerate(variants)
    ]
    for code, minimum in (("SA1", 10**9), ("SB1", 1)):
        monkeypatch.setattr(ledger_bulk, "BULK_MIN_CHANGES", minimum)
        sheet = [[cell.format(code=code) for cell in row] for row in rows]
        job = applied(hq_admin, csv_bytes(sheet, header=STOCK_HEADER), filename=f"{code}.csv")
        assert job.status == "applied", job.message
        assert Movement.objects.filter(reference_id=str(job.pk)).count() == job.stock_movements
    portable, bulk = _at(store_a), _at(store_b)
    assert portable["movements"] and bulk == portable
    call_command("check_stock")


def test_a_big_apply_refreshes_the_planner_statistics_after_commit(
    hq_admin, store_a, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "ANALYZE_AFTER_ROWS", 3)
    variants = [VariantFactory(sku=f"A{i:03d}") for i in range(3)]
    rows = [[v.sku, "SA1", "5", ""] for v in variants]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = applied(hq_admin, csv_bytes(rows, header=STOCK_HEADER), filename="stock.csv")
    assert job.status == "applied", job.message
    assert services._statistics_refresh_queue in callbacks
    # The callback queues the task; tests run tasks at enqueue, as a worker would.
    with CaptureQueriesContext(connection) as queries:
        services._statistics_refresh_queue()
    analyze = [q["sql"] for q in queries if q["sql"].startswith("ANALYZE")]
    assert len(analyze) == 1
    for table in ("catalog_variant", "catalog_product", "inventory_stocklevel"):
        assert f'"{table}"' in analyze[0]


def test_a_small_apply_leaves_the_statistics_to_autovacuum(
    hq_admin, store_a, django_capture_on_commit_callbacks
):
    variants = [VariantFactory(sku=f"B{i:03d}") for i in range(3)]
    rows = [[v.sku, "SA1", "5", ""] for v in variants]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = applied(hq_admin, csv_bytes(rows, header=STOCK_HEADER), filename="stock.csv")
    assert job.status == "applied", job.message
    assert services._statistics_refresh_queue not in callbacks
