"""Cell values as the importer reads them, with the messages a user understands."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

from apps.core.money import parse_money

SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")
# A product handle: these characters, at most HANDLE_MAX of them.
HANDLE_CHARS = "[-a-zA-Z0-9_]"
HANDLE = re.compile(f"^{HANDLE_CHARS}+$")
HANDLE_MAX = 255
# The longest SKU or barcode (code_text).
CODE_MAX = 64
TRUE_WORDS = {"true", "yes", "y", "1", "t"}
FALSE_WORDS = {"false", "no", "n", "0", "f"}


class CellError(ValueError):
    pass


# Line breaks and tabs are text (a description may have several lines); any other
# control character (NUL above all, which PostgreSQL refuses to store) is damage.
TEXT_CONTROLS_ALLOWED = frozenset("\t\n\r")
# Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F: one regex search per
# cell instead of a unicodedata lookup per character (1.5 million cells in a big file).
CONTROLS = {
    TEXT_CONTROLS_ALLOWED: re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"),
    frozenset(): re.compile("[\x00-\x1f\x7f-\x9f]"),
}


def control_character(value: str, allowed=TEXT_CONTROLS_ALLOWED) -> str | None:
    """The first control character (Unicode category Cc) in value not in allowed."""
    if value.isprintable():  # no Cc character is printable: one C scan, no regex
        return None
    pattern = CONTROLS.get(allowed)
    if pattern is not None:
        found = pattern.search(value)
        return found.group() if found else None
    for ch in value:
        if ch not in allowed and unicodedata.category(ch) == "Cc":
            return ch
    return None


def control_message(what: str, ch: str) -> str:
    return f"{what} contains a control character (U+{ord(ch):04X}): remove it"


def printable(text: str) -> str:
    """text with its control characters other than line breaks and tabs shown as
    escapes (`\\x00`), for messages and values stored on the job or shown on screen."""
    if not isinstance(text, str) or control_character(text) is None:
        return text
    return "".join(
        ch
        if ch in TEXT_CONTROLS_ALLOWED or unicodedata.category(ch) != "Cc"
        else f"\\x{ord(ch):02x}"
        if ord(ch) < 256
        else f"\\u{ord(ch):04x}"
        for ch in text
    )


def code_text(value: str, what: str) -> str:
    """A SKU or barcode: text, leading zeros kept, never a number Excel rounded."""
    ch = control_character(value, allowed=frozenset())
    if ch is not None:
        raise CellError(control_message(what, ch))
    if ("E" in value or "e" in value) and SCIENTIFIC.match(value):
        raise CellError(
            f"{what} `{value}` is in scientific notation: Excel destroyed the number. "
            "Format the column as Text and type the full code again."
        )
    if len(value) > CODE_MAX:
        raise CellError(f"{what} `{value[:20]}...` is longer than {CODE_MAX} characters")
    return value


# SCIENTIFIC over many codes joined by line breaks (codes hold no line break: they are
# checked for control characters first).
SCIENTIFIC_LINES = re.compile(SCIENTIFIC.pattern, re.MULTILINE)


def codes_accepted(values: list[str]) -> bool:
    """True when code_text accepts every one of values: the same checks, each a C pass
    over all of them at once (a column of 100,000 SKUs)."""
    if not values:
        return True
    if control_character("".join(values), allowed=frozenset()) is not None:
        return False
    joined = "\n".join(values)
    if ("E" in joined or "e" in joined) and SCIENTIFIC_LINES.search(joined):
        return False
    return max(map(len, values)) <= CODE_MAX


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
