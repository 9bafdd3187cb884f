"""What the stock screens share: page sizes and numbers, turning NotFound into a 404 page."""

from __future__ import annotations

from django.http import Http404

from apps.core.errors import NotFound
from apps.stores.selectors import location_get_visible

PAGE_SIZE = 50
MOVEMENT_PAGE_SIZE = 100
EXPORT_LIMIT = 100_000
PAGE_MAX = 10**6


def page_number(value) -> int:
    """A ?page= number clamped to [1, PAGE_MAX]; anything not a whole number is page 1."""
    try:
        number = int(str(value or "1").strip()[:20])
    except ValueError:
        return 1
    return min(max(number, 1), PAGE_MAX)


def visible_or_404(user, code: str):
    try:
        return location_get_visible(user, code)
    except NotFound as error:
        raise Http404(error.detail) from error


def or_404(getter, user, pk):
    try:
        return getter(user, pk)
    except NotFound as error:
        raise Http404(error.detail) from error
