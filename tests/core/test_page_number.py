"""The ?page= number every back-office list reads: a page whatever the URL says."""

import pytest

from apps.core.pagination import PAGE_MAX, page_number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 1),
        ("", 1),
        ("3", 3),
        (" 7 ", 7),
        (4, 4),
        ("0", 1),
        ("-5", 1),
        ("abc", 1),
        ("1e9", 1),
        ("2.5", 1),
        ("99999999999999999999", PAGE_MAX),
        ("9" * 5000, PAGE_MAX),
    ],
)
def test_page_number_is_always_a_page(value, expected):
    assert page_number(value) == expected
