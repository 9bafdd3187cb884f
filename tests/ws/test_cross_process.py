"""A change committed by another process reaches websocket clients (issue 4, Delivery).

Embedded mode: SQLite file and the in-process layer, so the producing process's
broadcast reaches nobody and the relay's tail of the Event table must deliver it.
Production mode: two uvicorn server processes on one PostgreSQL and one Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings

from .conftest import connect, database_url, receive, send

ROOT = Path(__file__).resolve().parents[2]
SERVER = [sys.executable, "-m", "uvicorn", "omo_site.asgi:application", "--host", "127.0.0.1"]
SERVER += ["--log-level", "warning"]


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="omo_site.settings.base",
        OMO_VAR_DIR=tempfile.mkdtemp(prefix="omo-ws-proc-"),
        DATABASE_URL=database_url(),
        DATABASE_POOL_MIN="1",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def produce(code: str, sku: str, count: int, **env: str) -> list[float]:
    """Commit `count` receipts in a process of its own; the wall-clock commit times."""
    result = subprocess.run(  # noqa: S603 (our own module, fixed arguments)
        [sys.executable, "-m", "tests.ws.stock_producer", code, sku, str(count)],
        cwd=ROOT,
        env=_environment(**env),
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    return [json.loads(line)["committed_at"] for line in result.stdout.splitlines()]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_embedded_change_from_another_process_reaches_the_client(device_a, store_a, variant):
    if settings.DATABASE_IS_POSTGRES:
        pytest.skip("the embedded mode runs on SQLite")
    communicator = await connect(device_a[1])
    await send(communicator, {"type": "resume", "after": 0})
    await asyncio.to_thread(produce, "SA1", "TEE-BLK-M", 3)  # no REDIS_URL: layer is local
    received = [await receive(communicator, timeout=2) for _ in range(3)]
    assert [(m["seq"], m["on_hand"]) for m in received] == [(1, 1), (2, 2), (3, 3)]
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"server on {port} did not start")


@pytest.fixture
def two_servers(transactional_db):
    ports = [_free_port(), _free_port()]
    processes = []
    try:
        for port in ports:
            # The first runs as the production image does (no permessage-deflate: the
            # consumer writes ready-made frames to the socket), the second with uvicorn's
            # defaults (the client's deflate offer is taken: frames go the ASGI way).
            production = ["--ws-per-message-deflate", "false"] if not processes else []
            process = subprocess.Popen(  # noqa: S603 (fixed arguments)
                [*SERVER, "--port", str(port), *production],
                cwd=ROOT,
                env=_environment(REDIS_URL=settings.REDIS_URL),
            )
            processes.append(process)
        for port, process in zip(ports, processes, strict=True):
            _wait_listening(port, process)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


async def _collect(port: int, key: str, count: int, ready: asyncio.Event) -> list[dict]:
    from websockets.asyncio.client import connect as ws_connect

    async with ws_connect(f"ws://127.0.0.1:{port}/ws/pos/", subprotocols=[f"token.{key}"]) as ws:
        await ws.send(json.dumps({"type": "resume", "after": 0}))
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}
        ready.set()
        received = []
        while len(received) < count:
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
            received.append((message, time.time()))
        return received


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.asyncio
async def test_change_through_one_server_process_reaches_a_client_of_the_other(
    two_servers, device_a, store_a, variant
):
    first, second = two_servers
    key = device_a[1]
    ready = [asyncio.Event(), asyncio.Event()]
    clients = [
        asyncio.create_task(_collect(port, key, 3, event))
        for port, event in zip((first, second), ready, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), 10)
    committed = await asyncio.to_thread(
        produce, "SA1", "TEE-BLK-M", 3, REDIS_URL=settings.REDIS_URL
    )
    for received in await asyncio.gather(*clients):
        assert [(m["seq"], m["on_hand"]) for m, _ in received] == [(1, 1), (2, 2), (3, 3)]
        for (_, received_at), committed_at in zip(received, committed, strict=True):
            assert received_at - committed_at < 2
