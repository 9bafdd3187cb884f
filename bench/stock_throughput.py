"""Stock-changing service calls per second on PostgreSQL, beside pgbench in the same run.

Issue 3: 16 concurrent workers calling the stock services (stock_receive and stock_sell,
one unit each, so levels stay positive) for a fixed time, (a) spread over 10,000 SKUs
at 20 locations, (b) all on one hot SKU at one location, and (c) spread over the SKUs
of ONE location, which shows what the per-location event stream row costs (every change
at a location takes that row's lock until commit). Targets: (a) >= 40% of pgbench's
simple-update rate, (b) >= 30% of pgbench on one hot row; `check_stock` clean after.

The comparison, like for like: pgbench runs 16 clients (`-c 16 -j 2`), as many as our
worker processes, against the same server; spread is the builtin simple-update script
(`-N`: BEGIN, UPDATE one random account, SELECT it, INSERT a history row, END), hot is
one autocommit `UPDATE ... WHERE aid = 1` per transaction (our hot calls are one
autocommit statement each too).

pgbench's own rate drifts by a factor of two between runs on an idle machine
(checkpoints and their full-page writes, the OS cache, CPU frequency), so one phase of
each is a coin toss. Per workload, both sides are warmed up first (pgbench's first
seconds; our workers' connections, prepared statements and Redis connections), then
short rounds alternate, pgbench, ours, pgbench, ours, ... (ROUNDS each), and the
figures are the medians and the ratio of the medians (the verdict), beside the median
of each round's ratio to the pgbench round just before it; every round is printed.

Beside the rates, CPU per call: the workers' (client) and their PostgreSQL backends'
(read from /proc, so only when the server runs on this machine). On a shared machine
these move far less than the rates, so they are what to compare between two versions.

Workers are separate processes (Python threads would share one interpreter lock on a
2-core machine), started once and kept for every round. Everything runs against
throwaway databases that are dropped after. `--quick`: 1,000 SKUs, 2 s rounds.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

from bench import _pg

DATABASE = _pg.db_name("omo_bench_stock")
PGBENCH_DATABASE = _pg.db_name("omo_bench_stock_pgbench")
WORKERS = 16
LOCATIONS = 20

# --- pgbench baseline ----------------------------------------------------------------

HOT_SCRIPT = "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 1;\n"


def _pgbench_init() -> None:
    _pg.database_create(PGBENCH_DATABASE)
    args, env = _pg.client_command("pgbench")
    subprocess.run(
        [*args, "-i", "-s", "10", "-q", PGBENCH_DATABASE], check=True, env=env, capture_output=True
    )


def _pgbench_round(mode: str, seconds: float) -> float:
    """One pgbench run of `seconds` with as many clients as we have workers: tps."""
    args, env = _pg.client_command("pgbench")
    common = [*args, "-c", str(WORKERS), "-j", "2", "-T", str(max(1, round(seconds)))]
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(HOT_SCRIPT)
    try:
        if mode == "spread":
            # -N: pgbench's builtin simple-update; it vacuums its tables before the clock.
            command = [*common, "-N", PGBENCH_DATABASE]
        else:
            command = [*common, "-n", "-f", script.name, PGBENCH_DATABASE]
        for attempt in range(3):
            output = subprocess.run(command, env=env, capture_output=True, text=True)
            if output.returncode == 0:
                return _tps(output.stdout)
            # On a shared server the connection limit can be reached for a moment.
            print(f"pgbench failed, retrying: {output.stderr.strip()[-300:]}", file=sys.stderr)
            time.sleep(2 + 3 * attempt)
        raise RuntimeError(f"pgbench failed:\n{output.stderr}")
    finally:
        os.unlink(script.name)


def _tps(output: str) -> float:
    match = re.search(r"tps = ([\d.]+) \((without|excluding)", output)
    if not match:
        raise RuntimeError(f"no tps in pgbench output:\n{output}")
    return float(match.group(1))


# --- the run --------------------------------------------------------------------------

ROUNDS = 5  # per side and workload, alternating; the figures are medians


def run(args) -> list[dict]:
    quick = getattr(args, "quick", False)
    skus = 1_000 if quick else 10_000
    seconds = 2 if quick else 5  # per round
    rounds = 3 if quick else ROUNDS
    _pgbench_init()
    try:
        # Each worker process needs one connection; no pool minimum to warm up.
        ours = _pg.run_child(
            "bench.stock_throughput",
            DATABASE,
            [str(skus), str(seconds), str(rounds)],
            {"DATABASE_POOL_MIN": "1"},
        )
    finally:
        _pg.database_drop(PGBENCH_DATABASE)
    name = "stock_throughput"
    note = (
        f"{WORKERS} worker processes, {skus:,} SKUs x {LOCATIONS} locations; per workload "
        f"warm-up, then {rounds} alternating rounds of {seconds} s each side, medians; "
        "shared 2-core machine, noisy"
    )

    def rounds_text(values: list[float]) -> str:
        return "/".join(f"{v:.0f}" for v in values)

    rows = []
    for mode, measure, target, share in (
        ("spread", "stock calls/s spread over SKUs and locations", "pgbench -N", 0.4),
        ("hot", "stock calls/s on one hot SKU", "pgbench hot row", 0.3),
    ):
        mine, theirs = ours[mode]["ours"], ours[mode]["pgbench"]
        median, pg_median = statistics.median(mine), statistics.median(theirs)
        ratio = median / pg_median
        # Each of our rounds against the pgbench round just before it: the load of the
        # moment cancels out when the machine is shared.
        paired = statistics.median(m / t for m, t in zip(mine, theirs, strict=True))
        rows.append(
            {
                "benchmark": name,
                "measure": measure,
                "value": round(median),
                "unit": "calls/s",
                "baseline": (
                    f"{target} {pg_median:.0f} tps ({ratio:.0%}; paired rounds {paired:.0%}); "
                    f"rounds ours {rounds_text(mine)}, pgbench {rounds_text(theirs)}"
                ),
                "target": f">= {share:.0%} of {target}",
                "verdict": "ok" if ratio >= share else "under",
            }
        )
    one_location = ours["one_location"]["ours"]
    spread = statistics.median(ours["spread"]["ours"])
    cpu_ms, main_ms = ours["spread"]["cpu_ms"], ours["spread"]["main_ms"]
    server_ms = {mode: ours[mode]["server_ms"] for mode in ("spread", "hot")}
    return [
        *rows,
        {
            "benchmark": name,
            "measure": "stock calls/s spread over SKUs of ONE location (one stream row)",
            "value": round(statistics.median(one_location)),
            "unit": "calls/s",
            "baseline": f"spread over {LOCATIONS} locations {spread:.0f}/s; rounds "
            + rounds_text(one_location),
            "target": "(information)",
            "verdict": "",
        },
        {
            "benchmark": name,
            "measure": "client CPU per call in the workers (spread rounds)",
            "value": round(cpu_ms, 3),
            "unit": "ms",
            "baseline": f"= at most {2000 / cpu_ms:.0f} calls/s on 2 idle cores",
            "target": "(information)",
            "verdict": "",
        },
        {
            "benchmark": name,
            "measure": "  of which the main thread (the rest: sending events to Redis)",
            "value": round(main_ms, 3),
            "unit": "ms",
            "baseline": f"other threads {cpu_ms - main_ms:.3f} ms",
            "target": "(information)",
            "verdict": "",
        },
        {
            "benchmark": name,
            "measure": "PostgreSQL backend CPU per call (the workers' backends)",
            "value": "" if server_ms["spread"] is None else round(server_ms["spread"], 3),
            "unit": "ms",
            "baseline": "hot row "
            + ("?" if server_ms["hot"] is None else f"{server_ms['hot']:.3f} ms")
            + "; from /proc, so only with the server on this machine",
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


def _worker(seed: int, inbox, outbox) -> None:
    """One worker process: Django loaded and connected once, then one round per command
    (mode, start, stop) from `inbox` until None; each round's (seed, calls, process CPU,
    main-thread CPU) goes to `outbox`."""
    import django

    django.setup()
    from django.db import connection

    from apps.catalog.models import Variant
    from apps.inventory.services import SellLine, stock_receive, stock_sell
    from apps.stores.models import Location

    locations = list(Location.objects.order_by("pk"))
    variants = list(Variant.objects.order_by("pk").only("pk", "sku", "tracking"))
    rng = random.Random(seed)
    pairs = {
        "spread": None,
        "hot": [(locations[0], variants[0])],
        "one_location": [(locations[0], v) for v in variants],
    }
    stock_receive(location=locations[-1], variant=variants[-1], quantity=1, actor=None)  # warm
    outbox.put(("ready", seed))
    done = 1
    while (command := inbox.get()) is not None:
        mode, start_at, stop_at = command
        choices = pairs[mode]
        while time.time() < start_at:
            time.sleep(0.001)
        counted = 0
        cpu_started, thread_started = time.process_time(), time.thread_time()
        while time.time() < stop_at:
            if choices is None:
                location, variant = rng.choice(locations), rng.choice(variants)
            else:
                location, variant = rng.choice(choices)
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
        outbox.put(
            (
                seed,
                counted,
                time.process_time() - cpu_started,
                time.thread_time() - thread_started,
            )
        )
    connection.close()


class _Pool:
    """WORKERS processes kept for the whole run, so every round starts warm."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.outbox = context.Queue()
        self.inboxes = [context.Queue() for _ in range(WORKERS)]
        self.processes = [
            context.Process(target=_worker, args=(seed, inbox, self.outbox))
            for seed, inbox in enumerate(self.inboxes)
        ]
        for process in self.processes:
            process.start()
        for _ in self.processes:
            self.outbox.get(timeout=300)  # ("ready", seed): Django loaded, connected

    def round(self, mode: str, seconds: float) -> tuple[float, float, float, float | None]:
        """(calls/s, client CPU ms per call, of which the main thread's ms per call,
        the workers' PostgreSQL backends' CPU ms per call or None where not readable)."""
        start = time.time() + 0.3
        backends = _backends_cpu()
        for inbox in self.inboxes:
            inbox.put((mode, start, start + seconds))
        results = [self.outbox.get(timeout=seconds + 120) for _ in self.inboxes]
        calls = max(sum(r[1] for r in results), 1)
        cpu = sum(r[2] for r in results)
        main = sum(r[3] for r in results)
        after = _backends_cpu()
        server = None
        if backends is not None and after is not None:
            server = sum(after[pid] - backends.get(pid, 0.0) for pid in after) / calls * 1000
        return calls / seconds, cpu / calls * 1000, main / calls * 1000, server

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for process in self.processes:
            process.join(timeout=60)
        if any(p.exitcode for p in self.processes):
            raise RuntimeError("a stock_throughput worker failed")


def _backends_cpu() -> dict[int, float] | None:
    """CPU seconds used so far by each PostgreSQL backend connected to the bench database
    (the workers'), from /proc: None when the server is not on this machine."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        pids = [pid for (pid,) in cursor.fetchall()]
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return used


def _child(skus: int, seconds: int, rounds: int) -> dict:
    import io

    import django

    django.setup()
    from django.core.management import CommandError, call_command

    from apps.inventory.models import Movement

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    _seed(skus)
    seed_seconds = time.perf_counter() - started
    result: dict = {"seed_seconds": seed_seconds}
    pool = _Pool()
    try:
        for mode in ("spread", "hot", "one_location"):
            compared = mode != "one_location"
            # Warm-up, not counted: pgbench's first seconds, our first calls of the mode.
            if compared:
                _pgbench_round(mode, 1)
            pool.round(mode, 1)
            ours, theirs, cpu, main, server = [], [], [], [], []
            for _ in range(rounds):
                if compared:
                    theirs.append(_pgbench_round(mode, seconds))
                rate, cpu_ms, main_ms, server_ms = pool.round(mode, seconds)
                ours.append(rate)
                cpu.append(cpu_ms)
                main.append(main_ms)
                server.append(server_ms)
            result[mode] = {
                "ours": ours,
                "pgbench": theirs,
                "cpu_ms": statistics.median(cpu),
                "main_ms": statistics.median(main),
                "server_ms": None if None in server else statistics.median(server),
            }
            print(
                f"{mode}: ours {[round(x) for x in ours]}, pgbench {[round(x) for x in theirs]}",
                file=sys.stderr,
                flush=True,
            )
    finally:
        pool.close()
    try:
        call_command("check_stock", stdout=io.StringIO())
        result["check_stock"] = "clean"
    except CommandError as error:
        result["check_stock"] = str(error)
    result["movements"] = Movement.objects.count()
    return result


if __name__ == "__main__" and "--child" in sys.argv:
    print(json.dumps(_child(*(int(x) for x in sys.argv[-3:]))))
