"""The contract's conventions as shared code: cursors, limits, the error body."""

import base64
import json

import pytest
from django.core import signing

from apps.core.errors import ValidationFailed
from apps.core.pagination import (
    MAX_LIMIT,
    Position,
    cursor_decode,
    cursor_encode,
    limit_parse,
)
from tests.factories import VariantFactory

pytestmark = pytest.mark.django_db


def test_cursor_round_trip_is_opaque_base64url_json_with_a_signature():
    cursor = cursor_encode(Position(seq=12, id=345), scope="demo", location="SA1")
    payload, _, _signature = cursor.partition(":")
    padded = payload + "=" * (-len(payload) % 4)
    assert json.loads(base64.urlsafe_b64decode(padded)) == {"s": 12, "i": 345, "location": "SA1"}
    assert cursor_decode(cursor, scope="demo", location="SA1") == Position(seq=12, id=345)


def _refused(raw, **kwargs):
    with pytest.raises(ValidationFailed) as caught:
        cursor_decode(raw, **kwargs)
    assert caught.value.as_body()["errors"][0]["field"] == kwargs.get("field", "cursor")
    assert caught.value.status_code == 400


def test_a_forged_cursor_with_a_valid_looking_payload_is_refused():
    cursor = cursor_encode(Position(seq=1, id=1), scope="demo")
    payload = base64.urlsafe_b64encode(json.dumps({"s": 999, "i": 1}).encode()).decode().rstrip("=")
    _refused(payload + ":" + cursor.split(":", 1)[1], scope="demo")
    _refused(cursor, scope="other")  # another list's cursor
    _refused(cursor, scope="demo", location="SB1")  # bound to other parameters
    _refused("", scope="demo", field="updated_after")
    signed_junk = signing.dumps(["not", "a", "position"], salt="omo.pagination.demo")
    _refused(signed_junk, scope="demo")
    signed_strings = signing.dumps({"s": "1", "i": 2}, salt="omo.pagination.demo")
    _refused(signed_strings, scope="demo")


@pytest.mark.parametrize(
    "raw,expected", [(None, 200), ("", 200), ("1", 1), ("1000", 1000), (" 50 ", 50)]
)
def test_limit_accepts_1_to_1000(raw, expected):
    assert limit_parse({} if raw is None else {"limit": raw}) == expected
    assert MAX_LIMIT == 1000


@pytest.mark.parametrize("raw", ["0", "-1", "1001", "5000", "abc", "1.5", "1e2", "9" * 50])
def test_absurd_limits_are_refused_on_field_limit(raw):
    with pytest.raises(ValidationFailed) as caught:
        limit_parse({"limit": raw})
    assert caught.value.errors[0]["field"] == "limit"


@pytest.mark.parametrize("limit", ["0", "-1", "5000", "abc"])
def test_catalog_sync_refuses_absurd_limits_with_the_contract_body(device_api, limit):
    response = device_api.get("/api/v1/catalog/variants", {"limit": limit})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"] == [
        {"field": "limit", "code": "invalid", "detail": body["errors"][0]["detail"]}
    ]


@pytest.mark.parametrize("param", ["updated_after", "cursor"])
@pytest.mark.parametrize("raw", ["abc", "eyJzIjoxLCJpIjoxfQ:forged", "%%%", "a" * 5000])
def test_catalog_sync_refuses_a_tampered_cursor_on_the_field_it_came_in(device_api, param, raw):
    VariantFactory(sku="ANY")
    response = device_api.get("/api/v1/catalog/variants", {param: raw})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert [error["field"] for error in body["errors"]] == [param]


def test_a_write_method_on_a_read_endpoint_is_405_with_the_contract_body(device_api):
    response = device_api.post("/api/v1/catalog/variants", {}, format="json")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert set(response.json()) == {"code", "detail", "errors"}


def test_money_is_a_two_place_string_and_times_carry_an_offset(device_api):
    VariantFactory(sku="M1", price="12.5")
    row = device_api.get("/api/v1/catalog/variants/M1").json()
    assert row["price"] == "12.50"
    assert row["updated_at"].endswith(("Z", "+00:00"))
