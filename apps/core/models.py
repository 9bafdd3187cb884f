"""Event streams: what other screens and POS clients must see, written with the change.

A change that must reach others appends an Event to a named stream in the same
transaction (ARCHITECTURE rule 4). Sequence numbers are per stream and follow commit
order: `event_append` takes them from the Stream row with an atomic UPDATE, whose row
lock is held until commit, so a transaction that got number N commits before any
transaction can get N+1. A reader that has seen N therefore never later finds a
committed event below N that it missed, which a plain autoincrement id does not give.
"""

import json
from collections.abc import Iterable, Sequence

from django.db import models


class Stream(models.Model):
    """One row per stream: its name and the last sequence number handed out."""

    name = models.CharField(max_length=100, primary_key=True)
    last_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}@{self.last_seq}"


class Event(models.Model):
    stream = models.CharField(max_length=100)
    seq = models.BigIntegerField()
    type = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    # Read only by events_prune (created_at < cutoff, the oldest slice): on PostgreSQL a
    # BRIN index (migration 0004), a few pages for the whole append-only table, where a
    # btree was one more entry per event written (300,000 in a first catalog import).
    created_at = models.DateTimeField(auto_now_add=True)
    # Set on a pack: one row holding the events first_seq..seq of its stream, all of one
    # type, written by a bulk change (an import's 283,000 stock events are 600 rows: a row
    # per event cost PostgreSQL more than the ledger's own rows). Its payload is
    # {"common": {...}, "keys": [...], "rows": [[...], ...]}: event first_seq + i is
    # common's fields and then keys zipped with rows[i]. Read through `event_messages`.
    first_seq = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "seq"], name="event_stream_seq_unique"),
        ]

    def __str__(self) -> str:
        if self.first_seq is not None:
            return f"{self.stream}#{self.first_seq}..{self.seq} {self.type}"
        return f"{self.stream}#{self.seq} {self.type}"

    def as_message(self) -> dict:
        """The message of a single event, as written (broadcast reads it, also of objects
        that only look like an Event); a pack's are `messages()`."""
        return {"type": self.type, "seq": self.seq, **self.payload}

    def messages(self) -> list[tuple[int, dict]]:
        return event_messages(self.seq, self.type, self.payload, self.first_seq)


def event_pack_json(common: dict, keys: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A pack's payload as JSON text (what `event_messages` reads back)."""
    return json.dumps({"common": common, "keys": list(keys), "rows": list(rows)})


def event_messages(
    seq: int, kind: str, payload: dict, first_seq: int | None = None
) -> list[tuple[int, dict]]:
    """(seq, message) of every event one Event row holds: itself, or a pack's."""
    if first_seq is None:
        return [(seq, {"type": kind, "seq": seq, **payload})]
    common, keys = payload["common"], payload["keys"]
    return [
        (number, {"type": kind, "seq": number, **common, **dict(zip(keys, values, strict=True))})
        for number, values in enumerate(payload["rows"], first_seq)
    ]


class IdempotencyRecord(models.Model):
    """The first successful response to a client's creating POST, kept so that a replay
    of the same `client_id` gets it again (shared/pos-api.md, Conventions).

    Written in the same transaction as what the request created: the unique constraint
    makes exactly one of several concurrent replays win (apps.core.idempotency)."""

    client = models.ForeignKey("accounts.ApiClient", on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=60)
    key = models.UUIDField()
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    # The JSON text exactly as first sent: jsonb would reorder the keys of a replay.
    response_body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "scope", "key"], name="idempotency_record_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key} -> {self.response_status}"
