"""What the stock screens share: page sizes, turning NotFound into a 404 page."""

from __future__ import annotations

from django.http import Http404

from apps.core.errors import NotFound
from apps.stores.selectors import location_get_visible

PAGE_SIZE = 50
MOVEMENT_PAGE_SIZE = 100
EXPORT_LIMIT = 100_000


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
