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
import functools
import json
import logging
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

import redis
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from .models import Event, Stream, event_messages

logger = logging.getLogger(__name__)


def location_stream(location_code: str) -> str:
    return f"location.{location_code}"


@functools.lru_cache(maxsize=4096)  # one per location and a few others: built once each
def stream_group(stream: str) -> str:
    """The channel-layer group name for a stream (only [a-zA-Z0-9._-] are allowed)."""
    return "stream." + "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in stream)


@dataclass(frozen=True)
class PendingEvent:
    stream: str
    type: str
    payload: dict[str, Any]


def on_commit(callback: Callable[[], None], *, db=None) -> None:
    """The one way to run a side effect (task, broadcast, mail): after commit only.
    `db`: the default database's connection, where the caller has it at hand (the
    lookup through `connections` is a good part of a fast stock change's own work)."""
    if db is None:
        transaction.on_commit(callback, robust=True)
    else:
        db.on_commit(callback, robust=True)


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


# Layer messages: one event is {"type": "stream.event", "stream", "message"}; several
# events of one stream sent together are {"type": "stream.events", "stream", "messages"}
# (in seq order). Receivers accept both (apps.core.relay, apps.inventory.consumers).
BATCH_LIMIT = 200  # events per batched layer message: keeps each Redis value small


def _layer_messages(events: Iterable[Event]) -> list[tuple[str, dict]]:
    """(group, layer message) per stream, in first-seen order; each stream's events in
    the order handed over (commit order), at most BATCH_LIMIT per message."""
    by_stream: dict[str, list[dict]] = {}
    for event in events:
        messages = by_stream.get(event.stream)
        if messages is None:
            messages = by_stream[event.stream] = []
        messages.append(event.as_message())
    out: list[tuple[str, dict]] = []
    for stream, messages in by_stream.items():
        group = stream_group(stream)
        if len(messages) == 1:
            out.append((group, {"type": "stream.event", "stream": stream, "message": messages[0]}))
            continue
        for start in range(0, len(messages), BATCH_LIMIT):
            chunk = messages[start : start + BATCH_LIMIT]
            out.append((group, {"type": "stream.events", "stream": stream, "messages": chunk}))
    return out


def layer_message_bodies(message: dict) -> list[dict]:
    """The event messages a layer message carries (single or batched), in order; [] for
    any other type."""
    kind = message.get("type")
    if kind == "stream.event":
        return [message["message"]]
    if kind == "stream.events":
        return list(message["messages"])
    return []


# Group members in one round trip for all groups of a drain: the layer's group_send
# asks for them in two (expire, then read), per message, even when the group is empty.
_MEMBERS_LUA = """
local out = {}
for i = 1, #KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, ARGV[1])
    out[i] = redis.call('ZRANGE', KEYS[i], 0, -1)
end
return out
"""

# channels_redis 4.3's own group_send script (capacity check, then add with expiry).
_GROUP_SEND_LUA = """
local over_capacity = 0
local current_time = ARGV[#ARGV - 1]
local expiry = ARGV[#ARGV]
for i=1,#KEYS do
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
        redis.call('ZADD', KEYS[i], current_time, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""


RECEIVE_BATCH = 200  # layer messages taken from Redis in one round trip


async def redis_receive_batch(layer, channel: str) -> list[dict]:
    """The messages waiting on a process-specific channel (`new_channel`) of the classic
    Redis layer, oldest first (those sent at the same time in any order; the relay
    orders events by seq): all of them (up to RECEIVE_BATCH) in one round trip when
    some are waiting, else the first one to arrive (blocking as the layer's `receive`
    does, [] after its timeout).

    The layer's `receive` takes one message per four round trips (restore the in-flight
    copy, BZPOPMIN, keep an in-flight copy, remove it), each a turn of an event loop that
    is busy writing frames during a burst: the relay took layer messages more slowly
    than a producer commits, and the table poll ended up delivering most events. Its
    in-flight copy buys at-least-once, which the relay does not need (the poll fills
    whatever the layer loses). Only for a channel that one coroutine receives on."""
    real = layer.non_local_name(channel)
    key = layer.prefix + real
    connection = layer.connection(layer.consistent_hash(real))
    popped = await connection.zpopmin(key, RECEIVE_BATCH)
    if not popped:
        found = await connection.bzpopmin(key, timeout=layer.brpop_timeout)
        if found is None:
            return []
        popped = [(found[1], found[2])]
    messages = []
    for member, _ in popped:
        message = layer.deserialize(member)
        targets = message.pop("__asgi_channel__", [channel])
        if channel in (targets if isinstance(targets, list) else [targets]):
            messages.append(message)
    return messages


@functools.cache  # once per layer class: it is asked on every commit
def _is_classic_redis_layer_type(layer_type: type) -> bool:
    try:
        from channels_redis.core import RedisChannelLayer
    except ImportError:  # pragma: no cover - embedded installs without Redis
        return False
    return layer_type is RedisChannelLayer


def is_classic_redis_layer(layer) -> bool:
    return _is_classic_redis_layer_type(type(layer))


def _redis_clients(layer) -> list | None:
    """Blocking redis-py clients for each of the layer's hosts, configured as the layer
    configures its own pools (channels_redis.utils.create_pool); None for a host setup
    without a plain equivalent (Sentinel), which then takes the layer's async path."""
    clients = []
    for host in layer.hosts:
        options = dict(host)
        if "master_name" in options:
            return None
        address = options.pop("address", None)
        clients.append(
            redis.Redis.from_url(address, **options) if address else redis.Redis(**options)
        )
    return clients


@functools.cache
def _members_script(client):
    """_MEMBERS_LUA as a redis-py Script: EVALSHA (the text is not sent and hashed by
    Redis on every call), loaded on first use. The group-send script stays an EVAL: in
    a pipeline a Script costs a SCRIPT EXISTS round trip per execute."""
    return client.register_script(_MEMBERS_LUA)


# group key: (read at, members). Written only by the broadcaster's thread; the committing
# threads read it (_nobody_follows).
_members_seen: dict[str, tuple[float, list[str]]] = {}
# group: when a commit last asked whether anybody follows it (monotonic). Written by the
# committing threads; the broadcaster's thread reads the members of these groups again
# before their reading goes stale (_Broadcaster._members_refresh).
_members_asked: dict[str, float] = {}


def _group_members(
    layer, clients: list, groups: list[str], max_age: float | None = None
) -> list[list[str]]:
    """The channels in each group (expired members dropped), in one script call per
    host for the groups not read within OMO_BROADCAST_MEMBERS_SECONDS.

    A group's members are the relays of the ASGI processes that follow its stream: they
    change when a process starts or stops following it, not with each commit, so a
    producer committing hundreds of changes a second need not ask Redis every time
    (in the stock benchmark, with nobody listening, this round trip was most of the
    broadcasting thread's CPU). A relay that joins meanwhile is not missed for long: it
    polls the event table every OMO_WS_RELAY_INTERVAL and gets those events from there
    (the layer is a shortcut; the table is what makes delivery complete). `max_age`:
    reuse only readings younger than this (the refresh ahead of staleness)."""
    seconds = settings.OMO_BROADCAST_MEMBERS_SECONDS
    fresh_for = seconds if max_age is None else min(max_age, seconds)
    now = time.monotonic()
    keys = [layer._group_key(group) for group in groups]
    members: list[list[str] | None] = [None] * len(groups)
    by_host: dict[int, list[int]] = defaultdict(list)
    for index, (group, key) in enumerate(zip(groups, keys, strict=True)):
        seen = _members_seen.get(key) if seconds > 0 else None
        if seen is not None and now - seen[0] < fresh_for:
            members[index] = seen[1]
        else:
            assert layer.require_valid_group_name(group)
            by_host[layer.consistent_hash(group)].append(index)
    cutoff = int(time.time()) - layer.group_expiry
    for host, indexes in by_host.items():
        wanted = list(dict.fromkeys(keys[i] for i in indexes))
        try:
            found = _members_script(clients[host])(keys=wanted, args=[cutoff])
        except Exception:
            logger.warning("broadcast: reading group members failed", exc_info=True)
            continue
        read = {
            key: [name.decode("utf8") for name in names]
            for key, names in zip(wanted, found, strict=True)
        }
        for i in indexes:
            members[i] = read[keys[i]]
        if seconds > 0:
            if len(_members_seen) > 10_000:  # streams come and go; keep it bounded
                _members_seen.clear()
            for key, names in read.items():
                _members_seen[key] = (now, names)
    return [names or [] for names in members]


def _nobody_follows(layer, events: list[Event]) -> bool:
    """Whether every event's group was read empty less than OMO_BROADCAST_MEMBERS_SECONDS
    ago: then the broadcaster's thread would find nothing to send, so it is not woken
    (a thread wake-up cost a stock change about 0.1 ms of CPU with nobody listening).
    A relay that joined since gets these events from its table poll, as it does when
    the thread finds the group empty. Read from the committing thread: a dict read of
    an immutable entry. Each group asked about is noted, so that the thread reads it
    again before the reading goes stale (_Broadcaster._members_refresh)."""
    seconds = settings.OMO_BROADCAST_MEMBERS_SECONDS
    if seconds <= 0:
        return False
    now = time.monotonic()
    nobody = True
    for stream in {event.stream for event in events}:
        group = stream_group(stream)
        _members_asked[group] = now
        seen = _members_seen.get(layer._group_key(group))
        if seen is None or seen[1] or now - seen[0] >= seconds:
            nobody = False
    return nobody


def _redis_send(
    layer, clients: list, sends: list[tuple[str, dict]], known: dict[str, list[str]] | None = None
) -> None:
    """What `layer.group_send` does for each (group, message), in fewer round trips and
    with blocking calls from the broadcaster's own thread (redis-py's asyncio client
    and an event loop wake-up cost about twice the CPU per round trip): the groups'
    members (_group_members: one script per host, or none when read less than
    OMO_BROADCAST_MEMBERS_SECONDS ago), then one pipeline per host delivers every
    message that has a receiver, in order. An empty group costs nothing more;
    channels_redis spends two round trips on it per message. `known`: each group's
    members, when the caller has read them already."""
    groups = [group for group, _ in sends]
    members = (
        [known[group] for group in groups]
        if known is not None
        else _group_members(layer, clients, groups)
    )
    pipes: dict[int, tuple[Any, list[int]]] = {}  # host: (pipeline, its scripts' places)
    cleaned: set[str] = set()
    now = time.time()
    for (_, message), names in zip(sends, members, strict=True):
        if not names:
            continue
        to_host, key_message, key_capacity = layer._map_channel_keys_to_connection(names, message)
        for host, keys in to_host.items():
            if host not in pipes:
                pipes[host] = (clients[host].pipeline(transaction=False), [])
            pipe, scripts = pipes[host]
            for key in keys:
                if key not in cleaned:  # one process key is in every group it follows
                    cleaned.add(key)
                    pipe.zremrangebyscore(key, min=0, max=int(now) - int(layer.expiry))
            args = [key_message[key] for key in keys] + [key_capacity[key] for key in keys]
            scripts.append(len(pipe))
            pipe.eval(_GROUP_SEND_LUA, len(keys), *keys, *args, now, layer.expiry)
    for pipe, scripts in pipes.values():
        try:
            results = pipe.execute()
        except Exception:
            logger.warning("broadcast: Redis send failed; clients will catch up", exc_info=True)
            continue
        over = sum(results[place] for place in scripts)
        if over:
            logger.info("broadcast: %s channel deliveries over capacity", over)


async def _send_all(layer, events: Iterable[Event]) -> None:
    """One layer message per event: the in-memory layer's path (embedded mode)."""
    for event in events:
        try:
            await layer.group_send(
                stream_group(event.stream),
                {"type": "stream.event", "stream": event.stream, "message": event.as_message()},
            )
        except Exception:  # a full or unreachable layer must not undo a committed change
            logger.warning("broadcast of %s failed; clients will catch up", event, exc_info=True)


async def _send_batch(layer, events: list) -> None:
    """Everything pending for a network layer without a blocking path: one layer message
    per stream (batched when the stream has several events), through group_send."""
    try:
        sends = _layer_messages(events)
        for group, message in sends:
            try:
                await layer.group_send(group, message)
            except Exception:
                logger.warning(
                    "broadcast to %s failed; clients will catch up", group, exc_info=True
                )
    except Exception:  # a full or unreachable layer must not undo a committed change
        logger.warning(
            "broadcast of %d events failed; clients will catch up", len(events), exc_info=True
        )


# A group commits asked about within this many OMO_BROADCAST_MEMBERS_SECONDS is kept
# fresh: a location's stream gets a commit every second or two from one process (20
# locations, a few dozen changes a second), and a reading dropped after one quiet
# interval was stale again at the next commit.
REFRESH_ASKED_WITHIN = 10


class _Broadcaster:
    """One long-lived thread per process that sends committed events to a network
    channel layer (Redis), in the order they were handed over.

    From plain synchronous code (a Celery task, a command, a worker thread) async_to_sync
    starts a new event loop in a new thread on every call, and channels_redis keeps its
    connections per loop: every commit paid a thread start and a fresh Redis connection
    (measured: 2.6 -> 6.1 ms of CPU per stock change). Here the thread, and so the
    connections, live as long as the process; a fork gets its own.

    The classic Redis layer is sent to with blocking redis-py clients from this thread
    (about half the CPU of the asyncio client and an event loop's wake-ups: 0.25 ->
    0.1 ms per stock change); any other network layer through its own group_send on an
    event loop that lives in this thread as long as the process.

    Hand-over is a deque append; the thread is woken (a threading.Event) only when it
    is idle, and then takes everything pending at once, so a producer that commits
    faster than Redis answers is sent in batches.

    While commits keep asking about groups, the thread also reads their members again
    every half OMO_BROADCAST_MEMBERS_SECONDS, in one script call per host, so that a
    commit finds its group's reading fresh (_members_refresh).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._wakeup = threading.Event()
        self._pending: deque[tuple[Any, list]] = deque()
        # True from a wake-up until the thread finds nothing pending: no other wake-up.
        self._busy = False
        # The classic Redis layer last sent to: whose groups' members the thread refreshes,
        # and when next (monotonic).
        self._refreshed_layer = None
        self._refresh_due = 0.0

    def submit(self, layer, events: list[Event]) -> None:
        if is_classic_redis_layer(layer):
            self._refreshed_layer = layer
            if _nobody_follows(layer, events):
                return
        self._running()
        self._pending.append((layer, events))
        if not self._busy:
            self._busy = True
            self._wakeup.set()

    def drain(self, timeout: float = 2.0) -> None:
        """Wait (briefly) until everything handed over was sent: at process exit."""
        if self._thread is None or self._pid != os.getpid():
            return
        deadline = time.monotonic() + timeout
        while (self._busy or self._pending) and time.monotonic() < deadline:
            time.sleep(0.002)

    def _running(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                # A fork's copy of the parent's pending events is the parent's to send.
                self._pending, self._busy = deque(), False
                self._wakeup = threading.Event()
                self._thread = threading.Thread(
                    target=self._run, args=(self._wakeup,), name="omo-broadcast", daemon=True
                )
                self._thread.start()
                self._pid = os.getpid()

    def _take(self) -> list[tuple[Any, list]]:
        """Everything pending, consecutive hand-overs to the same layer merged."""
        runs: list[tuple[Any, list]] = []
        pending = self._pending
        while pending:
            layer, events = pending.popleft()
            if runs and runs[-1][0] is layer:
                runs[-1][1].extend(events)
            else:
                runs.append((layer, list(events)))
        return runs

    def _members_refresh(self, clients_of) -> float | None:
        """Every half OMO_BROADCAST_MEMBERS_SECONDS, read again the members of the groups
        that commits asked about within the last REFRESH_ASKED_WITHIN intervals (but
        those read within the last quarter), in one script call per host, so no reading
        in use gets older than about half the interval; groups nobody asked about for
        that long are forgotten. Returns how long the thread may sleep until the next
        refresh (None: none is needed).

        A process committing a few dozen changes a second spread over 20 location
        streams otherwise found most readings stale: each such commit woke this thread
        for a script call of its own (stock benchmark: 0.15 ms of the process's CPU per
        change with nobody listening). The rule is unchanged: a reading older than the
        interval is never used to skip a commit, and such a commit wakes the thread."""
        seconds = settings.OMO_BROADCAST_MEMBERS_SECONDS
        layer = self._refreshed_layer
        if seconds <= 0 or layer is None or not _members_asked:
            return None
        now = time.monotonic()
        if now < self._refresh_due:
            return self._refresh_due - now
        redis_clients = clients_of(layer)
        if redis_clients is None:
            return None
        wanted = []
        for group, asked_at in dict(_members_asked).items():
            if now - asked_at >= seconds * REFRESH_ASKED_WITHIN:
                # A commit asking again meanwhile may lose its note: it then wakes the
                # thread as before, which reads the group.
                _members_asked.pop(group, None)
                continue
            seen = _members_seen.get(layer._group_key(group))
            if seen is None or now - seen[0] >= seconds / 4:
                wanted.append(group)
        self._refresh_due = now + seconds / 2
        if wanted:
            _group_members(layer, redis_clients, wanted, max_age=seconds / 4)
        return seconds / 2 if _members_asked else None

    def _run(self, wakeup: threading.Event) -> None:
        loop: asyncio.AbstractEventLoop | None = None  # for layers without a blocking path
        clients: dict[str, list | None] = {}  # the layer's hosts: blocking Redis clients

        def clients_of(layer) -> list | None:
            hosts = repr(layer.hosts)
            if hosts not in clients:
                clients[hosts] = _redis_clients_or_none(layer)
            return clients[hosts]

        sleep: float | None = None
        while True:
            wakeup.wait(sleep)
            wakeup.clear()
            try:
                sleep = self._members_refresh(clients_of)
            except Exception:  # Redis unreachable: commits wake the thread as before
                logger.warning("broadcast: refreshing group members failed", exc_info=True)
                sleep = settings.OMO_BROADCAST_MEMBERS_SECONDS or None
            while True:
                runs = self._take()
                if not runs:
                    # Idle from here; a hand-over racing with this sees False and
                    # wakes the thread, or is seen by the check below.
                    self._busy = False
                    if not self._pending:
                        break
                    self._busy = True
                    continue
                for layer, events in runs:
                    if not events:
                        continue
                    if is_classic_redis_layer(layer):
                        redis_clients = clients_of(layer)
                        if redis_clients is not None:
                            _send_blocking(layer, redis_clients, events)
                            continue
                    if loop is None:
                        loop = asyncio.new_event_loop()
                        asyncio.set_event_loop(loop)
                    loop.run_until_complete(_send_batch(layer, events))
                # Not kept while the thread sleeps: an import's last run held 25,000
                # events, and they pinned memory scattered over the whole apply's arenas.
                runs = events = None


def _redis_clients_or_none(layer) -> list | None:
    try:
        return _redis_clients(layer)
    except Exception:
        logger.warning("broadcast: no blocking Redis client; using the layer", exc_info=True)
        return None


def _send_blocking(layer, clients: list, events: list) -> None:
    """The events of streams someone follows, sent; the others' messages are not even
    built (a warehouse without tills, a benchmark)."""
    try:
        group_of = {stream: stream_group(stream) for stream in {e.stream for e in events}}
        groups = list(dict.fromkeys(group_of.values()))
        known = dict(zip(groups, _group_members(layer, clients, groups), strict=True))
        followed = [event for event in events if known[group_of[event.stream]]]
        if followed:
            _redis_send(layer, clients, _layer_messages(followed), known)
    except Exception:  # a full or unreachable layer must not undo a committed change
        logger.warning(
            "broadcast of %d events failed; clients will catch up", len(events), exc_info=True
        )


_broadcaster = _Broadcaster()
atexit.register(_broadcaster.drain)


# The event loop of the ASGI server whose request is being answered, set by the HTTP
# handler (omo_site.handlers) for the request's sync work.
server_loop: ContextVar[asyncio.AbstractEventLoop | None] = ContextVar("server_loop", default=None)


def broadcast(events: Iterable[Event]) -> None:
    """Send committed events to their streams' groups. Best effort: resume covers gaps."""
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        # The in-process layer's queues (embedded mode) belong to the server's event loop
        # and are not thread-safe: a request's thread has the sends run on that loop and
        # waits for them. Other sync code (a command, a task run eagerly, a consumer's
        # database call) has no request loop; async_to_sync runs them there, or on a loop
        # of its own.
        loop = server_loop.get()
        if loop is not None and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(_send_all(layer, list(events)), loop).result()
        else:
            async_to_sync(_send_all)(layer, list(events))
    else:
        _broadcaster.submit(layer, list(events))


# Events per pack (Event.first_seq): small enough that a reader starting in the middle
# of one throws little away, big enough that a row's overhead is spread thin.
PACK_SIZE = 500

# The rows after each stream's position, in `order`, until they hold `limit` events (the
# running sum of each row's event count; a pack is never split, so a page holds up to
# PACK_SIZE - 1 more). The innermost LIMIT bounds the rows read whatever the packs hold
# and keeps the top-N sort of a bitmap scan; the window then runs over those rows only.
_READ_SQL = """
SELECT stream, seq, type, payload, first_seq, size FROM (
    SELECT *, SUM(size) OVER (ORDER BY {order} ROWS UNBOUNDED PRECEDING) AS upto FROM (
        SELECT id, stream, seq, type, payload, first_seq,
            seq - COALESCE(first_seq, seq) + 1 AS size
        FROM core_event WHERE {where} ORDER BY {order} LIMIT %s
    ) head
) page WHERE upto - size < %s ORDER BY {order}
"""


def events_read(
    positions: dict[str, int], *, limit: int, order: Literal["seq", "id"] = "seq"
) -> tuple[list[tuple[str, int, dict]], bool]:
    """(stream, seq, message) of the committed events after each stream's position,
    packs expanded, in `order`: "seq" for one stream, "id" for several (commit order
    within each stream); at least `limit` of them unless fewer are left, and fewer than
    `limit` + PACK_SIZE. And whether more may follow."""
    if order not in ("seq", "id") or (order == "seq" and len(positions) > 1):
        raise ValueError(f"order {order!r} for {len(positions)} streams")
    if not positions:
        return [], False
    where = " OR ".join(["(stream = %s AND seq > %s)"] * len(positions))
    params = [value for item in positions.items() for value in item]
    with connection.cursor() as cursor:
        cursor.execute(_READ_SQL.format(where=where, order=order), [*params, limit, limit])
        rows = cursor.fetchall()
    found, held = [], 0
    for stream, seq, kind, payload, first_seq, size in rows:
        held += size
        found += [
            (stream, number, message)
            for number, message in event_messages(seq, kind, json.loads(payload), first_seq)
            if number > positions[stream]
        ]
    # Fewer rows than the LIMIT, holding fewer events than asked: that was everything.
    return found, len(rows) >= limit or held >= limit


def events_after(*, stream: str, after: int, limit: int = 1000) -> list[Event]:
    """Committed events of a stream after a sequence number, in order; a pack's as
    unsaved Event instances of their own (so up to `limit` + PACK_SIZE - 1 of them)."""
    found, _ = events_read({stream: after}, limit=limit)
    return [
        Event(stream=stream, seq=seq, type=message["type"], payload=_payload_of(message))
        for _, seq, message in found
    ]


def _payload_of(message: dict) -> dict:
    return {key: value for key, value in message.items() if key not in ("type", "seq")}


def stream_last_seq(stream: str) -> int:
    return Stream.objects.filter(name=stream).values_list("last_seq", flat=True).first() or 0


def streams_last_seq(*, names: Iterable[str] = (), prefix: str = "") -> dict[str, int]:
    """name -> last seq of the named streams and of those whose name starts with prefix
    (a stream nothing was ever appended to is absent: its last seq is 0)."""
    wanted = Q(name__in=list(names))
    if prefix:
        wanted |= Q(name__startswith=prefix)
    return dict(Stream.objects.filter(wanted).values_list("name", "last_seq"))
