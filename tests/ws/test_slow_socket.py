"""A POS client that stops reading, against a real uvicorn server run as in production
(`--ws websockets-sansio --ws-per-message-deflate false`: live frames take the consumer's
direct socket write, apps.core.consumers._DirectSocket).

The client fills its socket buffers, flow control pauses the server's transport, frames
go to the connection's bounded queue (`OMO_WS_SEND_QUEUE`, small here), the queue
overflows: the server must close it with 4008 without waiting for it to read, never
slow the other clients, and the client gets exactly what it missed on reconnect with
`resume` (shared/pos-api.md, websocket; docs/websocket.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from apps.inventory.ledger import Actor, StockChange, stock_apply
from apps.inventory.models import Movement
from tests.factories import VariantFactory, pos_device

from .test_cross_process import ROOT, SERVER, _environment

SEND_QUEUE = 100
# Enough frames (about 190 bytes each, SKUs as long as allowed) to fill the slow client's
# small receive buffer, the server's send buffer and transport buffer (its pause mark
# is 64 KiB) and then the queue, several times over: about 150 KiB. One event per
# variant and commit: BATCH variants changed together, BATCHES times, a little apart
# (a burst far above the queue's size would close a client that does read).
BATCHES = 40
BATCH = 100
BATCH_PAUSE = 0.02
CHANGES = BATCHES * BATCH
TCP_ESTABLISHED = 1  # tcp_info.tcpi_state (Linux)


@pytest.fixture
def production_server(transactional_db):
    """One uvicorn process with the production image's websocket flags, serving on a
    socket made here with a small send buffer (accepted connections inherit it): the
    kernel would otherwise grow each connection's send buffer to megabytes before the
    server's transport is paused, and the test would need that many more changes."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    extra = {"OMO_WS_SEND_QUEUE": str(SEND_QUEUE)}
    if settings.REDIS_URL:
        extra["REDIS_URL"] = settings.REDIS_URL
    flags = ["--ws", "websockets-sansio", "--ws-per-message-deflate", "false"]
    process = subprocess.Popen(  # noqa: S603 (fixed arguments)
        [*SERVER, "--fd", str(listener.fileno()), *flags],
        cwd=ROOT,
        env=_environment(**extra),
        pass_fds=[listener.fileno()],
    )
    try:
        # The socket listens already: this request waits until the server answers it.
        with contextlib.suppress(urllib.error.HTTPError):  # up, whatever its checks say
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=60)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        listener.close()


class RawClient:
    """A websocket client on a plain blocking socket with a small receive buffer: it
    reads only when told to, so the server sees a client that stopped reading."""

    def __init__(self, port: int, key: str) -> None:
        self.sock = socket.socket()
        # Before connect, so that the window the client offers is small from the start.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.protocol = ClientProtocol(
            parse_uri(f"ws://127.0.0.1:{port}/ws/pos/"),
            subprotocols=[Subprotocol(f"token.{key}")],
            max_size=None,
        )
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        self.texts: list[str] = []
        self.eof = False
        while self.protocol.handshake_exc is None and not self._handshake_done():
            self._read_once()
        assert self.protocol.handshake_exc is None

    def _handshake_done(self) -> bool:
        return self.protocol.state.name in {"OPEN", "CLOSING", "CLOSED"}

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    def _read_once(self) -> None:
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if data:
            self.protocol.receive_data(data)
        else:
            self.eof = True
            self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                continue
            if event.opcode is Opcode.TEXT:
                self.texts.append(event.data.decode())
        self._flush()  # e.g. the reply to the server's close

    def send(self, message: dict) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        self._flush()

    def receive(self) -> dict:
        while not self.texts:
            self._read_once()
            assert not self.eof
        return json.loads(self.texts.pop(0))

    def drain(self, timeout: float) -> tuple[list[dict], int | None]:
        """Read everything up to the end of the connection: (messages, close code)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if time.monotonic() > deadline:
                raise TimeoutError("the server never ended the connection")
            try:
                self._read_once()
            except TimeoutError:
                continue
        close = self.protocol.close_rcvd
        messages, self.texts = [json.loads(text) for text in self.texts], []
        return messages, close.code if close is not None else None

    def wait_ended(self, timeout: float) -> bool:
        """Whether the server drops the connection within `timeout`, seen without
        reading: the client keeps sending pings, which the server's kernel answers
        with a reset once the server has let the connection go (the reset of the abort
        itself may be lost on a full receive window), and the socket leaves the
        established state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.protocol.send_ping(b"")
                self._flush()
            except OSError:
                return True
            time.sleep(0.2)
            info = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
            if info[0] != TCP_ESTABLISHED:
                return True
        return False

    def close(self) -> None:
        self.sock.close()


def _variants() -> list[int]:
    return [VariantFactory(sku=f"{n:04d}".ljust(64, "S")).pk for n in range(BATCH)]


def _commit_changes(location_id: int, variant_ids: list[int]) -> None:
    changes = [
        StockChange(
            variant_id=variant_id,
            location_id=location_id,
            reason=Movement.Reason.RECEIPT,
            on_hand=1,
        )
        for variant_id in variant_ids
    ]
    for _ in range(BATCHES):
        with transaction.atomic():
            stock_apply(changes=changes, actor=Actor())
        time.sleep(BATCH_PAUSE)


def _check_changes(messages: list[dict], first: int, last: int = CHANGES) -> None:
    """Every change from seq `first` to `last`, in order, with no gap and no duplicate:
    each variant's on hand goes up by one from message to message."""
    assert [m["seq"] for m in messages] == list(range(first, last + 1))
    on_hand: dict[str, list[int]] = {}
    for message in messages:
        on_hand.setdefault(message["sku"], []).append(message["on_hand"])
    for values in on_hand.values():
        start = 1 if first == 1 else values[0]
        assert values == list(range(start, start + len(values)))


async def _collect(port: int, key: str, after: int, count: int) -> list[dict]:
    from websockets.asyncio.client import connect as ws_connect

    uri = f"ws://127.0.0.1:{port}/ws/pos/"
    async with ws_connect(uri, subprotocols=[f"token.{key}"], max_size=None) as ws:
        await ws.send(json.dumps({"type": "resume", "after": after}))
        received = []
        while len(received) < count:
            received.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))
        # Nothing more than the changes: the next message is the answer to a ping.
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}
        return received


@pytest.mark.asyncio
async def test_a_client_that_stops_reading_is_closed_and_resumes_without_slowing_others(
    production_server, device_a, store_a
):
    port = production_server
    variant_ids = await database_sync_to_async(_variants)()
    _, slow_key = await database_sync_to_async(pos_device)(store_a, name="Slow till")
    _, silent_key = await database_sync_to_async(pos_device)(store_a, name="Frozen till")

    def raw_client(key: str) -> RawClient:
        client = RawClient(port, key)
        client.send({"type": "resume", "after": 0})
        client.send({"type": "ping"})
        assert client.receive() == {"type": "pong"}
        return client

    # Stops reading after the pong; drained once the others are done.
    slow = await asyncio.to_thread(raw_client, slow_key)
    # Never reads again: the server must drop it by itself.
    silent = await asyncio.to_thread(raw_client, silent_key)

    normal = asyncio.create_task(_collect(port, device_a[1], 0, CHANGES))
    # Mostly live; a late start would take the first changes from its replay.
    await asyncio.sleep(0.5)
    started = time.monotonic()
    await database_sync_to_async(_commit_changes)(store_a.pk, variant_ids)
    received = await asyncio.wait_for(normal, 120)
    # The normal client got every change, in order, with no gap, while the other two
    # did not read (a loose bound: this machine is shared).
    _check_changes(received, 1)
    assert time.monotonic() - started < 60

    # The slow client: what it was sent before the server gave up on it, in order from
    # the first change, then the close frame 4008 (not just a dropped connection).
    messages, code = await asyncio.to_thread(slow.drain, 30)
    slow.close()
    assert code == 4008, (code, len(messages))
    last = len(messages)
    _check_changes(messages, 1, last)
    missed = CHANGES - last
    assert missed > SEND_QUEUE  # it really was left behind

    # Reconnecting with resume gives exactly the missed changes.
    replay = await asyncio.wait_for(_collect(port, slow_key, last, missed), 120)
    _check_changes(replay, last + 1)

    # The client that never reads is let go by the server (the close frame waits behind
    # what it did not read; once the close timeout has passed without an answer, the
    # connection is dropped): its socket ends without it reading anything.
    try:
        assert await asyncio.to_thread(silent.wait_ended, 30)
    finally:
        silent.close()
