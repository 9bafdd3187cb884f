"""Append events in the writing transaction; deliver them only after commit.

Usage inside a service's `transaction.atomic()` block::

    event_append(stream=location_stream(code), type="stock", payload={...})

Delivery: after commit, each event is sent to the channel-layer group of its stream
(`stream_group(name)`), where the websocket consumers forward it. The channel layer
delivers at most once; a client that missed a message asks for everything after its
last sequence number (`events_after`), which makes the whole at-least-once.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import connection, transaction

from .models import Event, Stream

logger = logging.getLogger(__name__)


def location_stream(location_code: str) -> str:
    return f"location.{location_code}"


def stream_group(stream: str) -> str:
    """The channel-layer group name for a stream (only [a-zA-Z0-9._-] are allowed)."""
    return "stream." + "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in stream)


@dataclass(frozen=True)
class PendingEvent:
    stream: str
    type: str
    payload: dict[str, Any]


def on_commit(callback: Callable[[], None]) -> None:
    """The one way to run a side effect (task, broadcast, mail): after commit only."""
    transaction.on_commit(callback, robust=True)


_RESERVE_SQL = "UPDATE core_stream SET last_seq = last_seq + %s WHERE name = %s RETURNING last_seq"


def _reserve_seqs(stream: str, count: int) -> int:
    """Take `count` numbers from the stream in one atomic UPDATE; return the last.

    The UPDATE's row lock is held until commit, which is what orders the numbers by
    commit (SQLite gets the same from its single writer).
    """
    with connection.cursor() as cursor:
        cursor.execute(_RESERVE_SQL, [count, stream])
        row = cursor.fetchone()
        if row is None:
            # First event ever on this stream: create the row, tolerating a racing creator.
            Stream.objects.bulk_create([Stream(name=stream)], ignore_conflicts=True)
            cursor.execute(_RESERVE_SQL, [count, stream])
            row = cursor.fetchone()
    return row[0]


def events_append(pending: Iterable[PendingEvent]) -> list[Event]:
    """Append events, numbered per stream in commit order; deliver after commit.

    Must run inside the transaction that makes the change. Streams are locked in name
    order, so two transactions touching the same streams cannot deadlock on them; call
    this last in the transaction, after the business rows, to hold the locks briefly.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("events_append must run inside the transaction of the change")
    by_stream: dict[str, list[PendingEvent]] = defaultdict(list)
    for item in pending:
        by_stream[item.stream].append(item)
    created: list[Event] = []
    for stream in sorted(by_stream):
        items = by_stream[stream]
        last = _reserve_seqs(stream, len(items))
        first = last - len(items) + 1
        created += [
            Event(stream=stream, seq=first + offset, type=item.type, payload=item.payload)
            for offset, item in enumerate(items)
        ]
    Event.objects.bulk_create(created)
    if created:
        on_commit(lambda: broadcast(created))
    return created


def event_append(*, stream: str, type: str, payload: dict[str, Any]) -> Event:
    return events_append([PendingEvent(stream=stream, type=type, payload=payload)])[0]


async def _send_all(layer, events: Iterable[Event]) -> None:
    for event in events:
        try:
            await layer.group_send(
                stream_group(event.stream),
                {"type": "stream.event", "stream": event.stream, "message": event.as_message()},
            )
        except Exception:  # a full or unreachable layer must not undo a committed change
            logger.warning("broadcast of %s failed; clients will catch up", event, exc_info=True)


class _Broadcaster:
    """One long-lived event loop thread per process that sends committed events to a
    network channel layer (Redis), in the order they were handed over.

    From plain synchronous code (a Celery task, a command, a worker thread) async_to_sync
    starts a new event loop in a new thread on every call, and channels_redis keeps its
    connections per loop: every commit paid a thread start and a fresh Redis connection
    (measured: 2.6 -> 6.1 ms of CPU per stock change). Here the loop, and so the
    connections, live as long as the process; a fork gets its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None

    def submit(self, layer, events: list[Event]) -> None:
        loop, queue = self._running()
        loop.call_soon_threadsafe(queue.put_nowait, (layer, events))

    def drain(self, timeout: float = 2.0) -> None:
        """Wait (briefly) until everything handed over was sent: at process exit."""
        if self._loop is None or self._pid != os.getpid() or self._queue is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._queue.join(), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout)

    def _running(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue]:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                ready = threading.Event()
                self._pid, self._loop = os.getpid(), asyncio.new_event_loop()
                thread = threading.Thread(
                    target=self._run, args=(self._loop, ready), name="omo-broadcast", daemon=True
                )
                thread.start()
                ready.wait()
            return self._loop, self._queue

    def _run(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)

        async def main() -> None:
            self._queue = asyncio.Queue()
            ready.set()
            while True:
                layer, events = await self._queue.get()
                try:
                    await _send_all(layer, events)
                finally:
                    self._queue.task_done()

        loop.run_until_complete(main())


_broadcaster = _Broadcaster()
atexit.register(_broadcaster.drain)


def broadcast(events: Iterable[Event]) -> None:
    """Send committed events to their streams' groups. Best effort: resume covers gaps."""
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        # The in-process layer's queues belong to the server's event loop; asgiref runs
        # this on that loop when called from a request's thread, so keep async_to_sync.
        async_to_sync(_send_all)(layer, list(events))
    else:
        _broadcaster.submit(layer, list(events))


def events_after(*, stream: str, after: int, limit: int = 1000) -> list[Event]:
    """Committed events of a stream after a sequence number, in order."""
    return list(Event.objects.filter(stream=stream, seq__gt=after).order_by("seq")[:limit])


def stream_last_seq(stream: str) -> int:
    return Stream.objects.filter(name=stream).values_list("last_seq", flat=True).first() or 0
