"""Requests per second of `GET /api/v1/stock?location=...` (a page of 200 levels) over
real HTTP, beside a bare Django view returning a constant, in the same run.

Production-like: uvicorn with 2 workers serving the real ASGI app with DEBUG off on a
throwaway PostgreSQL database; the load comes from `wrk` (Debian package) in its own
process. Both endpoints go through the same middleware; the API adds token auth, the
location check, the stream's high-water mark and the page query.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

from bench import _pg

DATABASE = _pg.db_name("omo_bench_stock_read")
LEVELS = 1000
PAGE = 200


def run(args) -> list[dict]:
    from bench._pg import run_child

    duration = 5 if getattr(args, "quick", False) else 15
    return run_child(
        "bench.stock_read",
        DATABASE,
        [str(duration)],
        extra_env={"DJANGO_SETTINGS_MODULE": "bench.stock_read_settings"},
    )


def _seed() -> str:
    from django.db import transaction

    from apps.accounts.models import ApiClient
    from apps.accounts.services import api_client_script_create
    from apps.catalog.models import Product, Variant
    from apps.inventory.ledger import Actor, StockChange, stock_apply
    from apps.stores.models import Location

    store = Location.objects.create(code="S01", name="Bench store")
    product = Product.objects.create(handle="bench", name="Bench")
    variants = Variant.objects.bulk_create(
        [Variant(product=product, sku=f"SKU-{i:05d}", price="9.90") for i in range(LEVELS)]
    )
    with transaction.atomic():
        stock_apply(
            changes=[
                StockChange(variant_id=v.pk, location_id=store.pk, reason="receipt", on_hand=10)
                for v in variants
            ],
            actor=Actor(),
        )
    _client, key = api_client_script_create(
        kind=ApiClient.Kind.POS_DEVICE, name="Bench till", location=store
    )
    return key


def _wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server did not answer at {url}")


def _wrk(url: str, duration: int, headers: dict[str, str]) -> dict:
    header_args = [arg for k, v in headers.items() for arg in ("-H", f"{k}: {v}")]
    output = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{duration}s", "--latency", *header_args, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", output)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    scale = {"us": 0.001, "ms": 1, "s": 1000}
    return {
        "rps": rps,
        "p50_ms": float(p50.group(1)) * scale[p50.group(2)],
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)],
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def _child(duration: int) -> list[dict]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    call_command("migrate", verbosity=0)
    key = _seed()
    connections.close_all()

    port = _pg.free_port()
    server = _pg.server_start(
        port,
        *("--workers", "2", "--no-access-log", "--log-level", "warning"),
        env={**os.environ, "DATABASE_POOL_MAX": "8"},
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(f"{base}/bench/constant")
        auth = {"Authorization": f"Token {key}"}
        stock_url = f"{base}/api/v1/stock?location=S01&limit={PAGE}"
        request = urllib.request.Request(stock_url, headers=auth)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            body = json.loads(response.read())
        assert len(body["results"]) == PAGE, body
        _wrk(f"{base}/bench/constant", 2, {})  # warm both workers
        _wrk(stock_url, 2, auth)
        constant = _wrk(f"{base}/bench/constant", duration, {})
        stock = _wrk(stock_url, duration, auth)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    load = os.getloadavg()[0]
    name = "stock_read"
    ratio = stock["rps"] / constant["rps"] if constant["rps"] else 0
    note = f"uvicorn x2, PostgreSQL, wrk -c32 {duration}s, load avg {load:.1f} on 2 cores"
    return [
        {
            "benchmark": name,
            "measure": f"GET /api/v1/stock page of {PAGE}: req/s",
            "value": round(stock["rps"]),
            "unit": "req/s",
            "baseline": f"bare view {round(constant['rps'])} req/s ({ratio:.0%})",
            "target": "report beside the bare view",
            "verdict": "errors" if stock["errors"] else "measured",
        },
        {
            "benchmark": name,
            "measure": "GET /api/v1/stock latency p50 / p99",
            "value": f"{stock['p50_ms']:.1f} / {stock['p99_ms']:.1f}",
            "unit": "ms",
            "baseline": f"bare view {constant['p50_ms']:.1f} / {constant['p99_ms']:.1f} ms",
            "target": "",
            "verdict": note,
        },
    ]


if __name__ == "__main__" and "--child" in sys.argv:
    print(json.dumps(_child(int(sys.argv[-1]))))
