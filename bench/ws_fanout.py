"""Live stock fan-out: N websocket clients watching one location, a burst of M stock
changes committed by another process; latency from commit to receipt; then every client
is cut off, more changes are committed, and every client reconnects with `resume` and
must end with every seq exactly once, in order.

`python -m bench ws_fanout [--quick]` runs it for each channel-layer setup:
- classic: channels_redis RedisChannelLayer (+ the relay's table tail),
- pubsub: channels_redis RedisPubSubChannelLayer (+ the relay's table tail),
- relay-only: no layer broadcast reaches the relay; the table tail alone delivers.

Production-like: PostgreSQL (its own database, created and dropped here) and Redis (db
OMO_BENCH_REDIS_DB, default 12), the server is uvicorn run as the image runs it
(SERVER_ARGS; OMO_BENCH_WS_WORKERS worker processes, default 2), the clients
(OMO_BENCH_WS_CLIENT_PROCESSES processes, default 2, each a cheap hand-written websocket
client on uvloop) and the producer are processes of their own. Besides latency it
reports the CPU the server (all workers) and the clients spent per delivered live frame,
read from /proc: on a shared machine that is the figure that does not depend on load.
Needs DATABASE_URL to point at a PostgreSQL server (its database name is not used) and
REDIS_URL.

The machine has 2 cores shared by server, clients and producer (and whatever else
runs), so timings are noisy; the correctness columns (missed, out of order) are not.

OMO_BENCH_WS_TIMELINE=1 also prints, per setup, p50/p99 per window of WINDOW changes
(flat: stalls; growing: a queue building through the burst), the CPU share of each
server worker, of the clients and of the machine every half second, and the clients'
garbage-collector runs during the burst. OMO_BENCH_WS_SIZE="clients,burst,after"
overrides the sizes (e.g. 1000,200,50).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import itertools
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench import _pg

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = _pg.db_name("omo_bench_ws_fanout")
LOCATION = "BWS"
SKU = "BENCH-WS-1"
TARGET_P99_MS = 250
# As production runs it (Dockerfile): no permessage-deflate, whose per-connection zlib
# context made every frame be compressed once per client (about 2/3 of the server's CPU
# per frame in a fan-out), and uvicorn's websockets-sansio protocol, which the consumer
# can hand ready-made frames to (apps.core.consumers._DirectSocket).
SERVER_ARGS = "--ws websockets-sansio --ws-per-message-deflate false"
SETUPS = {
    "classic": {"OMO_BENCH_LAYER": "classic"},
    "pubsub": {"OMO_BENCH_LAYER": "pubsub"},
    "relay-only": {"OMO_BENCH_LAYER": "classic", "OMO_WS_RELAY_USE_LAYER": "0"},
}


WINDOW = 50  # changes per line of the latency timeline


# --- helpers run in child processes --------------------------------------------------
class GcPauses:
    """Counts the garbage collector's runs and their pauses, per generation
    (gc.callbacks): a burst of a million small objects can trigger many collections."""

    def __init__(self) -> None:
        self.runs = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.longest = 0.0
        self.started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        pause = time.perf_counter() - self.started
        generation = info["generation"]
        self.runs[generation] += 1
        self.seconds[generation] += pause
        self.longest = max(self.longest, pause)

    def reset(self) -> None:
        self.runs, self.seconds, self.longest = [0, 0, 0], [0.0, 0.0, 0.0], 0.0

    def summary(self) -> dict:
        return {
            "runs": self.runs,
            "ms": [round(s * 1000, 1) for s in self.seconds],
            "longest_ms": round(self.longest * 1000, 1),
        }


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


STOCK_PREFIX = b'{"type":"stock","seq":'


class Received:
    """What one logical client (across its reconnects) got: the seq of every stock
    message in arrival order, and when each read from the socket ended (all frames of
    one read share the time the read returned). Arrays of machine numbers, not a tuple
    per frame: a million small objects would be the garbage collector's work."""

    __slots__ = ("on_hand", "read_ends", "read_times", "seqs")

    def __init__(self) -> None:
        self.seqs = array("q")
        self.read_ends = array("q")  # len(seqs) after each read that brought stock
        self.read_times = array("d")
        self.on_hand: int | None = None

    def arrivals(self, upto: int) -> Iterator[tuple[int, float]]:
        """(seq, receipt time) of the first `upto` stock messages."""
        start = 0
        for end, at in zip(self.read_ends, self.read_times, strict=True):
            for seq in self.seqs[start : min(end, upto)]:
                yield seq, at
            start = end
            if start >= upto:
                return


class _RawClient(asyncio.Protocol):
    """A POS websocket client that costs little CPU per frame, so that on a shared 2-core
    machine the clients are not what is measured: the handshake by hand, server frames
    (unmasked) parsed from one buffer.

    What it checks per frame: each text frame is a JSON object; a stock message is one
    that starts with exactly `{"type":"stock","seq":` (the server writes "type", then
    "seq", then the payload, compact, for live and replayed events alike), and its seq
    is the digits up to the next comma, recorded in order of arrival (missed, duplicate
    and out-of-order seqs are counted from that record at the end). Instead of
    json.loads per frame (~2 us, most of this client's CPU), the last stock frame of
    each read is decoded in full and must have the same seq and type (so a change of
    format fails the run), and gives the client's last `on_hand`; any other text frame
    containing `"stock"` is decoded and must not be a stock message."""

    def __init__(self, key: str, until: list[int], received: Received) -> None:
        self.key = key
        self.until = until  # shared, mutable: [last seq this phase waits for]
        self.received = received
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()
        self.handshaken = False
        self.close_code: int | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                "GET /ws/pos/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: token.{self.key}\r\n\r\n"
            ).encode()
        )

    def send_text(self, text: str) -> None:
        self._send(0x81, text.encode())

    def _send(self, first: int, data: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(data))
        size = len(data)
        if size < 126:
            header = bytes((first, 0x80 | size))
        else:
            header = struct.pack("!BBH", first, 0x80 | 126, size)
        self.transport.write(header + mask + masked)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.handshaken:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in buffer[: buffer.find(b"\r\n")]:
                self._fail(ConnectionError(bytes(buffer[:end]).decode("latin-1")))
                return
            self.handshaken = True
            del buffer[: end + 4]
            self.opened.set_result(None)
        at, size_all = 0, len(buffer)
        seqs = self.received.seqs
        append, find, startswith = seqs.append, buffer.find, buffer.startswith
        prefix, prefix_size = STOCK_PREFIX, len(STOCK_PREFIX)
        last_stock = -1  # where the last stock frame's text starts, and ends
        last_end = 0
        while size_all - at >= 2:
            first, size = buffer[at], buffer[at + 1] & 0x7F
            start = at + 2
            if size == 126:
                if size_all - at < 4:
                    break
                size = (buffer[at + 2] << 8) | buffer[at + 3]
                start = at + 4
            elif size == 127:
                if size_all - at < 10:
                    break
                size = int.from_bytes(buffer[at + 2 : at + 10], "big")
                start = at + 10
            if size_all - start < size:
                break
            at = start + size
            opcode = first & 0x0F
            if opcode == 1:
                if startswith(prefix, start):
                    digits = start + prefix_size
                    append(int(buffer[digits : find(b",", digits, at)]))
                    last_stock, last_end = start, at
                elif find(b'"stock"', start, at) >= 0:
                    message = json.loads(buffer[start:at])
                    if message.get("type") == "stock":
                        raise AssertionError(f"stock message in another form: {message}")
            elif opcode == 8:
                if size >= 2:
                    self.close_code = (buffer[start] << 8) | buffer[start + 1]
                self.transport.close()
            elif opcode == 9:
                self._send(0x8A, bytes(buffer[start:at]))
        if last_stock >= 0:
            received = self.received
            received.read_ends.append(len(seqs))
            received.read_times.append(time.time())
            message = json.loads(buffer[last_stock:last_end])
            if message["type"] != "stock" or message["seq"] != seqs[-1]:
                raise AssertionError(f"seq read as {seqs[-1]}, frame says {message}")
            received.on_hand = message["on_hand"]
            if seqs[-1] >= self.until[0] and not self.done.done():
                self.done.set_result(None)
        del buffer[:at]

    def _fail(self, error: Exception) -> None:
        for future in (self.opened, self.done):
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: no "never retrieved" warning
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc) -> None:
        self._fail(ConnectionError("closed"))


async def _clients_main(port: int, key: str, count: int, after: int) -> None:
    """One client process (the bench runs several), driven through stdin/stdout lines
    (see run_setup); prints its own counts, a latency histogram and its CPU time."""
    loop = asyncio.get_running_loop()
    received = [Received() for _ in range(count)]
    until = [0]
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)

    async def command() -> list[str]:
        return (await stdin.readline()).decode().split()

    async def open_one(index: int, resume_after: int, gate: asyncio.Semaphore) -> _RawClient:
        async with gate:
            for attempt in range(5):  # a starved server may miss a handshake deadline
                client = _RawClient(key, until, received[index])
                try:
                    await loop.create_connection(lambda c=client: c, "127.0.0.1", port)
                    await asyncio.wait_for(client.opened, 60)
                    break
                except (OSError, TimeoutError, ConnectionError):
                    if attempt == 4:
                        raise
                    await asyncio.sleep(1)
            client.send_text(json.dumps({"type": "resume", "after": resume_after}))
            client.send_text('{"type":"ping"}')
            return client

    async def wait_all(clients: list[_RawClient], timeout: float) -> None:
        futures = [c.done for c in clients]
        await asyncio.wait(futures, timeout=timeout)

    gc_pauses = GcPauses()
    gate = asyncio.Semaphore(50)
    clients = await asyncio.gather(*(open_one(i, after, gate) for i in range(count)))
    print("READY", flush=True)

    # Phase 1: the burst.
    _, phase_until, commits_file = await command()
    until[0] = int(phase_until)
    cpu_start = time.process_time()
    gc_pauses.reset()
    await wait_all(clients, 180)
    cpu_burst = time.process_time() - cpu_start
    gc_burst = gc_pauses.summary()
    phase1 = [len(r.seqs) for r in received]
    closed_4008 = sum(1 for c in clients if c.close_code == 4008)
    # Any other close during the burst (e.g. 1011: uvicorn's keepalive ping went
    # unanswered for 20 s because a starved client was that far behind in reading).
    closed_other = sorted(c.close_code for c in clients if c.close_code not in (None, 4008))
    # Forced disconnect: drop every TCP connection without a closing handshake.
    for client in clients:
        client.transport.abort()
    print("DISCONNECTED", flush=True)

    # Phase 2: more changes were committed meanwhile; reconnect and resume.
    _, final = await command()
    until[0] = final = int(final)
    resumed = await asyncio.gather(
        *(open_one(i, r.seqs[-1] if r.seqs else after, gate) for i, r in enumerate(received))
    )
    await wait_all(resumed, 180)
    closed_4008 += sum(1 for c in resumed if c.close_code == 4008)
    for client in resumed:
        client.transport.abort()
    expected = array("q", range(after + 1, final + 1))
    expected_set = set(expected)
    committed = {int(k): v for k, v in json.loads(Path(commits_file).read_text()).items()}
    histogram: dict[int, int] = {}
    # Per window of WINDOW changes (by seq): is latency flat through the burst (stalls)
    # or growing (a queue building up)?
    windows: dict[int, dict[int, int]] = {}
    total = 0.0
    for r, count_live in zip(received, phase1, strict=True):
        for seq, t in r.arrivals(count_live):
            latency = (t - committed[seq]) * 1000
            total += latency
            bucket = int(latency)
            histogram[bucket] = histogram.get(bucket, 0) + 1
            window = windows.setdefault((seq - after - 1) // WINDOW, {})
            window[bucket] = window.get(bucket, 0) + 1
    result = {
        "phase1_received": sum(phase1),
        "complete": sum(1 for r in received if r.seqs == expected),
        "missed": sum(len(expected_set - set(r.seqs)) for r in received),
        "duplicates": sum(len(r.seqs) - len(set(r.seqs)) for r in received),
        "out_of_order": sum(
            sum(1 for a, b in itertools.pairwise(r.seqs) if b <= a) for r in received
        ),
        "final_on_hand": sorted({r.on_hand for r in received}),
        "closed_4008": closed_4008,
        "closed_other_in_burst": closed_other,
        "latency_histogram_ms": histogram,
        "latency_sum_ms": total,
        "windows": windows,
        "gc_in_burst": gc_burst,
        "cpu_burst_s": cpu_burst,
    }
    print("RESULT " + json.dumps(result), flush=True)


# --- the bench process ---------------------------------------------------------------
def _environment(extra: dict[str, str]) -> dict[str, str]:
    redis = urlsplit(os.environ["REDIS_URL"])
    redis_db = os.environ.get("OMO_BENCH_REDIS_DB", "12")
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.ws_settings",
        DATABASE_URL=_pg.database_url(DB_NAME),
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


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process and its children (uvicorn's workers), Linux only."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    total = 0.0
    for each in [str(pid), *children]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuTimeline:
    """Samples, every `step` seconds, the CPU share of the server (each worker), the
    client processes and the machine as a whole, so that one can see who had the cores
    while the latency grew (OMO_BENCH_WS_TIMELINE=1 prints it)."""

    def __init__(self, server_pid: int, client_pids: list[int], step: float = 0.5) -> None:
        import threading

        self.server_pid, self.client_pids, self.step = server_pid, client_pids, step
        self.rows: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _pids(self) -> list[int]:
        try:
            children = Path(f"/proc/{self.server_pid}/task/{self.server_pid}/children")
            return [int(p) for p in children.read_text().split()]
        except OSError:
            return []

    def _run(self) -> None:
        workers = self._pids()
        started = time.monotonic()
        before = ([_process_cpu(p) for p in workers], sum(map(_process_cpu, self.client_pids)))
        busy_before, total_before = _machine_busy()
        while not self.stopped.wait(self.step):
            now = ([_process_cpu(p) for p in workers], sum(map(_process_cpu, self.client_pids)))
            busy, total = _machine_busy()
            share = [
                f"{(b - a) / self.step * 100:3.0f}" for a, b in zip(before[0], now[0], strict=True)
            ]
            machine = (busy - busy_before) / max(1, total - total_before) * 200
            self.rows.append(
                f"  t={time.monotonic() - started:5.1f}s workers%={'/'.join(share)} "
                f"clients%={(now[1] - before[1]) / self.step * 100:3.0f} machine%={machine:3.0f}"
            )
            before, busy_before, total_before = now, busy, total

    def stop(self) -> list[str]:
        self.stopped.set()
        self.thread.join()
        return self.rows


def _timeline(results: list[dict]) -> list[str]:
    """p50/p99 per window of WINDOW changes, merged over the client processes."""
    merged: dict[int, dict[int, int]] = {}
    for result in results:
        for window, histogram in result["windows"].items():
            into = merged.setdefault(int(window), {})
            for bucket, count in histogram.items():
                into[int(bucket)] = into.get(int(bucket), 0) + count
    lines = []
    for window in sorted(merged):
        histogram = sorted(merged[window].items())
        lines.append(
            f"  changes {window * WINDOW + 1:>5}-{(window + 1) * WINDOW:<5} "
            f"p50 {_histogram_percentile(histogram, 0.5):6.0f} ms  "
            f"p99 {_histogram_percentile(histogram, 0.99):6.0f} ms  "
            f"frames {sum(c for _, c in histogram)}"
        )
    return lines


def _wait_quiet(pid: int, limit: float = 30) -> None:
    """Wait until the server has finished the connections' setup (authentication, resume,
    presence): its CPU use stays below 4% of a core for two half seconds in a row (idle
    with 1,000 connections it is ~2%). Then its CPU over the burst is the burst's (on a
    loaded machine a starved server can look quiet: the figure is then a little high)."""
    deadline = time.monotonic() + limit
    before, calm = _cpu_seconds(pid), 0
    while before is not None and time.monotonic() < deadline and calm < 2:
        time.sleep(0.5)
        now = _cpu_seconds(pid)
        if now is None:
            return
        calm = calm + 1 if now - before < 0.02 else 0
        before = now


def _merge_histograms(results: list[dict]) -> list[tuple[int, int]]:
    merged: dict[int, int] = {}
    for result in results:
        for bucket, count in result["latency_histogram_ms"].items():
            merged[int(bucket)] = merged.get(int(bucket), 0) + count
    return sorted(merged.items())


def _histogram_percentile(histogram: list[tuple[int, int]], fraction: float) -> float | None:
    total = sum(count for _, count in histogram)
    if not total:
        return None
    rank, seen = min(total - 1, int(fraction * total)), 0
    for bucket, count in histogram:
        seen += count
        if seen > rank:
            return float(bucket)
    return float(histogram[-1][0])


def run_setup(name: str, extra: dict, clients: int, burst: int, after_burst: int) -> dict:
    env = _environment(extra)
    setup = json.loads(_child(env, "setup").stdout.strip().splitlines()[-1])
    port = _pg.free_port()
    workers = int(env.get("OMO_BENCH_WS_WORKERS", "2"))
    options = ["--log-level", "warning", "--backlog", "4096", "--lifespan", "off"]
    options += env.get("OMO_BENCH_WS_SERVER_ARGS", SERVER_ARGS).split()
    if workers > 1:
        options += ["--workers", str(workers)]
    server = _pg.server_start(port, *options, env=env)
    processes = max(1, min(clients, int(env.get("OMO_BENCH_WS_CLIENT_PROCESSES", "2"))))
    client_processes: list[subprocess.Popen] = []
    try:
        _wait_listening(port, server)
        time.sleep(2 if workers > 1 else 0)  # every worker is accepting
        for index in range(processes):
            share = clients // processes + (1 if index < clients % processes else 0)
            client_processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.ws_fanout",
                        "clients",
                        str(port),
                        setup["key"],
                        str(share),
                        str(setup["last"]),
                    ],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )

        def tell(line: str) -> None:
            for process in client_processes:
                process.stdin.write(line + "\n")
                process.stdin.flush()

        for process in client_processes:
            _expect(process, "READY")
        time.sleep(1)  # every resume has reached the server
        _wait_quiet(server.pid)
        started = time.monotonic()
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            commits_file = handle.name
        until = setup["last"] + burst
        server_cpu_start = _cpu_seconds(server.pid)
        timeline = CpuTimeline(server.pid, [p.pid for p in client_processes])
        tell(f"UNTIL {until} {commits_file}")
        _child(env, "produce", str(burst), commits_file, timeout=300)
        produce_seconds = time.monotonic() - started
        for process in client_processes:
            _expect(process, "DISCONNECTED")
        server_cpu_end = _cpu_seconds(server.pid)
        cpu_rows = timeline.stop()
        _child(env, "produce", str(after_burst), commits_file + ".2", timeout=300)
        final = until + after_burst
        tell(f"FINAL {final}")
        results = [json.loads(_expect(process, "RESULT")) for process in client_processes]
        Path(commits_file).unlink(missing_ok=True)
        Path(commits_file + ".2").unlink(missing_ok=True)
    finally:
        for process in (*client_processes, server):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
    histogram = _merge_histograms(results)
    if os.environ.get("OMO_BENCH_WS_TIMELINE"):
        print(f"[{name}] latency per {WINDOW} changes (commit -> receipt):", file=sys.stderr)
        print("\n".join(_timeline(results)), file=sys.stderr)
        print(f"[{name}] CPU share every {timeline.step} s:", file=sys.stderr)
        print("\n".join(cpu_rows), file=sys.stderr)
        print(
            f"[{name}] client gc in burst: {[r['gc_in_burst'] for r in results]}", file=sys.stderr
        )
    delivered = sum(r["phase1_received"] for r in results)
    server_cpu = (
        server_cpu_end - server_cpu_start
        if server_cpu_start is not None and server_cpu_end is not None
        else None
    )
    client_cpu = sum(r["cpu_burst_s"] for r in results)
    return {
        "name": name,
        "p50": _histogram_percentile(histogram, 0.50),
        "p99": _histogram_percentile(histogram, 0.99),
        "max": float(histogram[-1][0]) if histogram else None,
        "mean": sum(r["latency_sum_ms"] for r in results) / delivered if delivered else None,
        "phase1_delivered": delivered,
        "phase1_expected": clients * burst,
        "complete": sum(r["complete"] for r in results),
        "missed": sum(r["missed"] for r in results),
        "duplicates": sum(r["duplicates"] for r in results),
        "out_of_order": sum(r["out_of_order"] for r in results),
        "closed_4008": sum(r["closed_4008"] for r in results),
        "closed_other": sorted(code for r in results for code in r["closed_other_in_burst"]),
        "produce_s": produce_seconds,
        "final_on_hand": sorted({level for r in results for level in r["final_on_hand"]}),
        "server_cpu_s": server_cpu,
        "client_cpu_s": client_cpu,
        "server_us_per_frame": server_cpu / delivered * 1e6 if server_cpu and delivered else None,
        "client_us_per_frame": client_cpu / delivered * 1e6 if delivered else None,
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
    if os.environ.get("OMO_BENCH_WS_SIZE"):  # e.g. "1000,200,50": clients,burst,after
        clients, burst, after_burst = map(int, os.environ["OMO_BENCH_WS_SIZE"].split(","))
    only = os.environ.get("OMO_BENCH_WS_SETUPS")
    setups = {k: v for k, v in SETUPS.items() if not only or k in only.split(",")}
    _pg.database_create(DB_NAME)
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
        _pg.database_drop(DB_NAME, check=False)
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
                "measure": "clients closed otherwise during the burst (codes)",
                "value": ",".join(map(str, sorted(set(result["closed_other"])))) or "-",
                "unit": f"{len(result['closed_other'])} clients",
                "baseline": "",
                "target": "",
                "verdict": "",
            },
            {
                "benchmark": label,
                "measure": "server CPU per live frame (all workers)",
                "value": ms(result["server_us_per_frame"]),
                "unit": "us",
                "baseline": f"classic {ms(reference['server_us_per_frame'])}" if reference else "",
                "target": "",
                "verdict": "",
            },
            {
                "benchmark": label,
                "measure": "client CPU per live frame (all client processes)",
                "value": ms(result["client_us_per_frame"]),
                "unit": "us",
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
        try:  # uvicorn[standard]'s loop: less CPU per socket read than asyncio's own
            import uvloop

            run = uvloop.run
        except ImportError:  # pragma: no cover
            run = asyncio.run
        run(_clients_main(int(port), key, int(count), int(after)))


if __name__ == "__main__":
    main()
