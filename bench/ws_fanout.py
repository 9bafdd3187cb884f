"""Live stock fan-out: N websocket clients watching one location, a burst of M stock
changes committed by another process; latency from commit to receipt; then every client
is cut off, more changes are committed, and every client reconnects with `resume` and
must end with every seq exactly once, in order.

`python -m bench ws_fanout [--quick]` runs it for each channel-layer setup:
- classic: channels_redis RedisChannelLayer (+ the relay's table tail),
- pubsub: channels_redis RedisPubSubChannelLayer (+ the relay's table tail),
- relay-only: no layer broadcast reaches the relay; the table tail alone delivers.

Production-like: PostgreSQL (its own database, created and dropped here) and Redis (db
OMO_BENCH_REDIS_DB, default 12), the server is uvicorn, the clients (the `websockets`
library, asyncio) and the producer are processes of their own. Needs DATABASE_URL to
point at a PostgreSQL server (its database name is not used) and REDIS_URL.

The machine has 2 cores shared by server, clients and producer (and whatever else
runs), so timings are noisy; the correctness columns (missed, out of order) are not.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "omo_bench_ws_fanout"
LOCATION = "BWS"
SKU = "BENCH-WS-1"
TARGET_P99_MS = 250
SETUPS = {
    "classic": {"OMO_BENCH_LAYER": "classic"},
    "pubsub": {"OMO_BENCH_LAYER": "pubsub"},
    "relay-only": {"OMO_BENCH_LAYER": "classic", "OMO_WS_RELAY_USE_LAYER": "0"},
}


# --- helpers run in child processes --------------------------------------------------
def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.ws_settings")
    import django

    django.setup()


def child_setup() -> None:
    """Location, variant and one POS device; print its key and the stream's last seq."""
    _django()
    from apps.accounts.models import ApiClient
    from apps.accounts.services import api_client_script_create
    from apps.catalog.models import Product, Variant
    from apps.core.events import location_stream, stream_last_seq
    from apps.stores.models import Location

    location, _ = Location.objects.get_or_create(
        code=LOCATION, defaults={"name": "Bench store", "timezone": "UTC"}
    )
    product, _ = Product.objects.get_or_create(handle="bench-ws", defaults={"name": "Bench"})
    Variant.objects.get_or_create(sku=SKU, defaults={"product": product, "price": "1.00"})
    _, key = api_client_script_create(
        kind=ApiClient.Kind.POS_DEVICE, name=f"bench {time.time()}", location=location
    )
    print(json.dumps({"key": key, "last": stream_last_seq(location_stream(LOCATION))}))


def child_produce(count: int, out: str) -> None:
    """Commit `count` one-unit receipts, one transaction each; write {seq: commit time}."""
    _django()
    from django.db import transaction

    from apps.catalog.models import Variant
    from apps.core.events import location_stream, stream_last_seq
    from apps.inventory.ledger import Actor, StockChange, stock_apply
    from apps.inventory.models import Movement
    from apps.stores.models import Location

    location = Location.objects.get(code=LOCATION)
    variant = Variant.objects.get(sku=SKU)
    seq = stream_last_seq(location_stream(LOCATION))  # this process is the only writer
    committed: dict[int, float] = {}
    change = StockChange(
        variant_id=variant.pk,
        location_id=location.pk,
        reason=Movement.Reason.RECEIPT,
        on_hand=1,
    )
    for _ in range(count):
        seq += 1
        with transaction.atomic():
            # Registered before stock_apply's broadcast, so it runs first after commit:
            # the stamp is the commit, not the end of the broadcast.
            transaction.on_commit(lambda seq=seq: committed.__setitem__(seq, time.time()))
            stock_apply(changes=[change], actor=Actor())
    Path(out).write_text(json.dumps(committed))


async def _clients_main(port: int, key: str, count: int, after: int) -> None:
    """Driven by the bench through stdin/stdout lines (see run_setup)."""
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/ws/pos/"
    received: list[list[tuple[int, float]]] = [[] for _ in range(count)]
    on_hand: list[int] = [0] * count
    closed_4008 = 0
    stdin = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)

    async def command() -> list[str]:
        return (await stdin.readline()).decode().split()

    async def open_one(index: int, resume_after: int, gate: asyncio.Semaphore):
        async with gate:
            for attempt in range(5):  # a starved server may miss a handshake deadline
                try:
                    ws = await connect(
                        url, subprotocols=[f"token.{key}"], max_queue=None, open_timeout=60
                    )
                    break
                except (OSError, TimeoutError):
                    if attempt == 4:
                        raise
                    await asyncio.sleep(1)
            await ws.send(json.dumps({"type": "resume", "after": resume_after}))
            await ws.send('{"type":"ping"}')
            return ws

    async def reader(index: int, ws, until: int) -> None:
        nonlocal closed_4008
        mine = received[index]
        try:
            async for frame in ws:
                message = json.loads(frame)
                if message.get("type") != "stock":
                    continue
                mine.append((message["seq"], time.time()))
                on_hand[index] = message["on_hand"]
                if message["seq"] >= until:
                    return
        except Exception:
            if getattr(ws, "close_code", None) == 4008:
                closed_4008 += 1

    gate = asyncio.Semaphore(50)
    sockets = await asyncio.gather(*(open_one(i, after, gate) for i in range(count)))
    print("READY", flush=True)

    # Phase 1: the burst.
    _, until, commits_file = await command()
    tasks = [asyncio.create_task(reader(i, ws, int(until))) for i, ws in enumerate(sockets)]
    await asyncio.wait(tasks, timeout=180)
    phase1 = [len(r) for r in received]
    # Forced disconnect: drop every TCP connection without a closing handshake.
    for task in tasks:
        task.cancel()
    for ws in sockets:
        ws.transport.abort()
    print("DISCONNECTED", flush=True)

    # Phase 2: more changes were committed meanwhile; reconnect and resume.
    _, final = await command()
    final = int(final)
    resumed = await asyncio.gather(
        *(open_one(i, r[-1][0] if r else after, gate) for i, r in enumerate(received))
    )
    tasks = [asyncio.create_task(reader(i, ws, final)) for i, ws in enumerate(resumed)]
    await asyncio.wait(tasks, timeout=180)
    for ws in resumed:
        ws.transport.abort()
    expected = list(range(after + 1, final + 1))
    committed = {int(k): v for k, v in json.loads(Path(commits_file).read_text()).items()}
    latencies = sorted(
        (t - committed[seq]) * 1000
        for r, count_live in zip(received, phase1, strict=True)
        for seq, t in r[:count_live]
    )
    result = {
        "phase1_received": phase1,
        "complete": sum(1 for r in received if [s for s, _ in r] == expected),
        "missed": sum(len(set(expected) - {s for s, _ in r}) for r in received),
        "duplicates": sum(len(r) - len({s for s, _ in r}) for r in received),
        "out_of_order": sum(
            sum(1 for a, b in itertools.pairwise(r) if b[0] <= a[0]) for r in received
        ),
        "final_on_hand": sorted(set(on_hand)),
        "closed_4008": closed_4008,
        "latency_ms": {
            "p50": _percentile(latencies, 0.50),
            "p99": _percentile(latencies, 0.99),
            "max": latencies[-1] if latencies else None,
            "mean": statistics.fmean(latencies) if latencies else None,
        },
    }
    print("RESULT " + json.dumps(result), flush=True)


# --- the bench process ---------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(extra: dict[str, str]) -> dict[str, str]:
    base = urlsplit(os.environ["DATABASE_URL"])
    redis = urlsplit(os.environ["REDIS_URL"])
    redis_db = os.environ.get("OMO_BENCH_REDIS_DB", "12")
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.ws_settings",
        DATABASE_URL=urlunsplit(base._replace(path=f"/{DB_NAME}")),
        REDIS_URL=urlunsplit(redis._replace(path=f"/{redis_db}")),
        PYTHONPATH=str(ROOT),
        OMO_VAR_DIR=tempfile.mkdtemp(prefix="omo-bench-ws-"),
        DATABASE_POOL_MAX="10",
    )
    env.update(extra)
    return env


def _child(env: dict, *arguments: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench.ws_fanout", *arguments],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        **kwargs,
    )


def _pg_arguments() -> list[str]:
    url = urlsplit(os.environ["DATABASE_URL"])
    return [
        "-h",
        url.hostname or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
    ]


def _wait_listening(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError("server did not start")


def _expect(process: subprocess.Popen, word: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"clients exited before {word}")
        if line.startswith(word):
            return line[len(word) :].strip()
    raise TimeoutError(word)


def _percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_setup(name: str, extra: dict, clients: int, burst: int, after_burst: int) -> dict:
    env = _environment(extra)
    setup = json.loads(_child(env, "setup").stdout.strip().splitlines()[-1])
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "omo_site.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--backlog",
            "4096",
        ],
        cwd=ROOT,
        env=env,
    )
    client_process = None
    try:
        _wait_listening(port, server)
        client_process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.ws_fanout",
                "clients",
                str(port),
                setup["key"],
                str(clients),
                str(setup["last"]),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        _expect(client_process, "READY")
        time.sleep(1)  # every resume has reached the server
        started = time.monotonic()
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            commits_file = handle.name
        until = setup["last"] + burst
        client_process.stdin.write(f"UNTIL {until} {commits_file}\n")
        client_process.stdin.flush()
        _child(env, "produce", str(burst), commits_file, timeout=300)
        produce_seconds = time.monotonic() - started
        _expect(client_process, "DISCONNECTED")
        _child(env, "produce", str(after_burst), commits_file + ".2", timeout=300)
        final = until + after_burst
        client_process.stdin.write(f"FINAL {final}\n")
        client_process.stdin.flush()
        result = json.loads(_expect(client_process, "RESULT"))
        Path(commits_file).unlink(missing_ok=True)
        Path(commits_file + ".2").unlink(missing_ok=True)
    finally:
        for process in (client_process, server):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
    phase1_expected = clients * burst
    return {
        "name": name,
        **result["latency_ms"],
        "phase1_delivered": sum(result["phase1_received"]),
        "phase1_expected": phase1_expected,
        "complete": result["complete"],
        "missed": result["missed"],
        "duplicates": result["duplicates"],
        "out_of_order": result["out_of_order"],
        "closed_4008": result["closed_4008"],
        "produce_s": produce_seconds,
        "final_on_hand": result["final_on_hand"],
    }


def run(args) -> list[dict]:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get(
        "REDIS_URL"
    ):
        return [
            {
                "benchmark": "ws_fanout",
                "measure": "skipped",
                "value": "needs DATABASE_URL=postgres://... and REDIS_URL",
                "unit": "",
                "baseline": "",
                "target": "",
                "verdict": "not run",
            }
        ]
    clients, burst, after_burst = (200, 200, 50) if args.quick else (1000, 1000, 200)
    only = os.environ.get("OMO_BENCH_WS_SETUPS")
    setups = {k: v for k, v in SETUPS.items() if not only or k in only.split(",")}
    pg = _pg_arguments()
    subprocess.run(["dropdb", *pg, "--if-exists", DB_NAME], check=True)
    subprocess.run(["createdb", *pg, DB_NAME], check=True)
    rows: list[dict] = []
    try:
        env = _environment({})
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        results = [
            run_setup(name, extra, clients, burst, after_burst) for name, extra in setups.items()
        ]
    finally:
        subprocess.run(["dropdb", *pg, "--if-exists", DB_NAME], check=False)
        _redis_cleanup()
    baseline = next((r for r in results if r["name"] == "classic"), None)
    for result in results:
        label = f"ws_fanout[{result['name']}] {clients} clients x {burst}"
        reference = baseline if baseline is not None and baseline is not result else None

        def ms(value):
            return f"{value:.0f}" if value is not None else "-"

        rows += [
            {
                "benchmark": label,
                "measure": "commit->receipt p50",
                "value": ms(result["p50"]),
                "unit": "ms",
                "baseline": f"classic {ms(reference['p50'])}" if reference else "",
                "target": "",
                "verdict": "",
            },
            {
                "benchmark": label,
                "measure": "commit->receipt p99",
                "value": ms(result["p99"]),
                "unit": "ms",
                "baseline": f"classic {ms(reference['p99'])}" if reference else "",
                "target": f"<= {TARGET_P99_MS}",
                "verdict": "ok"
                if result["p99"] is not None and result["p99"] <= TARGET_P99_MS
                else "MISSED",
            },
            {
                "benchmark": label,
                "measure": "delivered live in burst",
                "value": f"{result['phase1_delivered']}/{result['phase1_expected']}",
                "unit": "msgs",
                "baseline": "",
                "target": "all",
                "verdict": "ok"
                if result["phase1_delivered"] == result["phase1_expected"]
                else "see 4008",
            },
            {
                "benchmark": label,
                "measure": "after reconnect+resume: missed/dup/out-of-order",
                "value": f"{result['missed']}/{result['duplicates']}/{result['out_of_order']}",
                "unit": "msgs",
                "baseline": "",
                "target": "0/0/0",
                "verdict": "ok"
                if result["missed"] == result["duplicates"] == result["out_of_order"] == 0
                else "FAILED",
            },
            {
                "benchmark": label,
                "measure": "clients closed 4008 (too slow)",
                "value": result["closed_4008"],
                "unit": "clients",
                "baseline": "",
                "target": "",
                "verdict": "",
            },
            {
                "benchmark": label,
                "measure": "burst commit time (producer)",
                "value": f"{result['produce_s']:.1f}",
                "unit": "s",
                "baseline": "",
                "target": "",
                "verdict": "",
            },
        ]
    return rows


def _redis_cleanup() -> None:
    import redis

    env = _environment({})
    client = redis.Redis.from_url(env["REDIS_URL"])
    client.delete("omo:presence")
    for key in client.scan_iter("asgi*"):
        client.delete(key)


def main() -> None:
    command, *rest = sys.argv[1:]
    if command == "setup":
        child_setup()
    elif command == "produce":
        child_produce(int(rest[0]), rest[1])
    elif command == "clients":
        port, key, count, after = rest
        asyncio.run(_clients_main(int(port), key, int(count), int(after)))


if __name__ == "__main__":
    main()
