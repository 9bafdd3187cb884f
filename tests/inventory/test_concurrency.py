"""Concurrency on PostgreSQL with real threads: no lost update, no deadlock, no oversell
where it is forbidden, and stream sequence numbers that follow commit order.

Each thread uses its own database connection and closes it."""

import random
import threading
from collections import defaultdict

import pytest
from django.db import connection, transaction

from apps.core.errors import InsufficientStock
from apps.core.events import events_after, location_stream
from apps.core.models import Event
from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from apps.inventory.models import Discrepancy, Movement, StockLevel
from apps.inventory.services import SellLine, stock_receive, stock_reserve, stock_sell
from tests.factories import LocationFactory, VariantFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

JOIN_TIMEOUT = 20


def run_threads(target, count):
    """Run target(index) in `count` threads started together; return results/errors."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index):
        try:
            barrier.wait(timeout=10)
            results[index] = ("ok", target(index))
        except Exception as error:  # recorded for the assertions
            results[index] = ("error", error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive(), "a worker is stuck (deadlock?)"
    return results


def start_thread(target, errors: list) -> threading.Thread:
    """Start target() in a thread with its own connection. What it raises (a failed
    check included) is appended to `errors` for the main thread to assert on: an
    exception left in a thread would only be a pytest warning."""

    def worker():
        try:
            target()
        except BaseException as error:  # recorded for the main thread's assertions
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    return thread


def join_all(threads, errors: list) -> None:
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive(), "a worker is stuck (deadlock?)"
    assert errors == []


def wait_for(event: threading.Event, what: str) -> None:
    if not event.wait(10):
        raise AssertionError(f"timed out waiting for {what}")


def ledger_matches_balances():
    for level in StockLevel.objects.all():
        rows = Movement.objects.filter(level=level)
        assert level.on_hand == sum(r.delta_on_hand for r in rows), level
        assert level.reserved == sum(r.delta_reserved for r in rows), level


@pytest.fixture
def store(db):
    return LocationFactory(code="SC1")


def test_two_tills_sell_the_last_unit(store):
    tee = VariantFactory(sku="TEE-LAST")
    stock_receive(location=store, variant=tee, quantity=1, actor=None)

    def sell(index):
        return stock_sell(
            location=store,
            lines=[SellLine(tee, 1)],
            actor=None,
            reference_type="sale",
            reference_id=f"T{index}",
        )

    results = run_threads(sell, 2)
    assert [status for status, _ in results] == ["ok", "ok"]
    level = StockLevel.objects.get()
    assert (level.on_hand, level.reserved) == (-1, 0)
    assert Discrepancy.objects.count() == 1
    assert Discrepancy.objects.get().quantity_short == 1
    ledger_matches_balances()
    assert [e.seq for e in events_after(stream=location_stream("SC1"), after=0)] == [1, 2, 3]


def test_two_online_reservations_race_for_the_last_unit(store):
    tee = VariantFactory(sku="TEE-RES")
    stock_receive(location=store, variant=tee, quantity=1, actor=None)

    def reserve(index):
        return stock_reserve(
            location=store,
            lines=[(tee, 1)],
            actor=None,
            reference_type="order",
            reference_id=f"W{index}",
        )

    results = run_threads(reserve, 2)
    statuses = sorted(status for status, _ in results)
    assert statuses == ["error", "ok"]
    error = next(value for status, value in results if status == "error")
    assert isinstance(error, InsufficientStock)
    assert error.extra["lines"] == [{"sku": "TEE-RES", "requested": 1, "available": 0}]
    level = StockLevel.objects.get()
    assert (level.on_hand, level.reserved, level.available) == (1, 1, 0)
    ledger_matches_balances()


def test_sixteen_threads_of_mixed_multi_line_changes(store):
    variants = [VariantFactory(sku=f"MIX-{i}") for i in range(5)]
    other = LocationFactory(code="SC2")
    for variant in variants:
        stock_receive(location=store, variant=variant, quantity=100, actor=None)
        stock_receive(location=other, variant=variant, quantity=100, actor=None)
    expected: dict[tuple[int, int], int] = defaultdict(int)
    for variant in variants:
        expected[(store.pk, variant.pk)] = expected[(other.pk, variant.pk)] = 100
    lock = threading.Lock()

    def work(index):
        rng = random.Random(index)
        applied, step = 0, 0
        while applied < 50:  # 50 stock changes per thread, in multi-line transactions
            step += 1
            picked = rng.sample(variants, rng.randint(1, 4))  # random order on purpose
            location = rng.choice([store, other])
            changes = [
                StockChange(
                    v.pk,
                    location.pk,
                    Reason.SALE if (delta := rng.choice([-2, -1, 1, 3])) < 0 else Reason.RECEIPT,
                    on_hand=delta,
                )
                for v in picked
            ]
            if rng.random() < 0.3:  # and some span both locations
                v = rng.choice(variants)
                far = other if location == store else store
                changes.append(StockChange(v.pk, far.pk, Reason.SALE, on_hand=-1))
            with transaction.atomic():
                stock_apply(
                    changes=changes,
                    actor=Actor(),
                    reference_type="mix",
                    reference_id=f"{index}-{step}",
                    allow_short=True,
                )
            applied += len(changes)
            with lock:
                for change in changes:
                    expected[(change.location_id, change.variant_id)] += change.on_hand
        return True

    results = run_threads(work, 16)
    assert all(status == "ok" for status, _ in results), results
    for level in StockLevel.objects.all():
        assert level.on_hand == expected[(level.location_id, level.variant_id)]
    ledger_matches_balances()
    # Every change is on its location's stream, numbered without gaps or repeats.
    for code in ("SC1", "SC2"):
        seqs = [e.seq for e in events_after(stream=location_stream(code), after=0, limit=10_000)]
        assert seqs == list(range(1, len(seqs) + 1))


def test_import_batch_and_sales_on_the_same_rows(store):
    variants = [VariantFactory(sku=f"IMP-{i:02d}") for i in range(30)]
    for variant in variants:
        stock_receive(location=store, variant=variant, quantity=10, actor=None)

    def work(index):
        if index == 0:  # the import: one big multi-line batch, in reverse order
            for round_ in range(3):
                with transaction.atomic():
                    stock_apply(
                        changes=[
                            StockChange(v.pk, store.pk, Reason.IMPORT, on_hand=5)
                            for v in reversed(variants)
                        ],
                        actor=Actor(),
                        reference_type="import",
                        reference_id=str(round_),
                    )
            return "import"
        rng = random.Random(index)
        for step in range(10):
            stock_sell(
                location=store,
                lines=[SellLine(v, 1) for v in rng.sample(variants, 3)],
                actor=None,
                reference_type="sale",
                reference_id=f"{index}-{step}",
            )
        return "sales"

    results = run_threads(work, 5)
    assert all(status == "ok" for status, _ in results), results
    total = sum(StockLevel.objects.values_list("on_hand", flat=True))
    assert total == 30 * 10 + 3 * 30 * 5 - 4 * 10 * 3
    ledger_matches_balances()


def test_stream_numbers_follow_commit_order_and_an_autoincrement_would_not(store):
    """T1 takes number N and holds its transaction open; T2 (another SKU, so no level
    lock in common) must wait for T1 instead of committing N+1 first, so a reader that
    has seen N+1 can never later find N. The same two transactions numbered by an
    autoincrement id commit out of order, and the reader misses T1's row."""
    first, second = VariantFactory(sku="ORD-1"), VariantFactory(sku="ORD-2")
    stock_receive(location=store, variant=first, quantity=1, actor=None)
    stream = location_stream("SC1")
    seen = 1
    appended, release, t2_done = threading.Event(), threading.Event(), threading.Event()
    errors: list = []

    def t1():
        with transaction.atomic():
            stock_receive(location=store, variant=first, quantity=1, actor=None)
            appended.set()
            wait_for(release, "the main thread to release T1")

    def t2():
        wait_for(appended, "T1 to take its number")
        stock_receive(location=store, variant=second, quantity=1, actor=None)
        t2_done.set()

    threads = [start_thread(t1, errors), start_thread(t2, errors)]
    assert appended.wait(10)
    # T2 is blocked on the stream row while T1 is open: nothing after 1 is visible.
    assert not t2_done.wait(1.0)
    assert events_after(stream=stream, after=seen) == []
    release.set()
    join_all(threads, errors)
    events = events_after(stream=stream, after=seen)
    assert [(e.seq, e.payload["sku"]) for e in events] == [(2, "ORD-1"), (3, "ORD-2")]

    # The counter-example: number by autoincrement id (Event.id), commit out of order.
    t1_inserted, t2_committed, reader_looked = (
        threading.Event(),
        threading.Event(),
        threading.Event(),
    )
    ids = {}

    def early_but_slow():
        with transaction.atomic():
            ids["t1"] = Event.objects.create(stream="plain", seq=1, type="x").pk
            t1_inserted.set()
            wait_for(t2_committed, "T2 to commit")
            # Commit only after the reader has looked, or the race decides the test.
            wait_for(reader_looked, "the reader to look")

    def late_but_fast():
        wait_for(t1_inserted, "T1 to insert")
        ids["t2"] = Event.objects.create(stream="plain", seq=2, type="x").pk
        t2_committed.set()

    slow = start_thread(early_but_slow, errors)
    fast = start_thread(late_but_fast, errors)
    assert t2_committed.wait(10)
    # A reader polling "id > last seen" now sees only T2's row and remembers its id...
    visible = list(Event.objects.filter(stream="plain").values_list("pk", flat=True))
    reader_looked.set()
    assert visible == [ids["t2"]]
    last_seen = max(visible)
    join_all([slow, fast], errors)
    # ...and after T1 commits, its row is below that id: the next poll misses it for good.
    assert ids["t1"] < ids["t2"]
    assert list(Event.objects.filter(stream="plain", pk__gt=last_seen)) == []
    assert Event.objects.filter(stream="plain").count() == 2
