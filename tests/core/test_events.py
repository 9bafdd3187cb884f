import asyncio
import threading
import time
import uuid

import pytest
import redis
from django.conf import settings
from django.db import transaction

from apps.core.events import (
    PendingEvent,
    _Broadcaster,
    event_append,
    events_after,
    events_append,
    layer_message_bodies,
    stream_group,
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
            thread = threading.current_thread().name
            sent.extend((group, body["seq"], thread) for body in layer_message_bodies(message))

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


@pytest.mark.redis
def test_a_burst_of_commits_reaches_a_redis_layer_subscriber_complete_and_in_order(monkeypatch):
    """Batched hand-over and batched layer messages lose and reorder nothing: two
    subscribed streams get every event in seq order; an unsubscribed one costs no error."""
    from channels_redis.core import RedisChannelLayer

    prefix = f"test-{uuid.uuid4().hex[:8]}"
    layer = RedisChannelLayer(hosts=[settings.REDIS_URL], prefix=prefix, capacity=5000)
    monkeypatch.setattr("apps.core.events.get_channel_layer", lambda: layer)
    subscribed = ["location.BA", "location.BB"]

    async def subscribe() -> str:
        channel = await layer.new_channel()
        for stream in subscribed:
            await layer.group_add(stream_group(stream), channel)
        return channel

    channel = asyncio.run(subscribe())
    per_stream = 150
    for number in range(per_stream):
        with transaction.atomic():
            events_append(
                [
                    PendingEvent(stream=stream, type="stock", payload={"n": number})
                    for stream in [*subscribed, "location.BC"]
                ]
            )

    async def collect() -> tuple[dict[str, list[int]], set[str]]:
        got: dict[str, list[int]] = {stream: [] for stream in subscribed}
        kinds = set()
        while sum(map(len, got.values())) < per_stream * len(subscribed):
            message = await asyncio.wait_for(layer.receive(channel), 10)
            kinds.add(message["type"])
            got[message["stream"]] += [body["seq"] for body in layer_message_bodies(message)]
            assert all(body["n"] == body["seq"] - 1 for body in layer_message_bodies(message))
        return got, kinds

    got, kinds = asyncio.run(collect())
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    assert got == {stream: list(range(1, per_stream + 1)) for stream in subscribed}
    assert kinds <= {"stream.event", "stream.events"}


def test_a_burst_handed_over_at_once_leaves_as_one_message_per_stream():
    sent = []

    class RecordingLayer:
        async def group_send(self, group, message):
            sent.append((group, message["type"], [b["seq"] for b in layer_message_bodies(message)]))

    class HeldLayer:
        async def group_send(self, group, message):
            held.set()
            gate.wait()

    broadcaster = _Broadcaster()
    gate, held = threading.Event(), threading.Event()
    layer = RecordingLayer()
    # Hold the broadcaster's thread in a send while the burst arrives.
    broadcaster.submit(HeldLayer(), [Event(stream="location.Z", seq=1, type="stock")])
    assert held.wait(5)
    for seq in range(1, 6):
        broadcaster.submit(layer, [Event(stream="location.A", seq=seq, type="stock", payload={})])
        broadcaster.submit(layer, [Event(stream="location.B", seq=seq, type="stock", payload={})])
    gate.set()
    broadcaster.drain()
    assert sent == [
        ("stream.location.A", "stream.events", [1, 2, 3, 4, 5]),
        ("stream.location.B", "stream.events", [1, 2, 3, 4, 5]),
    ]


def test_a_forked_process_starts_its_own_thread_without_the_parents_pending_events():
    sent = []

    class RecordingLayer:
        async def group_send(self, group, message):
            sent.extend(body["seq"] for body in layer_message_bodies(message))

    broadcaster = _Broadcaster()
    layer = RecordingLayer()
    broadcaster.submit(layer, [])
    parent_thread = broadcaster._thread
    # As a fork's child sees it: another pid, and the parent's hand-over still pending.
    broadcaster._pid = -1
    broadcaster._pending.append((layer, [Event(stream="location.A", seq=1, type="stock")]))
    broadcaster._busy = True
    broadcaster.submit(layer, [Event(stream="location.A", seq=2, type="stock", payload={})])
    broadcaster.drain()
    assert broadcaster._thread is not parent_thread
    assert sent == [2]


@pytest.mark.redis
def test_group_members_are_read_once_per_interval_and_a_late_joiner_is_reached_after_it(
    monkeypatch, settings
):
    """The broadcaster reuses a group's member list for OMO_BROADCAST_MEMBERS_SECONDS:
    one script call for several sends, every message still reaching the member it knew,
    in order; a channel that joined meanwhile is reached once the interval is over (until
    then its relay's table poll covers it)."""
    from channels_redis.core import RedisChannelLayer

    from apps.core import events

    settings.OMO_BROADCAST_MEMBERS_SECONDS = 0.3
    monkeypatch.setattr(events, "_members_seen", {})
    # Nothing for a broadcaster's thread left by an earlier test to refresh meanwhile.
    monkeypatch.setattr(events, "_members_asked", {})
    reads = []
    real_script = events._members_script

    def counting(client):
        script = real_script(client)

        def call(**kwargs):
            reads.append(kwargs["keys"])
            return script(**kwargs)

        return call

    monkeypatch.setattr(events, "_members_script", counting)
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    layer = RedisChannelLayer(hosts=[settings.REDIS_URL], prefix=prefix)
    # A second process's layer: its channels are read from a Redis key of their own.
    other = RedisChannelLayer(hosts=[settings.REDIS_URL], prefix=prefix)
    clients = events._redis_clients(layer)
    group = stream_group("location.MC")

    def send(n: int) -> None:
        events._redis_send(layer, clients, [(group, {"type": "stream.event", "n": n})])

    async def join(on) -> str:
        channel = await on.new_channel()
        await on.group_add(group, channel)
        return channel

    async def received(on, channel: str, count: int) -> list[int]:
        return [(await asyncio.wait_for(on.receive(channel), 5))["n"] for _ in range(count)]

    async def nothing_waiting(on, channel: str) -> bool:
        real = on.non_local_name(channel)
        return await on.connection(on.consistent_hash(real)).zcard(on.prefix + real) == 0

    try:
        first = asyncio.run(join(layer))
        send(1)
        late = asyncio.run(join(other))
        send(2)
        assert len(reads) == 1
        assert asyncio.run(nothing_waiting(other, late))
        time.sleep(0.35)
        send(3)
        assert len(reads) == 2
        assert asyncio.run(received(layer, first, 3)) == [1, 2, 3]
        assert asyncio.run(received(other, late, 1)) == [3]
    finally:
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


@pytest.mark.redis
def test_events_of_streams_nobody_follows_are_neither_built_nor_handed_to_the_thread(
    monkeypatch, settings
):
    """With a group read empty within OMO_BROADCAST_MEMBERS_SECONDS, a commit's events
    stay with the committing thread (no wake-up, nothing pending); once the reading is
    stale they go to the thread again. In a send mixing a followed and an unfollowed
    stream, only the followed stream's messages are built, and they arrive in order."""
    from channels_redis.core import RedisChannelLayer

    from apps.core import events

    settings.OMO_BROADCAST_MEMBERS_SECONDS = 0.3
    monkeypatch.setattr(events, "_members_seen", {})
    monkeypatch.setattr(events, "_members_asked", {})
    built = []
    real_message = Event.as_message
    monkeypatch.setattr(
        Event, "as_message", lambda event: built.append(event.stream) or real_message(event)
    )
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    layer = RedisChannelLayer(hosts=[settings.REDIS_URL], prefix=prefix)
    clients = events._redis_clients(layer)

    def stock(stream: str, seq: int) -> Event:
        return Event(stream=stream, seq=seq, type="stock", payload={"seq": seq})

    try:
        channel = asyncio.run(layer.new_channel())
        asyncio.run(layer.group_add(stream_group("location.F"), channel))
        events._send_blocking(layer, clients, [stock("location.E", 1), stock("location.F", 1)])
        assert built == ["location.F"]
        message = asyncio.run(asyncio.wait_for(layer.receive(channel), 5))
        assert layer_message_bodies(message)[0]["seq"] == 1

        # location.E was just read empty: its next commit is not handed over at all.
        idle = _Broadcaster()
        idle.submit(layer, [stock("location.E", 2)])
        assert idle._thread is None and not idle._pending
        # A followed stream in the commit: all of it goes to the thread, F's arrives.
        mixed = _Broadcaster()
        mixed.submit(layer, [stock("location.E", 3), stock("location.F", 2)])
        mixed.drain()
        message = asyncio.run(asyncio.wait_for(layer.receive(channel), 5))
        assert [body["seq"] for body in layer_message_bodies(message)] == [2]
        assert built == ["location.F", "location.F"]
        # The empty reading is stale: the thread is woken and reads the group again.
        # (No commit asks about the group any more, so no thread keeps it fresh.)
        events._members_asked.clear()
        time.sleep(0.4)
        stale = _Broadcaster()
        stale.submit(layer, [stock("location.E", 4)])
        assert stale._thread is not None
        stale.drain()
        assert built == ["location.F", "location.F"]
    finally:
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


@pytest.mark.redis
def test_a_group_commits_keep_asking_about_is_read_again_before_its_reading_goes_stale(
    monkeypatch, settings
):
    """While commits keep coming on an unfollowed stream, the broadcaster's thread reads
    the group again every half interval, so no commit finds the reading stale and none
    is handed to the thread; a channel that joins is seen by the next reading and the
    following commits reach it, in order. Once commits stop for REFRESH_ASKED_WITHIN
    intervals, the group is forgotten."""
    from channels_redis.core import RedisChannelLayer

    from apps.core import events

    settings.OMO_BROADCAST_MEMBERS_SECONDS = 0.6
    monkeypatch.setattr(events, "REFRESH_ASKED_WITHIN", 2)
    monkeypatch.setattr(events, "_members_seen", {})
    monkeypatch.setattr(events, "_members_asked", {})
    sent = []
    real_send = events._send_blocking
    monkeypatch.setattr(
        events,
        "_send_blocking",
        lambda layer, clients, batch: (
            sent.append([e.seq for e in batch]) or real_send(layer, clients, batch)
        ),
    )
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    layer = RedisChannelLayer(hosts=[settings.REDIS_URL], prefix=prefix)
    group = stream_group("location.R")

    def stock(seq: int) -> Event:
        return Event(stream="location.R", seq=seq, type="stock", payload={"seq": seq})

    broadcaster = _Broadcaster()
    try:
        broadcaster.submit(layer, [stock(1)])  # no reading yet: the thread reads the group
        broadcaster.drain()
        assert sent == [[1]]
        for seq in range(2, 20):  # 1.8 s: three intervals
            time.sleep(0.1)
            broadcaster.submit(layer, [stock(seq)])
        broadcaster.drain()
        assert sent == [[1]]  # every commit found a fresh, empty reading

        channel = asyncio.run(layer.new_channel())
        asyncio.run(layer.group_add(group, channel))
        for seq in range(20, 30):  # the next reading (within 0.3 s) sees the channel
            time.sleep(0.1)
            broadcaster.submit(layer, [stock(seq)])
        broadcaster.drain()
        assert len(sent) >= 2
        reached = [seq for batch in sent[1:] for seq in batch]
        assert reached == list(range(reached[0], 30)) and reached[0] <= 27

        async def received() -> list[int]:
            out = []
            while len(out) < len(reached):
                message = await asyncio.wait_for(layer.receive(channel), 5)
                out += [body["seq"] for body in layer_message_bodies(message)]
            return out

        assert asyncio.run(received()) == reached
        time.sleep(2.0)  # no commits for REFRESH_ASKED_WITHIN intervals and more: forgotten
        assert group not in events._members_asked
    finally:
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
