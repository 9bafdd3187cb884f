"""The POS websocket, /ws/pos/ (shared/pos-api.md "Live updates"; docs/websocket.md).

The consumer authenticates, subscribes streams at this process's relay and forwards;
it writes nothing. A frame that cannot leave at once waits in a bounded queue drained by
one writer task, so a client that does not read is closed (4008) instead of slowing the
others or growing memory; it resumes on reconnect.

Live events take a shorter way when the server allows it (`_DirectSocket`): the relay
made each event's frame once, and it is written to the connection's socket as it is,
without one ASGI send (message dict, protocol object, frame serialization) per
connection per event, which was most of the server's cost of a fan-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from apps.accounts.services import api_client_authenticate
from apps.stores.selectors import location_list_readable_by_client

from . import presence
from .events import events_read, location_stream, stream_last_seq
from .models import Event
from .relay import SIGNAL_STREAMS, Relay, Wire, relay_acquire, setting_or_env, wire_text

try:  # the ASGI server the production image runs; any other server takes the ASGI way
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.protocol import State as _WsState
except ImportError:  # pragma: no cover
    WebSocketsSansIOProtocol = None

CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_SLOW = 4008
REPLAY_PAGE = 500
WATCH_LIMIT = 100
SUBPROTOCOL_PREFIX = "token."


def _replay_page(stream: str, after: int) -> list[tuple[int, Wire | None]]:
    found, _ = events_read({stream: after}, limit=REPLAY_PAGE)
    return [(seq, wire_text(stream, message)) for _, seq, message in found]


def _history_check(stream: str, after: int) -> tuple[int, bool]:
    """(last seq of the stream, whether every event after `after` is still kept)."""
    last = stream_last_seq(stream)
    if after >= last:
        return last, True
    # The row holding event after + 1 is the first row past `after`: a pack's first_seq.
    row = (
        Event.objects.filter(stream=stream, seq__gt=after)
        .order_by("seq")
        .values_list("seq", "first_seq")
        .first()
    )
    if row is None:
        return last, False
    seq, first_seq = row
    return last, (seq if first_seq is None else first_seq) <= after + 1


def _readable_codes(client, codes: list[str]) -> set[str]:
    return set(
        location_list_readable_by_client(client)
        .filter(code__in=codes)
        .values_list("code", flat=True)
    )


class _DirectSocket:
    """Writes a ready-made frame straight to the socket of an uvicorn websockets-sansio
    connection: the very bytes uvicorn's own send would write (no extension was
    negotiated, so a server frame is the header and the text), without its per-call work.

    Only while the connection is open, has sent no close and its transport accepts data
    (not paused by flow control); otherwise the caller queues the text for the ASGI send,
    which keeps the bounded-queue rule for slow clients.
    """

    __slots__ = ("protocol",)

    def __init__(self, protocol) -> None:
        self.protocol = protocol

    @classmethod
    def of(cls, send) -> _DirectSocket | None:
        protocol = getattr(send, "__self__", None)
        if WebSocketsSansIOProtocol is None or type(protocol) is not WebSocketsSansIOProtocol:
            return None
        conn = getattr(protocol, "conn", None)
        if conn is None or conn.extensions:  # e.g. permessage-deflate: frames differ
            return None
        return cls(protocol)

    def write(self, frame: bytes) -> bool:
        """Write the frame if the connection can take it now; False if not."""
        protocol = self.protocol
        if (
            protocol.close_sent
            or protocol.conn.state is not _WsState.OPEN
            or not protocol.writable.is_set()
            or protocol.transport.is_closing()
        ):
            return False
        protocol.transport.write(frame)
        return True

    def close(self, code: int, reason: str) -> bool:
        """Send the close frame now, behind what is buffered, as uvicorn's send of
        `websocket.close` would, but without first waiting for the transport to accept
        data: for a client that stopped reading it never would, and the client would
        stay connected and get nothing. If the client does not answer the close within
        uvicorn's close timeout (it still does not read), the connection is dropped with
        what is buffered for it. False if the connection is closing already."""
        protocol = self.protocol
        if (
            protocol.close_sent
            or protocol.conn.state is not _WsState.OPEN
            or protocol.transport.is_closing()
        ):
            return False
        protocol.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        protocol.conn.send_close(code, reason)
        protocol.transport.write(b"".join(protocol.conn.data_to_send()))
        protocol.close_sent = True
        if protocol.read_paused:  # so that the client's answer is read
            protocol.read_paused = False
            protocol.transport.resume_reading()
        # uvicorn's timer closes the transport, which waits for the buffer to drain;
        # abort drops it.
        protocol.close_timer = protocol.loop.call_later(
            protocol.close_timeout, protocol.transport.abort
        )
        return True


class PosConsumer(AsyncWebsocketConsumer):
    # The relay receives from the channel layer for the whole process; a connection
    # needs no layer channel of its own (an alias that is not configured gives none).
    channel_layer_alias = "pos-connections-use-the-relay"

    client = None
    relay: Relay | None = None
    writer: asyncio.Task | None = None
    resume_task: asyncio.Task | None = None
    direct: _DirectSocket | None = None
    # Frames queued or being sent by the writer: a direct write waits until it is 0, so
    # frames never overtake each other.
    backlog = 0
    # Live events for the direct write at the relay's flush (end of this loop turn); a
    # list only where the direct write is possible.
    held: list[Wire] | None = None

    async def connect(self) -> None:
        self.connection_id = presence.new_connection_id()
        self.streams: set[str] = set()
        self.sent: dict[str, int] = {}  # stream -> last seq sent (or skipped)
        self.replaying: dict[str, list[tuple[int, str]]] = {}
        self.resumed = False
        self.closing = False
        self.queue: asyncio.Queue[str] = asyncio.Queue(
            maxsize=setting_or_env("OMO_WS_SEND_QUEUE", int, 1000)
        )
        key, subprotocol = self._token()
        client = await database_sync_to_async(api_client_authenticate)(key) if key else None
        if client is None:
            # Accept, then close with a code: a close before accept reaches the client as
            # a bare HTTP 403 without any code it could act on.
            await self.accept(subprotocol)
            self.closing = True
            await self.send(
                text_data=json.dumps(
                    {"type": "error", "code": "unauthorized", "detail": "Unknown or revoked token."}
                )
            )
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.client = client
        self.client_location_code = client.location.code if client.location_id else None
        self.own_stream = location_stream(client.location.code) if client.location_id else None
        self.relay = await relay_acquire()
        await self.relay.connection_open(
            connection_id=self.connection_id, client_id=client.pk, holder=self
        )
        # Subscribed before accept: a change committed after the client saw the socket
        # open is never missed. Messages wait in the queue until the writer starts.
        for stream in sorted(SIGNAL_STREAMS):
            await self._subscribe_live(stream)
        await self.accept(subprotocol)
        if setting_or_env("OMO_WS_DIRECT_WRITE", bool, True):
            self.direct = _DirectSocket.of(self.base_send)
        if self.direct is not None:
            self.held = []
        self.writer = asyncio.create_task(self._write())

    def _token(self) -> tuple[str, str | None]:
        for offered in self.scope.get("subprotocols") or []:
            if offered.startswith(SUBPROTOCOL_PREFIX):
                return offered[len(SUBPROTOCOL_PREFIX) :], offered
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        return (query.get("token") or [""])[0], None

    async def disconnect(self, code) -> None:
        self.closing = True
        for task in (self.writer, self.resume_task):
            if task is not None:
                task.cancel()
        if self.relay is not None:
            for stream in self.streams:
                self.relay.unsubscribe(stream, self)
            self.streams = set()
            await self.relay.connection_close(connection_id=self.connection_id)
            self.relay = None

    # --- outgoing ------------------------------------------------------------------
    async def _write(self) -> None:
        while True:
            text = await self.queue.get()
            try:
                await self.send(text_data=text)
            finally:
                self.backlog -= 1

    def _enqueue(self, text: str) -> None:
        if self.closing:
            return
        if self.held:
            self.relay_flush()  # what was held goes first
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self._too_slow()
            return
        self.backlog += 1

    async def _enqueue_wait(self, text: str) -> None:
        """Queue a frame, waiting for room: a replay is paced by the client."""
        if self.held:
            self.relay_flush()
        await self.queue.put(text)
        self.backlog += 1

    def relay_flush(self) -> None:
        """Write the held frames in one go; if the socket cannot take them now, they join
        the bounded queue (in order) as any other frame."""
        held, self.held = self.held, []
        if not held or self.closing:
            return
        frames = held[0].frame if len(held) == 1 else b"".join(w.frame for w in held)
        if self.backlog == 0 and self.direct is not None and self.direct.write(frames):
            return
        for wire in held:
            self._enqueue(wire.text)

    def _too_slow(self) -> None:
        if self.closing:
            return
        self.closing = True
        asyncio.get_running_loop().create_task(self._close_too_slow())

    async def _close_too_slow(self) -> None:
        if self.writer is not None:
            self.writer.cancel()
        reason = "too slow; resume on reconnect"
        if self.direct is not None and self.direct.close(CLOSE_TOO_SLOW, reason):
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.close(code=CLOSE_TOO_SLOW, reason=reason), 5)

    def relay_revoked(self) -> None:
        """The key was revoked while connected: say so and close as on connect."""
        if self.closing:
            return
        self.closing = True
        asyncio.get_running_loop().create_task(self._close_revoked())

    async def _close_revoked(self) -> None:
        for task in (self.writer, self.resume_task):
            if task is not None:
                task.cancel()
        text = json.dumps({"type": "error", "code": "unauthorized", "detail": "Key revoked."})
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.send(text_data=text), 5)
            await asyncio.wait_for(self.close(code=CLOSE_UNAUTHORIZED), 5)

    def _error(self, code: str, detail: str, **extra) -> None:
        self._enqueue(json.dumps({"type": "error", "code": code, "detail": detail, **extra}))

    def relay_deliver(self, stream: str, seq: int, wire: Wire) -> None:
        """Called by the relay, in order and without gaps, for each event of a stream.

        Runs once per connection per event (a million times for a burst of 1,000 changes
        to 1,000 tills), hence the plain code."""
        if self.replaying:
            buffer = self.replaying.get(stream)
            if buffer is not None:
                if len(buffer) >= self.queue.maxsize:
                    self._too_slow()
                buffer.append((seq, wire.text))
                return
        sent = self.sent
        if seq <= sent.get(stream, 0):
            return
        sent[stream] = seq
        # Pickups are for the device's own location only; a watched one sends stock.
        if wire.kind == "pickup" and stream != self.own_stream:
            return
        if self.closing:
            return
        held = self.held
        if held is not None and self.backlog == 0:
            if not held:
                self.relay.flush_later(self)
            held.append(wire)
            return
        self._enqueue(wire.text)

    # --- incoming ------------------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.client is None or self.closing:
            return
        if text_data is None:
            self._error("invalid", "Send JSON objects in text frames.")
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            self._error("invalid", "The frame is not valid JSON.")
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ping":
            self._enqueue('{"type":"pong"}')
        elif kind == "resume":
            self._resume_start(message.get("after"))
        elif kind == "watch":
            await self._watch(message.get("locations"))
        else:
            self._error("invalid", "Unknown message type; expected resume, watch or ping.")

    async def _subscribe_live(self, stream: str) -> None:
        position = await self.relay.subscribe(stream, self)
        self.streams.add(stream)
        self.sent[stream] = max(self.sent.get(stream, 0), position)

    def _resume_start(self, after) -> None:
        if type(after) is not int or after < 0:
            self._error("invalid", "'after' must be a whole number, 0 or more.")
            return
        if self.resumed:
            self._error("invalid", "Send resume once per connection; reconnect to start over.")
            return
        self.resumed = True
        if self.client.location_id is None:  # an integration: nothing of its own to replay
            return
        # A task, so that a long replay to a slow reader never blocks this connection's
        # other messages (a disconnect above all).
        self.resume_task = asyncio.get_running_loop().create_task(self._resume(after))

    async def _resume(self, after: int) -> None:
        stream = location_stream(self.client_location_code)
        self.replaying[stream] = []
        # Subscribe before reading the history, so every later event is either in the
        # history read or in the buffer (deduplicated by seq below).
        await self.relay.subscribe(stream, self)
        self.streams.add(stream)
        last, complete = await database_sync_to_async(_history_check)(stream, after)
        if after > last:
            self._stop_stream(stream)
            self.resumed = False
            self._error("invalid", f"'after' is ahead of the stream (last is {last}).", last=last)
            return
        position = after
        if not complete:
            self._error(
                "resync_required",
                "Changes after 'after' are no longer kept; read the stock in full, then "
                "apply the live messages that follow.",
                last=last,
            )
            position = last
        else:
            while position < last:
                page = await database_sync_to_async(_replay_page)(stream, position)
                if not page:
                    break
                for seq, wire in page:
                    if wire is not None:
                        await self._enqueue_wait(wire.text)  # a replay waits for the client
                    position = seq
                if self.closing:
                    return
        for seq, text in self.replaying.pop(stream):
            if seq > position:
                self._enqueue(text)
                position = seq
        self.sent[stream] = max(self.sent.get(stream, 0), position)

    def _stop_stream(self, stream: str) -> None:
        self.replaying.pop(stream, None)
        self.streams.discard(stream)
        self.relay.unsubscribe(stream, self)

    async def _watch(self, locations) -> None:
        if (
            not isinstance(locations, list)
            or not all(isinstance(code, str) for code in locations)
            or len(locations) > WATCH_LIMIT
        ):
            self._error("invalid", f"'locations' must be a list of up to {WATCH_LIMIT} codes.")
            return
        allowed = await database_sync_to_async(_readable_codes)(self.client, locations)
        for code in dict.fromkeys(locations):
            if code not in allowed:
                self._error(
                    "forbidden_location",
                    f"You may not watch location {code!r}.",
                    location=code,
                )
                continue
            stream = location_stream(code)
            # The own location is always watched, from `resume` on (with its replay).
            if code != self.client_location_code and stream not in self.streams:
                await self._subscribe_live(stream)
