import threading

import pytest
from django.db import transaction

from apps.core.events import (
    PendingEvent,
    _Broadcaster,
    event_append,
    events_after,
    events_append,
    stream_last_seq,
)
from apps.core.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


def test_sequence_numbers_are_per_stream_and_contiguous():
    with transaction.atomic():
        events_append([PendingEvent("location.A", "stock", {"n": i}) for i in range(3)])
        event_append(stream="location.B", type="stock", payload={})
    with transaction.atomic():
        event_append(stream="location.A", type="pickup", payload={"number": "A-1"})
    assert [e.seq for e in events_after(stream="location.A", after=0)] == [1, 2, 3, 4]
    assert [e.seq for e in events_after(stream="location.B", after=0)] == [1]
    assert [e.payload for e in events_after(stream="location.A", after=2)] == [
        {"n": 2},
        {"number": "A-1"},
    ]
    assert stream_last_seq("location.A") == 4
    assert stream_last_seq("unknown") == 0


def test_a_rolled_back_change_leaves_no_event_and_no_number():
    with pytest.raises(RuntimeError), transaction.atomic():
        event_append(stream="location.A", type="stock", payload={})
        raise RuntimeError("the change failed")
    assert Event.objects.count() == 0
    assert stream_last_seq("location.A") == 0


def test_append_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError):
        event_append(stream="location.A", type="stock", payload={})


def test_broadcast_happens_only_after_commit(monkeypatch):
    sent = []
    monkeypatch.setattr("apps.core.events.broadcast", lambda events: sent.extend(events))
    with transaction.atomic():
        event_append(stream="location.A", type="stock", payload={"sku": "X"})
        assert sent == []
    assert [e.payload for e in sent] == [{"sku": "X"}]


def test_network_layer_broadcasts_leave_in_order_from_one_long_lived_loop():
    sent = []

    class RecordingLayer:
        async def group_send(self, group, message):
            sent.append((group, message["message"]["seq"], threading.current_thread().name))

    broadcaster = _Broadcaster()
    events = [Event(stream="location.A", seq=seq, type="stock", payload={}) for seq in (1, 2, 3)]
    broadcaster.submit(RecordingLayer(), events[:2])
    broadcaster.submit(RecordingLayer(), events[2:])
    broadcaster.drain()
    assert [(group, seq) for group, seq, _ in sent] == [
        ("stream.location.A", 1),
        ("stream.location.A", 2),
        ("stream.location.A", 3),
    ]
    assert {thread for _, _, thread in sent} == {"omo-broadcast"}
