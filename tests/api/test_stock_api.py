"""Stock reads for POS devices and integrations (shared/pos-api.md, Stock)."""

import pytest
from django.db import transaction

from apps.core.events import location_stream, stream_last_seq
from apps.inventory.ledger import Actor, StockChange, stock_apply
from apps.inventory.models import StockLevel
from apps.stores.models import Location
from apps.stores.selectors import location_list_readable_by_client
from tests.api.conftest import stock_receive
from tests.factories import LocationFactory, VariantFactory, pos_device

pytestmark = pytest.mark.django_db

STOCK = "/api/v1/stock"


def _read(client, **params):
    response = client.get(STOCK, params)
    assert response.status_code == 200, response.content
    return response.json()


def _error(response, status, code, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert body["detail"]
    if field is not None:
        assert [error["field"] for error in body["errors"]] == [field]
        assert body["errors"][0]["code"] == code
    return body


@pytest.fixture
def stocked(store_a, store_b):
    """Three SKUs at store A, one of them at store B too."""
    shirt, socks, cap = (VariantFactory(sku=s) for s in ("SHIRT", "SOCKS", "CAP"))
    stock_receive(store_a, shirt, 10, reserved=3)
    stock_receive(store_a, socks, 4)
    stock_receive(store_a, cap, 1)
    stock_receive(store_b, shirt, 7)
    return {"shirt": shirt, "socks": socks, "cap": cap}


def test_full_read_of_the_devices_own_location(device_api, stocked):
    body = _read(device_api)
    assert body["results"] == [
        {"sku": "SHIRT", "location": "SA1", "on_hand": 10, "reserved": 3, "available": 7, "seq": 1},
        {"sku": "SOCKS", "location": "SA1", "on_hand": 4, "reserved": 0, "available": 4, "seq": 2},
        {"sku": "CAP", "location": "SA1", "on_hand": 1, "reserved": 0, "available": 1, "seq": 3},
    ]
    assert body["next_cursor"] is None
    assert body["seq"] == 3


def test_after_returns_only_later_changes_and_the_high_water_mark(device_api, stocked, store_a):
    assert _read(device_api, after=3) == {"results": [], "next_cursor": None, "seq": 3}
    stock_receive(store_a, stocked["socks"], 2)
    body = _read(device_api, after=3)
    assert [(r["sku"], r["on_hand"], r["seq"]) for r in body["results"]] == [("SOCKS", 6, 4)]
    assert body["seq"] == 4
    assert _read(device_api, after=body["seq"])["results"] == []


def test_paging_with_after_and_sku_filter(device_api, stocked, store_a):
    for _ in range(3):
        stock_receive(store_a, stocked["cap"], 1)
    body = _read(device_api, after=1, limit=2)
    assert [(r["sku"], r["seq"]) for r in body["results"]] == [("SOCKS", 2), ("CAP", 6)]
    assert body["next_cursor"] is None and body["seq"] == 6

    page = _read(device_api, limit=2)
    assert [r["sku"] for r in page["results"]] == ["SHIRT", "SOCKS"]
    assert page["next_cursor"] and page["seq"] == 2
    rest = _read(device_api, limit=2, cursor=page["next_cursor"])
    assert [r["sku"] for r in rest["results"]] == ["CAP"]
    assert rest["next_cursor"] is None and rest["seq"] == 6

    assert [r["on_hand"] for r in _read(device_api, sku="CAP")["results"]] == [4]
    assert _read(device_api, sku="NOPE")["results"] == []


def test_a_change_committed_between_pages_is_not_skipped(device_api, stocked, store_a):
    page = _read(device_api, limit=2)
    stock_receive(store_a, stocked["shirt"], 5)  # already served: it moves to seq 4
    rest = _read(device_api, limit=2, cursor=page["next_cursor"])
    assert [(r["sku"], r["on_hand"]) for r in rest["results"]] == [("CAP", 1), ("SHIRT", 15)]
    assert rest["seq"] == 4


def test_cross_store_read_of_another_active_store(device_api, stocked):
    body = _read(device_api, location="SB1")
    assert [(r["sku"], r["location"], r["on_hand"]) for r in body["results"]] == [
        ("SHIRT", "SB1", 7)
    ]


def test_sku_lookup_across_locations(device_api, stocked, store_a):
    warehouse = LocationFactory(code="WH1", kind=Location.Kind.WAREHOUSE)
    closed = LocationFactory(code="OLD", active=False)
    online = LocationFactory(code="WEB", kind=Location.Kind.ONLINE)
    for place in (warehouse, closed, online):
        stock_receive(place, stocked["shirt"], 50)
    response = device_api.get(f"{STOCK}/SHIRT")
    assert response.status_code == 200
    body = response.json()
    assert body["sku"] == "SHIRT"
    # Never a row of a location the device may not see (closed store, online shop).
    assert [(r["location"], r["available"]) for r in body["levels"]] == [
        ("SA1", 7),
        ("SB1", 7),
        ("WH1", 50),
    ]


def test_sku_lookup_for_an_integration_sees_every_active_location(integration_api, stocked):
    online = LocationFactory(code="WEB", kind=Location.Kind.ONLINE)
    stock_receive(online, stocked["shirt"], 2)
    body = integration_api.get(f"{STOCK}/SHIRT").json()
    assert [r["location"] for r in body["levels"]] == ["SA1", "SB1", "WEB"]


def test_sku_lookup_with_slash_and_unknown_sku(device_api, store_a):
    stock_receive(store_a, VariantFactory(sku="A/B 1"), 2)
    assert device_api.get(f"{STOCK}/A/B 1").json()["levels"][0]["on_hand"] == 2
    _error(device_api.get(f"{STOCK}/NOPE"), 404, "not_found")


def test_the_readable_locations_rule(store_a, store_b, device_a, integration_client):
    warehouse = LocationFactory(code="WH1", kind=Location.Kind.WAREHOUSE)
    LocationFactory(code="OLD", active=False)
    LocationFactory(code="WEB", kind=Location.Kind.ONLINE)
    LocationFactory(code="OLDWH", kind=Location.Kind.WAREHOUSE, active=False)
    device, _ = device_a

    def codes(client):
        return sorted(location_list_readable_by_client(client).values_list("code", flat=True))

    assert codes(device) == ["SA1", "SB1", "WH1"]
    assert codes(integration_client[0]) == ["SA1", "SB1", "WEB", "WH1"]
    # A device's own location stays readable after it is deactivated.
    Location.objects.filter(pk=store_a.pk).update(active=False)
    device.location.refresh_from_db()
    assert codes(device) == ["SA1", "SB1", "WH1"]
    closed_device, _ = pos_device(
        LocationFactory(code="WEB2", kind=Location.Kind.ONLINE), name="Kiosk"
    )
    assert codes(closed_device) == ["SB1", "WEB2", "WH1"]
    assert codes(None) == []
    assert warehouse.pk


@pytest.mark.parametrize("code", ["OLD", "WEB", "NOWHERE", "sa1"])
def test_a_location_the_device_may_not_read_is_403_forbidden_location(device_api, stocked, code):
    LocationFactory(code="OLD", active=False)
    web = LocationFactory(code="WEB", kind=Location.Kind.ONLINE)
    stock_receive(web, stocked["shirt"], 9)
    body = _error(device_api.get(STOCK, {"location": code}), 403, "forbidden_location")
    assert "results" not in body


def test_integration_must_name_a_location(integration_api, stocked):
    _error(integration_api.get(STOCK), 400, "invalid", field="location")
    assert len(_read(integration_api, location="SB1")["results"]) == 1


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", "1e3", " ", "9" * 40])
def test_after_that_is_not_a_sequence_number_is_400(device_api, stocked, after):
    _error(device_api.get(STOCK, {"after": after}), 400, "invalid", field="after")


def test_after_in_the_future_is_400_and_says_so(device_api, stocked):
    body = _error(device_api.get(STOCK, {"after": 4}), 400, "invalid", field="after")
    assert "future" in body["detail"]
    assert device_api.get(STOCK, {"after": 3}).status_code == 200


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "5000", "abc", "2.5"])
def test_absurd_limit_is_400_on_field_limit(device_api, stocked, limit):
    _error(device_api.get(STOCK, {"limit": limit}), 400, "invalid", field="limit")


def test_tampered_or_foreign_cursor_is_400_on_field_cursor(device_api, stocked):
    cursor = _read(device_api, limit=1)["next_cursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for bad in [tampered, "garbage", cursor + "x", "e30:abc"]:
        _error(device_api.get(STOCK, {"cursor": bad}), 400, "invalid", field="cursor")
    # A cursor of one location's list is not valid for another's.
    _error(device_api.get(STOCK, {"cursor": cursor, "location": "SB1"}), 400, "invalid", "cursor")
    # Nor a stock cursor for the catalog.
    _error(device_api.get("/api/v1/catalog/variants", {"cursor": cursor}), 400, "invalid", "cursor")


def test_reads_change_nothing(device_api, stocked):
    before = list(StockLevel.objects.order_by("pk").values())
    last = stream_last_seq(location_stream("SA1"))
    device_api.get(STOCK)
    device_api.get(STOCK, {"location": "OLD"})
    device_api.get(f"{STOCK}/SHIRT")
    assert list(StockLevel.objects.order_by("pk").values()) == before
    assert stream_last_seq(location_stream("SA1")) == last


@pytest.mark.parametrize(
    "header", [None, "Token nope", "Token abcdefgh.wrong"], ids=["missing", "malformed", "unknown"]
)
@pytest.mark.parametrize(
    "path", [STOCK, f"{STOCK}/SHIRT", "/api/v1/catalog/variants", "/api/v1/catalog/barcodes/1"]
)
def test_missing_or_unknown_token_is_401(api, stocked, header, path):
    kwargs = {"HTTP_AUTHORIZATION": header} if header else {}
    response = api.get(path, **kwargs)
    assert response.status_code == 401
    assert response.json()["code"] in {"not_authenticated", "authentication_failed"}


def test_revoked_token_is_401(api, device_a, stocked):
    from django.utils import timezone

    client, key = device_a
    client.revoked_at = timezone.now()
    client.save(update_fields=["revoked_at"])
    response = api.get(STOCK, HTTP_AUTHORIZATION=f"Token {key}")
    _error(response, 401, "authentication_failed")


def test_list_query_count_is_constant(device_api, store_a, store_b, django_assert_num_queries):
    variants = [VariantFactory(sku=f"N{i:03d}") for i in range(40)]
    with transaction.atomic():
        stock_apply(
            changes=[
                StockChange(variant_id=v.pk, location_id=store_a.pk, reason="receipt", on_hand=1)
                for v in variants
            ],
            actor=Actor(),
        )
    device_api.get(STOCK)
    # auth (with the device's location), the stream's last seq, the page
    with django_assert_num_queries(3):
        assert len(device_api.get(STOCK, {"limit": 2}).json()["results"]) == 2
    with django_assert_num_queries(3):
        assert len(device_api.get(STOCK, {"limit": 40}).json()["results"]) == 40
    # another location: one more query to check the device may read it
    with django_assert_num_queries(4):
        assert device_api.get(STOCK, {"location": "SB1", "limit": 40}).status_code == 200
    # auth, the variant, the levels
    with django_assert_num_queries(3):
        device_api.get(f"{STOCK}/N001")
