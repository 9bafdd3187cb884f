"""The sale body read without the serializer (apps.sales.api._sale_fast) gives exactly
SaleIn's validated data, and leaves everything unusual to SaleIn."""

import copy

import pytest

from apps.sales.api import SaleIn, _sale_fast

BASE = {
    "client_id": "0b7c6f1e-3f0a-4b8e-9a57-2f6d0c1e9a10",
    "occurred_at": "2026-11-20T10:15:00+01:00",
    "lines": [{"sku": "TEE-M", "quantity": 2}, {"sku": "CAP-1", "quantity": 1}],
    "payments": [{"method": "card", "amount": "29.70"}],
}


def _with(**changes):
    body = copy.deepcopy(BASE)
    body.update(changes)
    return body


def _serializer_data(body):
    serializer = SaleIn(data=body)
    assert serializer.is_valid(), serializer.errors
    return serializer.validated_data


def _plain(value):
    """OrderedDicts and ReturnLists as plain dicts and lists, for comparison."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


@pytest.mark.parametrize(
    "body",
    [
        BASE,
        _with(occurred_at="2026-11-20T09:15:00Z", client_id="0B7C6F1E3F0A4B8E9A572F6D0C1E9A10"),
        _with(occurred_at="2026-11-20T10:15:00"),  # naive: the server's time zone
        _with(member="M-1", associate="A-7", coupons=["WELCOME"], offline=True),
        _with(member=None, associate=None, client_totals=None, exchange_of=None),
        _with(points_to_redeem=0, payments=[]),
        _with(payments=[{"method": "cash", "amount": 10}, {"method": "voucher", "amount": "5.5"}]),
        _with(payments=[{"method": "other", "amount": " 3.10 ", "reference": "R-1"}]),
        _with(lines=[{"sku": "LOT-1", "quantity": 3, "lot": "L1", "serials": []}]),
        _with(lines=[{"sku": "SER-1", "quantity": 2, "serials": ["S1", "S2"], "lot": ""}]),
        _with(lines=[{"sku": "TEE-M", "quantity": 0}, {"sku": "TEE-M", "quantity": -1}]),
        _with(unknown_field={"ignored": True}),
    ],
)
def test_a_plain_body_gives_the_serializers_data(body):
    fast = _sale_fast(body)
    assert fast is not None
    assert _plain(fast) == _plain(_serializer_data(body))


@pytest.mark.parametrize(
    "body",
    [
        [],
        _with(lines=[]),
        _with(lines="TEE-M"),
        _with(lines=[{"sku": " TEE-M", "quantity": 1}]),  # the serializer strips it
        _with(lines=[{"sku": "TEE-M", "quantity": "2"}]),  # the serializer converts it
        _with(lines=[{"sku": "TEE-M", "quantity": True}]),
        _with(lines=[{"sku": "TEE-M", "quantity": 100_001}]),
        _with(lines=[{"sku": "T\x00", "quantity": 1}]),
        _with(lines=[{"sku": "ÉTÉ-1", "quantity": 1}]),
        _with(lines=[{"sku": "TEE-M", "quantity": 1, "lot": None}]),
        _with(lines=[{"sku": "TEE-M", "quantity": 1, "serials": [""]}]),
        _with(payments=[{"method": "bitcoin", "amount": "1"}]),
        _with(payments=[{"method": ["card"], "amount": "1"}]),
        _with(payments=[{"method": "card", "amount": "-1"}]),
        _with(payments=[{"method": "card", "amount": 1.5}]),
        _with(payments=[{"method": "card", "amount": "1.999"}]),
        _with(payments=[{"method": "card", "amount": "abc"}]),
        _with(payments={"method": "card"}),
        _with(client_id="not-a-uuid"),
        _with(client_id=None),
        _with(occurred_at="yesterday"),
        _with(member=""),
        _with(member="M" * 41),
        _with(points_to_redeem=-1),
        _with(points_to_redeem=None),
        _with(offline="yes"),
        _with(coupons=None),
        _with(client_totals={"total": "10.00"}),  # offline totals: the serializer reads them
        _with(exchange_of="SA1-R000001"),
    ],
)
def test_anything_unusual_is_left_to_the_serializer(body):
    assert _sale_fast(body) is None
