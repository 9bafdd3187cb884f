"""Who is connected to /ws/pos/ right now, across every ASGI process.

Each open websocket is one entry (client id + a random connection id) with an expiry.
The process that holds the connection adds it on connect, removes it on disconnect and
refreshes all of its entries every `HEARTBEAT_SECONDS` (apps.core.relay does this in one
batch per process), so an entry of a process that died vanishes after `TTL_SECONDS`.

Where the entries live follows the runtime mode (ARCHITECTURE, Runtime modes):
- REDIS_URL set: one sorted set in Redis, member "<client_id>:<connection_id>", score the
  expiry time; every web process of every machine shares it.
- embedded mode: one empty file per connection under VAR_DIR/presence, its mtime the last
  refresh; the embedded mode runs on one machine, and a file needs no migration or
  server (the web process and any management command see the same folder).
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import redis
from django.conf import settings

TTL_SECONDS = 60
HEARTBEAT_SECONDS = 15
REDIS_KEY = "omo:presence"


def new_connection_id() -> str:
    return uuid.uuid4().hex


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def _folder() -> Path:
    folder = Path(settings.VAR_DIR) / "presence"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def presence_refresh(entries: Iterable[tuple[int, str]]) -> None:
    """Mark these (client_id, connection_id) connections as alive for TTL_SECONDS more."""
    entries = list(entries)
    if not entries:
        return
    if settings.REDIS_URL:
        expires = time.time() + TTL_SECONDS
        _redis().zadd(REDIS_KEY, {f"{client}:{conn}": expires for client, conn in entries})
        return
    folder = _folder()
    for client, conn in entries:
        path = folder / f"{client}-{conn}"
        path.touch()  # creates it, or moves its mtime to now


def presence_enter(*, client_id: int, connection_id: str) -> None:
    presence_refresh([(client_id, connection_id)])


def presence_leave(*, client_id: int, connection_id: str) -> None:
    if settings.REDIS_URL:
        _redis().zrem(REDIS_KEY, f"{client_id}:{connection_id}")
        return
    (_folder() / f"{client_id}-{connection_id}").unlink(missing_ok=True)


def connected_counts() -> dict[int, int]:
    """Open connections per API client id, across processes (expired entries dropped)."""
    now = time.time()
    counts: Counter[int] = Counter()
    if settings.REDIS_URL:
        client = _redis()
        client.zremrangebyscore(REDIS_KEY, "-inf", now)
        for member in client.zrangebyscore(REDIS_KEY, now, "+inf"):
            counts[int(member.split(b":", 1)[0])] += 1
        return dict(counts)
    for entry in os.scandir(_folder()):
        client, _, _conn = entry.name.partition("-")
        try:
            fresh = entry.stat().st_mtime >= now - TTL_SECONDS
        except FileNotFoundError:  # left between scandir and stat
            continue
        if not fresh:
            Path(entry.path).unlink(missing_ok=True)
        elif client.isdigit():
            counts[int(client)] += 1
    return dict(counts)


def connected_client_ids() -> set[int]:
    """Ids of the API clients with at least one open /ws/pos/ connection now."""
    return set(connected_counts())
