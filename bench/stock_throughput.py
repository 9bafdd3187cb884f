"""Stock-changing service calls per second on PostgreSQL, beside pgbench in the same run.

Issue 3: 16 concurrent workers calling the stock services (stock_receive and stock_sell,
one unit each, so levels stay positive) for a fixed time, (a) spread over 10,000 SKUs
at 20 locations, (b) all on one hot SKU at one location, and (c) spread over the SKUs
of ONE location, which shows what the per-location event stream row costs (every change
at a location takes that row's lock until commit). Targets: (a) >= 40% of pgbench's
simple-update rate (`pgbench -c 16 -j 2 -T 10 -N`), (b) >= 30% of pgbench on one hot
row; `check_stock` clean after the run.

Workers are separate processes (Python threads would share one interpreter lock on a
2-core machine). Everything runs against throwaway databases that are dropped after.
`--quick`: 1,000 SKUs and 3 s per phase.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit, urlunsplit

from bench import _pg

DATABASE = _pg.db_name("omo_bench_stock")
PGBENCH_DATABASE = _pg.db_name("omo_bench_stock_pgbench")
WORKERS = 16
LOCATIONS = 20
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"


def _server() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_SERVER


def _pg_args(command: str) -> tuple[list[str], dict]:
    parts = urlsplit(_server())
    args = [command, "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    args += ["-U", parts.username or "postgres"]
    env = {**os.environ}
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return args, env


def _admin(command: str, name: str) -> None:
    args, env = _pg_args(command)
    if command == "dropdb":
        args += ["--if-exists", "--force"]
    subprocess.run([*args, name], check=True, env=env, capture_output=True)


def _database_url(name: str) -> str:
    return urlunsplit(urlsplit(_server())._replace(path=f"/{name}"))


# --- pgbench baseline ----------------------------------------------------------------


def _pgbench(seconds: int) -> tuple[float, float]:
    """(simple-update tps spread, tps on one hot row) from pgbench, same server."""
    _admin("dropdb", PGBENCH_DATABASE)
    _admin("createdb", PGBENCH_DATABASE)
    try:
        args, env = _pg_args("pgbench")
        subprocess.run(
            [*args, "-i", "-s", "10", "-q", PGBENCH_DATABASE],
            check=True,
            env=env,
            capture_output=True,
        )
        common = [*args, "-c", str(WORKERS), "-j", "2", "-T", str(seconds)]
        spread = subprocess.run(
            [*common, "-N", PGBENCH_DATABASE], check=True, env=env, capture_output=True, text=True
        )
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
            script.write("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 1;\n")
        try:
            hot = subprocess.run(
                [*common, "-n", "-f", script.name, PGBENCH_DATABASE],
                check=True,
                env=env,
                capture_output=True,
                text=True,
            )
        finally:
            os.unlink(script.name)
        return _tps(spread.stdout), _tps(hot.stdout)
    finally:
        _admin("dropdb", PGBENCH_DATABASE)


def _tps(output: str) -> float:
    match = re.search(r"tps = ([\d.]+) \((without|excluding)", output)
    if not match:
        raise RuntimeError(f"no tps in pgbench output:\n{output}")
    return float(match.group(1))


# --- our side (in a child process on the throwaway database) -------------------------


def run(args) -> list[dict]:
    quick = getattr(args, "quick", False)
    skus = 1_000 if quick else 10_000
    seconds = 3 if quick else 10
    pg_spread, pg_hot = _pgbench(seconds)
    _admin("dropdb", DATABASE)
    _admin("createdb", DATABASE)
    try:
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(DATABASE),
            "DJANGO_SETTINGS_MODULE": "omo_site.settings.base",
            "DEBUG": "0",
            # Each worker process needs one connection; no pool minimum to warm up.
            "DATABASE_POOL_MIN": "1",
        }
        result = subprocess.run(
            [sys.executable, "-m", "bench.stock_throughput", "--child", str(skus), str(seconds)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"bench.stock_throughput child failed ({result.returncode})")
        ours = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        _admin("dropdb", DATABASE)
    name = "stock_throughput"
    note = (
        f"{WORKERS} worker processes, {skus:,} SKUs x {LOCATIONS} locations, {seconds} s "
        "per phase; shared 2-core machine, noisy"
    )
    spread, hot, one_location = ours["spread"], ours["hot"], ours["one_location"]
    return [
        {
            "benchmark": name,
            "measure": "stock calls/s spread over SKUs and locations",
            "value": round(spread),
            "unit": "calls/s",
            "baseline": f"pgbench -N {pg_spread:.0f} tps ({spread / pg_spread:.0%})",
            "target": ">= 40% of pgbench",
            "verdict": "ok" if spread >= 0.4 * pg_spread else "under",
        },
        {
            "benchmark": name,
            "measure": "stock calls/s on one hot SKU",
            "value": round(hot),
            "unit": "calls/s",
            "baseline": f"pgbench hot row {pg_hot:.0f} tps ({hot / pg_hot:.0%})",
            "target": ">= 30% of pgbench hot",
            "verdict": "ok" if hot >= 0.3 * pg_hot else "under",
        },
        {
            "benchmark": name,
            "measure": "stock calls/s spread over SKUs of ONE location (one stream row)",
            "value": round(one_location),
            "unit": "calls/s",
            "baseline": f"spread over {LOCATIONS} locations {spread:.0f}/s",
            "target": "(information)",
            "verdict": "",
        },
        {
            "benchmark": name,
            "measure": "client CPU per call in the workers (spread phase)",
            "value": round(ours["spread_cpu_ms"], 2),
            "unit": "ms",
            "baseline": f"= at most {2000 / ours['spread_cpu_ms']:.0f} calls/s on 2 idle cores",
            "target": "(information)",
            "verdict": "",
        },
        {
            "benchmark": name,
            "measure": "  of which the main thread (the rest: sending events to Redis)",
            "value": round(ours["spread_main_ms"], 2),
            "unit": "ms",
            "baseline": f"other threads {ours['spread_cpu_ms'] - ours['spread_main_ms']:.2f} ms",
            "target": "(information)",
            "verdict": "",
        },
        {
            "benchmark": name,
            "measure": "check_stock after the run",
            "value": ours["check_stock"],
            "unit": "",
            "baseline": f"{ours['movements']:,} movements; seeded in {ours['seed_seconds']:.0f} s",
            "target": "clean",
            "verdict": "ok" if ours["check_stock"] == "clean" else "FAIL",
        },
        {
            "benchmark": name,
            "measure": "(conditions)",
            "value": "",
            "unit": "",
            "baseline": note,
            "target": "",
            "verdict": "",
        },
    ]


def _seed(skus: int) -> None:
    """Catalog, and 1,000 units of every SKU at every location: one level and its one
    receipt movement each, written in bulk by SQL so the ledger sums hold (check_stock
    verifies it after the run). The service path is what the phases measure."""
    from django.db import connection

    from apps.catalog.models import Product, Variant
    from apps.stores.models import Location

    Location.objects.bulk_create(
        [Location(code=f"B{i:02d}", name=f"Bench {i}") for i in range(LOCATIONS)]
    )
    products = Product.objects.bulk_create(
        [Product(handle=f"bench-{i}", name=f"Bench {i}") for i in range(skus // 5)],
        batch_size=5000,
    )
    Variant.objects.bulk_create(
        [
            Variant(product=products[i // 5], sku=f"BENCH-{i:06d}", price="10.00")
            for i in range(skus)
        ],
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO inventory_stocklevel
                (variant_id, location_id, on_hand, reserved, reorder_point,
                 negative_allowed, seq, updated_at)
            SELECT v.id, l.id, 1000, 0, 0, l.allows_negative_stock, 0, now()
              FROM catalog_variant v CROSS JOIN stores_location l
            """
        )
        cursor.execute(
            """
            INSERT INTO inventory_movement
                (level_id, variant_id, location_id, delta_on_hand, delta_reserved,
                 on_hand_after, reserved_after, reason, reference_type, reference_id,
                 serial, note, seq, created_at)
            SELECT id, variant_id, location_id, 1000, 0, 1000, 0, 'receipt', 'bench',
                   'seed', '', '', 0, now()
              FROM inventory_stocklevel
            """
        )
        cursor.execute("ANALYZE")


def _worker(mode: str, seed: int, ready, go, window, counts) -> None:
    import django

    django.setup()
    from django.db import connection

    from apps.catalog.models import Variant
    from apps.inventory.services import SellLine, stock_receive, stock_sell
    from apps.stores.models import Location

    locations = list(Location.objects.order_by("pk"))
    variants = list(Variant.objects.order_by("pk").only("pk", "sku", "tracking"))
    rng = random.Random(seed)
    if mode == "hot":
        pairs = [(locations[0], variants[0])]
    elif mode == "one_location":
        pairs = [(locations[0], v) for v in variants]
    else:
        pairs = None
    stock_receive(location=locations[-1], variant=variants[-1], quantity=1, actor=None)  # warm
    ready.release()
    go.wait()
    start_at, stop_at = window["start"], window["stop"]
    done = 1
    while time.time() < start_at:
        time.sleep(0.001)
    counted = 0
    cpu_started, thread_started = time.process_time(), time.thread_time()
    while time.time() < stop_at:
        if pairs is None:
            location, variant = rng.choice(locations), rng.choice(variants)
        else:
            location, variant = rng.choice(pairs)
        if done % 2:
            stock_sell(
                location=location,
                lines=[SellLine(variant, 1)],
                actor=None,
                reference_type="bench",
                reference_id=str(seed),
            )
        else:
            stock_receive(location=location, variant=variant, quantity=1, actor=None)
        done += 1
        counted += 1
    counts[seed] = (
        counted,
        time.process_time() - cpu_started,
        time.thread_time() - thread_started,
    )
    connection.close()


def _phase(mode: str, seconds: int) -> tuple[float, float, float]:
    """(calls/s, client CPU ms per call, of which the main thread's ms per call)."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        counts, window = manager.dict(), manager.dict()
        ready, go = manager.Semaphore(0), manager.Event()
        workers = [
            context.Process(target=_worker, args=(mode, seed, ready, go, window, counts))
            for seed in range(WORKERS)
        ]
        for process in workers:
            process.start()
        for _ in workers:  # every worker has Django loaded and a warm connection
            if not ready.acquire(timeout=300):
                raise RuntimeError(f"{mode} workers did not start")
        window["start"] = time.time() + 0.5
        window["stop"] = window["start"] + seconds
        go.set()
        for process in workers:
            process.join()
        if any(p.exitcode for p in workers):
            raise RuntimeError(f"a {mode} worker failed")
        calls = sum(c for c, _, _ in counts.values())
        cpu = sum(t for _, t, _ in counts.values())
        main = sum(t for _, _, t in counts.values())
        return calls / seconds, cpu / max(calls, 1) * 1000, main / max(calls, 1) * 1000


def _child(skus: int, seconds: int) -> dict:
    import io

    import django

    django.setup()
    from django.core.management import CommandError, call_command

    from apps.inventory.models import Movement

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    _seed(skus)
    seed_seconds = time.perf_counter() - started
    result = {"seed_seconds": seed_seconds}
    for mode in ("spread", "hot", "one_location"):
        result[mode], result[f"{mode}_cpu_ms"], result[f"{mode}_main_ms"] = _phase(mode, seconds)
        print(f"{mode}: {result[mode]:.0f} calls/s", file=sys.stderr, flush=True)
    try:
        call_command("check_stock", stdout=io.StringIO())
        result["check_stock"] = "clean"
    except CommandError as error:
        result["check_stock"] = str(error)
    result["movements"] = Movement.objects.count()
    return result


if __name__ == "__main__" and "--child" in sys.argv:
    print(json.dumps(_child(int(sys.argv[-2]), int(sys.argv[-1]))))
