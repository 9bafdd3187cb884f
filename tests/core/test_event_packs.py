"""Event packs (Event.first_seq): one row holding a run of a stream's events, as the bulk
stock ledger writes them. Every reader sees the events one by one, as if each had its
own row: the catch-up read, the websocket replay and history check, the relay's poll."""

import json

import pytest

from apps.core import relay
from apps.core.consumers import _history_check, _replay_page
from apps.core.events import events_after, events_read
from apps.core.models import Event, Stream, event_pack_json
from apps.core.relay import _events_since

pytestmark = pytest.mark.django_db

KEYS = ["sku", "on_hand"]


def _single(stream: str, seq: int, sku: str) -> Event:
    return Event(stream=stream, seq=seq, type="stock", payload={"location": "A", "sku": sku})


def _pack(stream: str, first: int, skus: list[str]) -> Event:
    rows = [[sku, number] for number, sku in enumerate(skus, first)]
    payload = json.loads(event_pack_json({"location": "A"}, KEYS, rows))
    return Event(
        stream=stream, seq=first + len(skus) - 1, first_seq=first, type="stock", payload=payload
    )


def _expected(seq: int, sku: str, *, packed: bool = True) -> dict:
    message = {"type": "stock", "seq": seq, "location": "A", "sku": sku}
    return {**message, "on_hand": seq} if packed else message


@pytest.fixture
def stream_a():
    """location.A: 1 alone, 2..6 a pack, 7 alone, 8..9 a pack."""
    Event.objects.bulk_create(
        [
            _single("location.A", 1, "s1"),
            _pack("location.A", 2, ["p2", "p3", "p4", "p5", "p6"]),
            _single("location.A", 7, "s7"),
            _pack("location.A", 8, ["p8", "p9"]),
        ]
    )
    Stream.objects.create(name="location.A", last_seq=9)
    return "location.A"


def test_a_pack_expands_to_its_events_in_order():
    assert _pack("s", 4, ["x", "y"]).messages() == [
        (4, _expected(4, "x")),
        (5, _expected(5, "y")),
    ]
    assert _single("s", 3, "z").messages() == [(3, _expected(3, "z", packed=False))]


def test_events_after_reads_packs_as_single_events_from_any_position(stream_a):
    everything = events_after(stream=stream_a, after=0)
    assert [e.seq for e in everything] == list(range(1, 10))
    assert [e.payload["sku"] for e in everything] == [
        "s1", "p2", "p3", "p4", "p5", "p6", "s7", "p8", "p9"
    ]  # fmt: skip
    assert {e.type for e in everything} == {"stock"}
    # From inside a pack: the rest of it, nothing before.
    assert [e.seq for e in events_after(stream=stream_a, after=3)] == [4, 5, 6, 7, 8, 9]
    assert events_after(stream=stream_a, after=4)[0].payload == {
        "location": "A",
        "sku": "p5",
        "on_hand": 5,
    }
    assert events_after(stream=stream_a, after=9) == []


def test_a_read_stops_near_its_limit_without_splitting_a_pack(stream_a):
    found, more = events_read({stream_a: 0}, limit=3)
    # 1 (one event) then the pack 2..6, which starts before the limit: all of it.
    assert [seq for _, seq, _ in found] == [1, 2, 3, 4, 5, 6] and more
    found, more = events_read({stream_a: 6}, limit=3)
    assert [seq for _, seq, _ in found] == [7, 8, 9]
    found, more = events_read({stream_a: 9}, limit=3)
    assert found == [] and not more
    # A read from inside a pack counts the events it skips: 4 is where it starts.
    found, more = events_read({stream_a: 3}, limit=2)
    assert [seq for _, seq, _ in found] == [4, 5, 6] and more
    found, more = events_read({stream_a: 0}, limit=100)
    assert len(found) == 9 and not more


def test_the_websocket_replay_sends_a_packs_events_one_by_one(stream_a):
    page = _replay_page(stream_a, 3)
    assert [seq for seq, _ in page] == [4, 5, 6, 7, 8, 9]
    assert json.loads(page[0][1].text) == _expected(4, "p4")
    assert json.loads(page[3][1].text) == _expected(7, "s7", packed=False)


def test_history_is_complete_while_the_row_holding_the_next_event_is_kept(stream_a):
    assert _history_check(stream_a, 0) == (9, True)
    Event.objects.filter(stream=stream_a, seq=1).delete()  # pruned: 1 is gone
    assert _history_check(stream_a, 0) == (9, False)
    assert _history_check(stream_a, 1) == (9, True)
    assert _history_check(stream_a, 4) == (9, True)  # 5 is inside the kept pack 2..6
    Event.objects.filter(stream=stream_a, seq=6).delete()  # the pack 2..6 pruned
    assert _history_check(stream_a, 4) == (9, False)
    assert _history_check(stream_a, 6) == (9, True)
    assert _history_check(stream_a, 9) == (9, True)


def test_the_relay_poll_reads_packs_of_several_streams_in_commit_order(stream_a):
    Event.objects.bulk_create(
        [_pack("location.B", 1, ["b1", "b2"]), _single("location.B", 3, "b3")]
    )
    found, more = _events_since({stream_a: 5, "location.B": 1})
    assert [(stream, seq) for stream, seq, _ in found] == [
        ("location.A", 6),
        ("location.A", 7),
        ("location.A", 8),
        ("location.A", 9),
        ("location.B", 2),
        ("location.B", 3),
    ]
    assert not more
    assert json.loads(found[4][2].text) == {
        "type": "stock", "seq": 2, "location": "A", "sku": "b2", "on_hand": 2
    }  # fmt: skip


def test_the_relay_poll_pages_through_interleaved_streams_without_a_gap(monkeypatch):
    """Rows of two streams committed in turn (ids interleave), polled a few events at a
    time as the relay does, each stream's position moving to the last event it got."""
    Event.objects.bulk_create(
        [
            _single("location.A", 1, "a1"),
            _pack("location.B", 1, ["b1", "b2", "b3"]),
            _pack("location.A", 2, ["a2", "a3", "a4"]),
            _single("location.B", 4, "b4"),
            _single("location.A", 5, "a5"),
            _pack("location.B", 5, ["b5", "b6"]),
        ]
    )
    monkeypatch.setattr(relay, "POLL_BATCH", 2)
    positions = {"location.A": 0, "location.B": 0}
    got: dict[str, list[int]] = {"location.A": [], "location.B": []}
    pages = 0
    more = True
    while more:
        found, more = _events_since(positions)
        pages += 1
        for stream, seq, _ in found:
            got[stream].append(seq)
            positions[stream] = seq
    assert got == {"location.A": [1, 2, 3, 4, 5], "location.B": [1, 2, 3, 4, 5, 6]}
    assert pages > 2  # it did page, and the last page said nothing more
    found, more = _events_since({"location.A": 0, "location.B": 0})
    # The first page: a1, then the pack b1..b3 whole (it starts before the limit).
    assert [(stream[-1], seq) for stream, seq, _ in found] == [
        ("A", 1), ("B", 1), ("B", 2), ("B", 3)
    ]  # fmt: skip
    assert more
