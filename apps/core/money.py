"""Money is Decimal, in one currency per merchant, rounded in exactly one place."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def round_money(amount: Decimal | int | str) -> Decimal:
    """The only rounding rule: half up, to the cent."""
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def parse_money(value: object) -> Decimal:
    """Parse a decimal amount with at most two places; ValueError when it is not one."""
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as error:
        raise ValueError(f"{value!r} is not a number") from error
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not a number")
    try:
        rounded = round_money(amount)
    except InvalidOperation as error:  # e.g. 1e999999: too large to hold in cents
        raise ValueError(f"{value!r} is too large") from error
    if amount != rounded:
        raise ValueError(f"{value!r} has more than two decimal places")
    return rounded


def currency() -> str:
    return settings.OMO_CURRENCY
