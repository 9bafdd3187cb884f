"""Per-process delivery of committed events to the websocket connections of this process.

One `Relay` per ASGI process (per event loop), started by the first connection and
stopped with the last. It gets events two ways and hands each local subscriber of a
stream every event of that stream exactly once, in `seq` order, with no gap:

1. the channel layer: the relay (not each connection) joins the stream's group, so a
   broadcast after commit (apps.core.events.broadcast) costs one layer message per
   process, not one per connection; it is fast but at most once, and with the
   in-process layer it only sees changes committed by this process;
2. the Event table: every `OMO_WS_RELAY_INTERVAL` seconds one indexed query asks for the
   events after the relay's position of each stream it serves. Sequence numbers follow
   commit order without gaps (apps.core.models), so "seq > position" never skips a
   committed change, whichever process (Celery worker, other web server, management
   command) committed it. This is what makes delivery complete in every mode.

The relay keeps per stream the last seq handed on ("position"): a message at or below it
is a duplicate and dropped; one above position + 1 waits until the gap is filled (by the
layer or by the next poll), so subscribers see a contiguous sequence.

It also keeps this process's presence entries alive (apps.core.presence).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import environ
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from apps.accounts.models import ApiClient

from . import presence
from .events import (
    events_read,
    is_classic_redis_layer,
    layer_message_bodies,
    redis_receive_batch,
    stream_group,
    stream_last_seq,
)

logger = logging.getLogger(__name__)
_env = environ.Env()

POLL_BATCH = 1000
# Types forwarded to POS clients from a location stream (shared/pos-api.md); anything
# else on the stream is internal and only moves the position on.
LOCATION_TYPES = frozenset({"stock", "pickup"})
SIGNAL_STREAMS = frozenset({"catalog", "promotions"})
PENDING_LIMIT = 10_000
GROUP_REFRESH_HEARTBEATS = 40  # re-join groups every ~10 min (layer group expiry)


def setting_or_env(name: str, cast: type, default):
    """A tuning knob: from settings if set there, else the environment, else default."""
    value = getattr(settings, name, None)
    if value is not None:
        return cast(value)
    return getattr(_env, cast.__name__)(name, default=default)


class Wire(NamedTuple):
    """An event as POS clients get it: its type, its JSON text and that text as one
    websocket frame (server to client: unmasked, uncompressed), each made once per event
    and process, however many connections get it."""

    kind: str
    text: str
    frame: bytes


def text_frame(text: str) -> bytes:
    """One final text frame (RFC 6455 5.2) as a server sends it without extensions."""
    data = text.encode()
    size = len(data)
    if size < 126:
        return bytes((0x81, size)) + data
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + data
    return struct.pack("!BBQ", 0x81, 127, size) + data


def _wire(kind: str, text: str) -> Wire:
    return Wire(kind, text, text_frame(text))


def wire_text(stream: str, message: dict) -> Wire | None:
    """What a POS client gets for an event, or None if it gets nothing."""
    if stream in SIGNAL_STREAMS:
        return _wire(stream, json.dumps({"type": stream, "seq": message["seq"]}))
    kind = message.get("type")
    if stream.startswith("location.") and kind in LOCATION_TYPES:
        return _wire(kind, json.dumps(message, separators=(",", ":")))
    return None


class Subscriber(Protocol):
    def relay_deliver(self, stream: str, seq: int, wire: Wire) -> None: ...

    def relay_revoked(self) -> None: ...

    def relay_flush(self) -> None: ...


@dataclass
class _StreamState:
    position: int | None = None  # None until the starting position is read
    subscribers: set = field(default_factory=set)
    pending: dict[int, Wire | None] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)


def _events_since(positions: dict[str, int]) -> tuple[list[tuple[str, int, Wire | None]], bool]:
    """One query: the events after each stream's position, oldest first; and whether
    more may follow."""
    # Within one stream, id order is seq order (the stream row lock).
    found, more = events_read(positions, limit=POLL_BATCH, order="id")
    return [(stream, seq, wire_text(stream, message)) for stream, seq, message in found], more


class Relay:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.streams: dict[str, _StreamState] = {}
        self.connections: dict[str, int] = {}  # connection id -> API client id
        self.holders: dict[str, Subscriber] = {}  # connection id -> its consumer
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.tasks: list[asyncio.Task] = []
        self.interval = setting_or_env("OMO_WS_RELAY_INTERVAL", float, 0.15)
        self.use_layer = setting_or_env("OMO_WS_RELAY_USE_LAYER", bool, True)
        self.stopped = False
        self.started = asyncio.Event()
        # Subscribers holding frames for this loop turn's flush (see flush_later).
        self.dirty: list[Subscriber] = []
        self.flush_interval = setting_or_env("OMO_WS_FLUSH_INTERVAL", float, 0.0)
        self.last_flush = 0.0

    # --- lifecycle -------------------------------------------------------------------
    async def _start(self) -> None:
        try:
            if self.layer is not None and self.use_layer:
                try:
                    self.channel = await self.layer.new_channel("relay.")
                    self.tasks.append(asyncio.create_task(self._receive_loop()))
                except Exception:  # no layer: the poll alone still delivers everything
                    logger.warning("relay: channel layer unavailable", exc_info=True)
                    self.channel = None
            self.tasks.append(asyncio.create_task(self._poll_loop()))
            self.tasks.append(asyncio.create_task(self._heartbeat_loop()))
        finally:
            self.started.set()

    async def _stop(self) -> None:
        self.stopped = True
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks = []
        if self.channel is not None:
            for stream in list(self.streams):
                await self._group_discard(stream)

    async def connection_open(
        self, *, connection_id: str, client_id: int, holder: Subscriber | None = None
    ) -> None:
        self.connections[connection_id] = client_id
        if holder is not None:
            self.holders[connection_id] = holder
        try:
            await sync_to_async(presence.presence_enter, thread_sensitive=False)(
                client_id=client_id, connection_id=connection_id
            )
        except Exception:  # presence is informative; never refuse a till for it
            logger.warning("presence: could not record a connection", exc_info=True)

    async def connection_close(self, *, connection_id: str) -> None:
        client_id = self.connections.pop(connection_id, None)
        self.holders.pop(connection_id, None)
        if client_id is not None:
            with contextlib.suppress(Exception):
                await sync_to_async(presence.presence_leave, thread_sensitive=False)(
                    client_id=client_id, connection_id=connection_id
                )
        if not self.connections and not any(s.subscribers for s in self.streams.values()):
            await _relay_release(self)

    # --- subscriptions ---------------------------------------------------------------
    async def subscribe(self, stream: str, subscriber: Subscriber) -> int:
        """Serve `stream` to `subscriber`: it gets every event with seq above the
        returned number, in order, through `relay_deliver`."""
        state = self.streams.get(stream)
        if state is None:
            state = self.streams[stream] = _StreamState()
            # Join first, then read the start: a broadcast racing with the read is
            # either at or below it (dropped) or above it (delivered or polled).
            if self.channel is not None:
                with contextlib.suppress(Exception):
                    await self.layer.group_add(stream_group(stream), self.channel)
            try:
                position = await database_sync_to_async(stream_last_seq)(stream)
            except BaseException:
                self.streams.pop(stream, None)
                state.ready.set()
                raise
            state.position = position
            state.ready.set()
        else:
            await state.ready.wait()
            if self.streams.get(stream) is not state:  # its start failed meanwhile
                return await self.subscribe(stream, subscriber)
        state.subscribers.add(subscriber)
        return state.position

    def unsubscribe(self, stream: str, subscriber: Subscriber) -> None:
        state = self.streams.get(stream)
        if state is None:
            return
        state.subscribers.discard(subscriber)
        if not state.subscribers and state.position is not None:
            del self.streams[stream]
            if self.channel is not None and not self.stopped:
                self.loop.create_task(self._group_discard(stream))

    async def _group_discard(self, stream: str) -> None:
        with contextlib.suppress(Exception):
            await self.layer.group_discard(stream_group(stream), self.channel)

    # --- ordering and fan-out --------------------------------------------------------
    def accept(self, stream: str, seq: int, wire: Wire | None) -> None:
        state = self.streams.get(stream)
        if state is None or state.position is None or seq <= state.position:
            return
        if seq > state.position + 1:
            if len(state.pending) < PENDING_LIMIT:
                state.pending[seq] = wire
            return
        self._hand_on(stream, state, seq, wire)
        while state.position + 1 in state.pending:
            following = state.position + 1
            self._hand_on(stream, state, following, state.pending.pop(following))

    def _hand_on(self, stream: str, state: _StreamState, seq: int, wire: Wire | None) -> None:
        state.position = seq
        if wire is None:
            return
        for subscriber in list(state.subscribers):
            try:
                subscriber.relay_deliver(stream, seq, wire)
            except Exception:
                logger.exception("delivery of %s#%s to a connection failed", stream, seq)

    def flush_later(self, subscriber: Subscriber) -> None:
        """Call `subscriber.relay_flush()` once the events ready in this turn of the loop
        are handed on: the frames of a burst leave in one write per connection (and
        arrive in one read) instead of one system call on each side per frame."""
        if not self.dirty:
            # At most one flush per `flush_interval`: a write costs a system call on both
            # ends (and, on one machine, the receiver's TCP work too), so when events
            # come faster than that, several leave together. 0: the next loop turn.
            wait = self.last_flush + self.flush_interval - self.loop.time()
            if wait > 0:
                self.loop.call_later(wait, self._flush)
            else:
                self.loop.call_soon(self._flush)
        self.dirty.append(subscriber)

    def _flush(self) -> None:
        self.last_flush = self.loop.time()
        dirty, self.dirty = self.dirty, []
        for subscriber in dirty:
            try:
                subscriber.relay_flush()
            except Exception:
                logger.exception("flushing frames to a connection failed")

    # --- sources -------------------------------------------------------------------
    async def _receive_loop(self) -> None:
        layer, channel = self.layer, self.channel
        if is_classic_redis_layer(layer):
            # Everything waiting in one round trip (see redis_receive_batch).
            def receive():
                return redis_receive_batch(layer, channel)
        else:

            async def receive():
                return [await layer.receive(channel)]

        while True:
            try:
                messages = await receive()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # e.g. a read timeout on a starved machine; the table tail covers the gap.
                logger.warning("relay: channel layer receive failed: %s", error)
                await asyncio.sleep(0.1)
                continue
            for message in messages:
                try:
                    # "stream.event" carries one event, "stream.events" several in order.
                    for body in layer_message_bodies(message):
                        stream = message["stream"]
                        self.accept(stream, int(body["seq"]), wire_text(stream, body))
                except (KeyError, TypeError, ValueError):
                    logger.warning("relay: malformed layer message %r", message)

    async def _poll_loop(self) -> None:
        poll = database_sync_to_async(_events_since, thread_sensitive=False)
        while True:
            await asyncio.sleep(self.interval)
            while True:
                positions = {
                    name: state.position
                    for name, state in self.streams.items()
                    if state.position is not None
                }
                if not positions:
                    break
                try:
                    rows, more = await poll(positions)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.warning("relay: polling the event table failed", exc_info=True)
                    break
                for stream, seq, wire in rows:
                    self.accept(stream, seq, wire)
                if not more:
                    break

    async def _heartbeat_loop(self) -> None:
        beats = 0
        while True:
            await asyncio.sleep(presence.HEARTBEAT_SECONDS)
            beats += 1
            with contextlib.suppress(Exception):
                await sync_to_async(presence.presence_refresh, thread_sensitive=False)(
                    [(client, conn) for conn, client in self.connections.items()]
                )
            await self._close_revoked()
            if self.channel is not None and beats % GROUP_REFRESH_HEARTBEATS == 0:
                for stream in list(self.streams):
                    with contextlib.suppress(Exception):
                        await self.layer.group_add(stream_group(stream), self.channel)

    async def _close_revoked(self) -> None:
        """A key revoked while its tills are connected stops working within a beat."""
        connected = set(self.connections.values())
        if not connected:
            return
        try:
            usable = await database_sync_to_async(_usable_client_ids, thread_sensitive=False)(
                connected
            )
        except Exception:
            logger.warning("relay: could not check for revoked keys", exc_info=True)
            return
        for connection_id, client_id in list(self.connections.items()):
            holder = self.holders.get(connection_id)
            if client_id not in usable and holder is not None:
                holder.relay_revoked()


def _usable_client_ids(client_ids: set[int]) -> set[int]:
    return set(ApiClient.objects.usable().filter(pk__in=client_ids).values_list("pk", flat=True))


_relays: dict[asyncio.AbstractEventLoop, Relay] = {}


async def relay_acquire() -> Relay:
    """This process's relay for the running loop, started on first use."""
    loop = asyncio.get_running_loop()
    relay = _relays.get(loop)
    if relay is None or relay.stopped:
        relay = _relays[loop] = Relay(loop)
        await relay._start()
    await relay.started.wait()
    return relay


async def _relay_release(relay: Relay) -> None:
    if _relays.get(relay.loop) is relay:
        del _relays[relay.loop]
    await relay._stop()
