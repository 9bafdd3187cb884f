"""Cell values as the importer reads them, with the messages a user understands."""

from __future__ import annotations

import re
from decimal import Decimal

from apps.core.money import parse_money

SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")
HANDLE = re.compile(r"^[-a-zA-Z0-9_]+$")
TRUE_WORDS = {"true", "yes", "y", "1", "t"}
FALSE_WORDS = {"false", "no", "n", "0", "f"}


class CellError(ValueError):
    pass


def code_text(value: str, what: str) -> str:
    """A SKU or barcode: text, leading zeros kept, never a number Excel rounded."""
    if ("E" in value or "e" in value) and SCIENTIFIC.match(value):
        raise CellError(
            f"{what} `{value}` is in scientific notation: Excel destroyed the number. "
            "Format the column as Text and type the full code again."
        )
    if len(value) > 64:
        raise CellError(f"{what} `{value[:20]}...` is longer than 64 characters")
    return value


def money(value: str, what: str) -> Decimal:
    try:
        amount = parse_money(value)
    except (ValueError, ArithmeticError) as error:
        if "decimal places" in str(error):
            raise CellError(f"{what} `{value}` has more than two decimal places") from error
        raise CellError(f"{what} `{value}` is not a number") from error
    if amount < 0:
        raise CellError(f"{what} `{value}` is negative")
    if amount >= Decimal("10000000000"):
        raise CellError(f"{what} `{value}` is too large")
    return amount


def whole_number(value: str, what: str) -> int:
    text = value.strip()
    try:
        number = Decimal(text)
    except ArithmeticError as error:
        raise CellError(f"{what} `{value}` is not a whole number") from error
    if not number.is_finite():
        raise CellError(f"{what} `{value}` is not a whole number")
    # Check the size on the exponent first: `1e999999999999` overflows the decimal
    # context in to_integral_value() and abs() (decimal.Overflow, an ArithmeticError).
    if number.adjusted() > 9:
        raise CellError(f"{what} `{value}` is too large")
    try:
        whole = number == number.to_integral_value()
        too_large = abs(number) > 1_000_000_000
    except ArithmeticError as error:
        raise CellError(f"{what} `{value}` is not a whole number") from error
    if not whole:
        raise CellError(f"{what} `{value}` is not a whole number")
    if too_large:
        raise CellError(f"{what} `{value}` is too large")
    return int(number)


def boolean(value: str, what: str) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise CellError(f"{what} `{value}` is not true/false, yes/no or 1/0")


def category_path(value: str) -> str:
    parts = [part.strip() for part in value.split(">")]
    if any(not part for part in parts):
        raise CellError(f"category `{value}` has an empty level")
    if any(len(part) > 120 for part in parts) or len(value) > 500:
        raise CellError(f"category `{value[:40]}...` is too long")
    return " > ".join(parts)
