from decimal import Decimal

import pytest
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from apps.core.api import exception_handler
from apps.core.errors import InsufficientStock
from apps.core.money import parse_money, round_money


def test_domain_error_becomes_the_contract_body():
    error = InsufficientStock(
        "Only 2 left.", extra={"alternatives": [{"location": "S02", "available": 5}]}
    )
    response = exception_handler(error, {})
    assert response.status_code == 409
    assert response.data == {
        "code": "insufficient_stock",
        "detail": "Only 2 left.",
        "errors": [],
        "alternatives": [{"location": "S02", "available": 5}],
    }


def test_nested_validation_errors_are_flattened_with_paths():
    class Line(serializers.Serializer):
        sku = serializers.CharField()
        quantity = serializers.IntegerField(min_value=1)

    class Sale(serializers.Serializer):
        client_id = serializers.UUIDField()
        lines = Line(many=True)

    serializer = Sale(
        data={
            "client_id": "nope",
            "lines": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 0}],
        }
    )
    assert not serializer.is_valid()
    response = exception_handler(ValidationError(serializer.errors), {})
    assert response.status_code == 400
    assert response.data["code"] == "invalid"
    assert response.data["errors"] == [
        {"field": "client_id", "code": "invalid", "detail": "Must be a valid UUID."},
        {
            "field": "lines.1.quantity",
            "code": "min_value",
            "detail": "Ensure this value is greater than or equal to 1.",
        },
    ]


@pytest.mark.parametrize(
    ("raw", "expected"), [("12.5", "12.50"), ("0", "0.00"), (3, "3.00"), ("1e1", "10.00")]
)
def test_parse_money(raw, expected):
    assert parse_money(raw) == Decimal(expected)


@pytest.mark.parametrize("raw", ["12,5O", "abc", "1.005", "NaN", "Infinity", "", "1e999999"])
def test_parse_money_refuses(raw):
    with pytest.raises(ValueError):
        parse_money(raw)


def test_round_money_is_half_up():
    assert round_money(Decimal("0.125")) == Decimal("0.13")
    assert round_money(Decimal("-0.125")) == Decimal("-0.13")


def test_unknown_api_path_gets_the_contract_body(client):
    response = client.get("/api/v1/no-such-endpoint")
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "detail": "No API endpoint at /api/v1/no-such-endpoint.",
        "errors": [],
    }
