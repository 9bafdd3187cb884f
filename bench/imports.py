"""Spreadsheet import (issue 6): a 100,000-row catalog xlsx with stock at 3 locations.

On a throwaway PostgreSQL database, in a child process (so its peak memory is the
import's), by a head-office user (so its ledger rows name their actor, as in production):
preview (parse + validate) <= 5 s, apply <= 10 s, peak RSS <= 500 MB, re-import of the
same file (all unchanged) <= 5 s with zero catalog/ledger writes; and, in the same run, a
plain django-import-export ModelResource import of a 10,000-row subset, compared as rows
per second. `--quick` uses 10,000 rows (1,000 for the baseline).
"""

from __future__ import annotations

import io
import json
import os
import resource
import sys
import tempfile
import time

from bench import _pg

DATABASE = _pg.db_name("omo_bench_imports")
LOCATIONS = ("S01", "S02", "W01")


def run(args) -> list[dict]:
    from bench._pg import run_child

    count = 10_000 if getattr(args, "quick", False) else 100_000
    # A media folder of its own: the first preview reads a cold file (nothing kept by
    # an earlier run, apps.imports keeps parsed cells by content), and its ~100 MB per
    # run go when it ends.
    with tempfile.TemporaryDirectory(prefix="omo-bench-imports-") as media:
        # The apply queues the planner-statistics task for a worker; here no worker
        # runs, so the bench runs it itself after the apply (timed on its own row) and
        # its queued message goes to a broker in memory, not to a Redis nobody reads.
        env = {"MEDIA_ROOT": media, "CELERY_BROKER_URL": "memory://"}
        return run_child("bench.imports", DATABASE, [str(count)], env)


def _xlsx(count: int) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("catalog")
    sheet.append(
        [
            "sku",
            "product_handle",
            "product_name",
            "price",
            "barcode",
            "category",
            "brand",
            "option1_name",
            "option1_value",
            "compare_at_price",
            *(f"stock@{code}" for code in LOCATIONS),
        ]
    )
    sizes = ["XS", "S", "M", "L"]
    for i in range(count):
        product = i // 4
        sheet.append(
            [
                f"BN-{i:07d}",
                f"bench-{product}",
                f"Bench product {product}" if i % 4 == 0 else None,
                19.9 + (i % 7),
                f"2{i:012d}",
                f"Bench > Group {i % 20} > Line {i % 3}",
                f"Brand {product % 40}",
                "Size",
                sizes[i % 4],
                "29.90" if i % 5 == 0 else None,
                i % 11,
                (i * 3) % 13,
                5,
            ]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _baseline_dataset(count: int):
    import tablib

    dataset = tablib.Dataset(
        headers=[
            "sku",
            "product_handle",
            "price",
            "option1_name",
            "option1_value",
            "active",
            "tracking",
        ]
    )
    for i in range(count):
        dataset.append([f"BASE-{i:07d}", f"bench-{i // 4}", "19.90", "Size", "M", "1", "none"])
    return dataset


def _server_cpu(connection) -> float | None:
    """CPU seconds of this connection's PostgreSQL backend so far, read from /proc (None
    when the server is on another machine). The apply's time is split between this
    process and the server, and on a busy machine CPU is steadier than wall time."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _cpu_since(before: float | None, connection) -> float | None:
    after = _server_cpu(connection)
    return None if before is None or after is None else after - before


def _server_note(seconds: float | None) -> str:
    return "" if seconds is None else f" + PostgreSQL {seconds:.2f} s"


def _child(count: int) -> list[dict]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from apps.accounts.models import User
    from apps.imports.resources import VariantAdminResource
    from apps.imports.services import import_job_confirm, import_job_create, statistics_refresh
    from apps.inventory.models import Movement
    from apps.stores.models import Location

    call_command("migrate", verbosity=0)
    for code in LOCATIONS:
        Location.objects.create(code=code, name=f"Bench {code}")
    # A head-office user, as in production (only head office may import the catalog, and
    # it manages every location): the ledger rows carry actor_user_id, not NULL.
    user = User.objects.create_user(
        "bench-hq@example.com", "bench", full_name="Bench HQ", role=User.Role.HQ_ADMIN
    )
    started = time.perf_counter()
    data = _xlsx(count)
    write_seconds = time.perf_counter() - started
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    server_before = _server_cpu(connection)
    started, cpu = time.perf_counter(), time.process_time()
    job = import_job_create(actor=user, filename="bench.xlsx", content=data, run_now=True)
    preview_seconds = time.perf_counter() - started
    # This process's CPU and the database server's: steadier than the seconds on a busy
    # machine.
    preview_cpu = time.process_time() - cpu
    preview_server_cpu = _cpu_since(server_before, connection)
    assert job.status == "previewed" and job.count_create == count, (
        job.status,
        job.message,
        job.row_errors[:3],
    )

    server_before = _server_cpu(connection)
    started, cpu = time.perf_counter(), time.process_time()
    job = import_job_confirm(actor=user, job_id=job.pk, run_now=True)
    apply_seconds = time.perf_counter() - started
    apply_cpu = time.process_time() - cpu
    apply_server_cpu = _cpu_since(server_before, connection)
    assert job.status == "applied", job.message
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # What a worker runs next, from the task the apply's commit queued (the job is
    # already applied and shown as such): before the re-import, as in production.
    started = time.perf_counter()
    statistics_refresh()
    analyze_seconds = time.perf_counter() - started
    movements = Movement.objects.count()

    writes: list[str] = []

    def count_writes(execute, sql, params, many, context):
        head = sql.lstrip()[:6].upper()
        if head in ("INSERT", "UPDATE", "DELETE") and "imports_importjob" not in sql:
            writes.append(sql[:80])
        return execute(sql, params, many, context)

    server_before = _server_cpu(connection)
    started, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(count_writes):
        again = import_job_create(actor=user, filename="bench.xlsx", content=data, run_now=True)
        again = import_job_confirm(actor=user, job_id=again.pk, run_now=True)
    reimport_seconds = time.perf_counter() - started
    rss_again = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reimport_cpu = time.process_time() - cpu
    reimport_server_cpu = _cpu_since(server_before, connection)
    assert again.count_unchanged == count, (again.count_create, again.count_update)
    new_movements = Movement.objects.count() - movements

    baseline_rows = count // 10
    dataset = _baseline_dataset(baseline_rows)
    started = time.perf_counter()
    result = VariantAdminResource().import_data(dataset, dry_run=False, raise_errors=True)
    baseline_seconds = time.perf_counter() - started
    assert result.totals["new"] == baseline_rows
    baseline_rate = baseline_rows / baseline_seconds
    fast_rate = count / (preview_seconds + apply_seconds)

    name = "imports"
    note = (
        f"PostgreSQL, {count:,} rows x 3 stock columns, "
        f"xlsx {len(data) / 1e6:.1f} MB written in {write_seconds:.0f} s"
    )
    rows = [
        (
            "preview (upload, parse, validate)",
            preview_seconds,
            "s",
            f"{note}; CPU {preview_cpu:.2f} s{_server_note(preview_server_cpu)}",
            5,
        ),
        (
            "apply (catalog + stock ledger)",
            apply_seconds,
            "s",
            f"{movements:,} ledger movements; CPU {apply_cpu:.2f} s"
            + _server_note(apply_server_cpu),
            10,
        ),
        (
            "then the worker's ANALYZE task (untimed in apply)",
            analyze_seconds,
            "s",
            "planner statistics of the 5 catalog/stock tables, queued at commit",
            None,
        ),
        ("peak memory (child RSS)", rss_peak, "MB", f"{rss_before:.0f} MB before the import", 500),
        (
            "peak memory, re-import in the same process",
            rss_again,
            "MB",
            "a fresh process per import in production: a worker child above "
            "CELERY_WORKER_MAX_MEMORY_PER_CHILD (300 MB) after a task is replaced",
            None,
        ),
        (
            "re-import same file (all unchanged)",
            reimport_seconds,
            "s",
            f"{len(writes)} catalog/stock writes, {new_movements} new ledger rows; "
            f"CPU {reimport_cpu:.2f} s{_server_note(reimport_server_cpu)}",
            5,
        ),
        (
            "fast path rows/s (preview + apply)",
            fast_rate,
            "rows/s",
            f"django-import-export ModelResource: {baseline_rate:,.0f} rows/s "
            f"on {baseline_rows:,} rows",
            None,
        ),
    ]
    out = []
    for measure, value, unit, baseline, target in rows:
        verdict = "" if target is None else ("ok" if value <= target else "over")
        if measure.startswith("re-import") and (writes or new_movements):
            verdict = "over (writes)"
        if unit == "rows/s":
            verdict = f"{fast_rate / baseline_rate:.0f}x faster"
        out.append(
            {
                "benchmark": name,
                "measure": measure,
                "value": round(value, 2) if unit != "rows/s" else round(value),
                "unit": unit,
                "baseline": baseline,
                "target": f"<= {target} {unit}"
                if target
                else ("faster than baseline" if unit == "rows/s" else "(none)"),
                "verdict": verdict,
            }
        )
    return out


if __name__ == "__main__" and "--child" in sys.argv:
    print(json.dumps(_child(int(sys.argv[-1]))))
