"""A cursor or high-water mark never skips a change committed after it was issued, even
when that change took its number before the read (real transactions on PostgreSQL)."""

import threading

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from apps.catalog.services import catalog_changes_record
from apps.inventory.ledger import Actor, StockChange, stock_apply
from tests.api.conftest import catalog_touch, stock_receive
from tests.factories import LocationFactory, VariantFactory, pos_device

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _hold_open(write, started: threading.Event, release: threading.Event, errors: list):
    """Run `write` in a transaction that stays open (its sequence number taken, not yet
    committed) until `release` is set."""
    try:
        with transaction.atomic():
            write()
            started.set()
            assert release.wait(10)
    except Exception as error:  # reported by the test
        errors.append(error)
        started.set()
    finally:
        connection.close()


def _client():
    store = LocationFactory(code="SA1")
    _device, key = pos_device(store)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return store, api


def test_stock_high_water_mark_does_not_skip_a_change_committing_later():
    store, api = _client()
    early, late = VariantFactory(sku="EARLY"), VariantFactory(sku="LATE")
    stock_receive(store, early, 1)  # seq 1

    started, release, errors = threading.Event(), threading.Event(), []
    writer = threading.Thread(
        target=_hold_open,
        args=(
            lambda: stock_apply(
                changes=[
                    StockChange(
                        variant_id=late.pk, location_id=store.pk, reason="receipt", on_hand=5
                    )
                ],
                actor=Actor(),
            ),
            started,
            release,
            errors,
        ),
    )
    writer.start()
    assert started.wait(10)
    # seq 2 is taken by the open transaction but not committed: the read cannot see it
    # and must not hand out a mark that covers it.
    body = api.get("/api/v1/stock").json()
    assert [row["sku"] for row in body["results"]] == ["EARLY"]
    assert body["seq"] == 1
    release.set()
    writer.join(10)
    assert errors == []
    later = api.get("/api/v1/stock", {"after": body["seq"]}).json()
    assert [(row["sku"], row["seq"]) for row in later["results"]] == [("LATE", 2)]


def test_catalog_sync_cursor_does_not_skip_a_change_committing_later():
    _store, api = _client()
    first, second = VariantFactory(sku="FIRST"), VariantFactory(sku="SECOND")
    catalog_touch(first)

    started, release, errors = threading.Event(), threading.Event(), []
    writer = threading.Thread(
        target=_hold_open,
        args=(
            lambda: catalog_changes_record(variant_ids=[second.pk]),
            started,
            release,
            errors,
        ),
    )
    writer.start()
    assert started.wait(10)
    body = api.get("/api/v1/catalog/variants").json()
    # SECOND still has its old change_seq (0) in every committed snapshot, so it is
    # served now, before FIRST; its pending change comes again after the cursor.
    assert [row["sku"] for row in body["results"]] == ["SECOND", "FIRST"]
    release.set()
    writer.join(10)
    assert errors == []
    delta = api.get("/api/v1/catalog/variants", {"updated_after": body["sync_cursor"]}).json()
    assert [row["sku"] for row in delta["results"]] == ["SECOND"]
