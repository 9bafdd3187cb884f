"""location_delete: a location that stock or its ledger names is never deleted (Django's
PROTECT check: StockLevel.location has no foreign key constraint), not even by a
deletion racing the creation of its first level."""

import threading
import time

import pytest
from django.db import connection, transaction
from django.db.models import ProtectedError

from apps.core.errors import NotFound
from apps.inventory.ledger import Actor, Reason, StockChange, stock_apply
from apps.inventory.models import Movement, StockLevel
from apps.inventory.services import stock_receive
from apps.stores.models import Location
from apps.stores.services import location_delete
from tests.factories import LocationFactory, VariantFactory
from tests.inventory.test_concurrency import join_all, start_thread, wait_for


def _ledger():
    return (
        list(StockLevel.objects.order_by("id").values_list("id", "location_id", "on_hand")),
        list(Movement.objects.order_by("id").values_list("id", "location_id", "delta_on_hand")),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("delete", ["service", "orm"])
def test_location_with_stock_is_not_deleted_and_nothing_changes(store_a, store_b, delete):
    tee = VariantFactory(sku="TEE-M")
    stock_receive(location=store_a, variant=tee, quantity=5, actor=None)
    stock_receive(location=store_b, variant=tee, quantity=2, actor=None)
    before = _ledger()
    with pytest.raises(ProtectedError) as refused:
        if delete == "service":
            location_delete(location=store_a)
        else:
            store_a.delete()
    assert {type(row) for row in refused.value.protected_objects} >= {StockLevel, Movement}
    assert Location.objects.filter(pk=store_a.pk).exists()
    assert _ledger() == before


@pytest.mark.django_db
def test_location_nothing_names_is_deleted(store_a):
    location_delete(location=store_a)
    assert not Location.objects.filter(code="SA1").exists()


def _backend_pid() -> int:
    """This thread's PostgreSQL backend."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _waiting_for_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


def _until_waiting_for_a_lock(pids: list, failure: str) -> None:
    """Until the backend whose pid the other thread put in `pids` waits for a lock."""
    for _ in range(200):
        if pids and _waiting_for_a_lock(pids[0]):
            return
        time.sleep(0.05)
    raise AssertionError(failure)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_deletion_racing_the_first_level_waits_for_it_and_is_refused():
    # No foreign key constraint holds the level to its location: the writer's FOR KEY
    # SHARE lock and location_delete's FOR UPDATE are what keep a level from being
    # committed at a location deleted meanwhile.
    location = LocationFactory(code="RACE")
    variant = VariantFactory(sku="RACE-1")
    level_written, commit_now, deleter_pid = threading.Event(), threading.Event(), []
    errors: list = []

    def writer():
        with transaction.atomic():
            stock_apply(
                changes=[StockChange(variant.pk, location.pk, Reason.RECEIPT, on_hand=3)],
                actor=Actor(),
            )
            level_written.set()
            wait_for(commit_now, "the deleter to wait")

    def deleter():
        deleter_pid.append(_backend_pid())
        with pytest.raises(ProtectedError):
            location_delete(location=Location.objects.get(pk=location.pk))

    threads = [start_thread(writer, errors)]
    wait_for(level_written, "the writer's level")
    threads.append(start_thread(deleter, errors))
    # Until the deleter waits for the writer's lock on the location.
    _until_waiting_for_a_lock(deleter_pid, "the deleter never waited for the writer")
    commit_now.set()
    join_all(threads, errors)
    assert Location.objects.filter(pk=location.pk).exists()
    assert list(StockLevel.objects.values_list("location_id", "on_hand")) == [(location.pk, 3)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_level_racing_the_deletion_waits_for_it_and_is_refused():
    location = LocationFactory(code="RACE")
    variant = VariantFactory(sku="RACE-1")
    deleted, commit_now, writer_pid = threading.Event(), threading.Event(), []
    errors: list = []

    def deleter():
        with transaction.atomic():
            location_delete(location=Location.objects.get(pk=location.pk))
            deleted.set()
            wait_for(commit_now, "the writer to wait")

    def writer():
        writer_pid.append(_backend_pid())
        with pytest.raises(NotFound) as refused, transaction.atomic():
            stock_apply(
                changes=[StockChange(variant.pk, location.pk, Reason.RECEIPT, on_hand=3)],
                actor=Actor(),
            )
        assert str(refused.value) == (
            f"No location with id {location.pk}: no stock can be kept there."
        )

    threads = [start_thread(deleter, errors)]
    wait_for(deleted, "the deletion")
    threads.append(start_thread(writer, errors))
    # Until the writer waits for the deleter's lock on the location.
    _until_waiting_for_a_lock(writer_pid, "the writer never waited for the deletion")
    commit_now.set()
    join_all(threads, errors)
    assert not Location.objects.filter(pk=location.pk).exists()
    assert StockLevel.objects.count() == Movement.objects.count() == 0
