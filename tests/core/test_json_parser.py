"""A JSON body the parser cannot handle is the contract's 400, never a 500."""

import io

import pytest
from rest_framework.exceptions import ParseError

from apps.core.parsers import JSONParser
from apps.sales.models import Order

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("path", ["/api/v1/sales", "/api/v1/pricing/quote", "/api/v1/returns"])
def test_deeply_nested_json_is_a_400(device_api, path):
    response = device_api.generic("POST", path, DEEP.encode(), content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["errors"]) == ("invalid", [])
    assert "JSON parse error" in body["detail"]
    assert Order.objects.count() == 0


def test_the_parser_turns_recursion_and_value_errors_into_parse_errors():
    parser = JSONParser()
    for raw in (DEEP.encode(), b'{"a": ', b"\xff\xfe"):
        with pytest.raises(ParseError):
            parser.parse(io.BytesIO(raw), "application/json", {})
    assert parser.parse(io.BytesIO(b'{"a": [1]}'), "application/json", {}) == {"a": [1]}
