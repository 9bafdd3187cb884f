"""Rendering for pages that are also htmx fragments."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def wants_fragment(request: HttpRequest) -> bool:
    """True for an htmx request that swaps part of a page.

    Boosted navigation and history restores (reload, back/forward after the cache was
    evicted) need the full page, so only plain htmx requests get the fragment.
    """
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    fragment: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render `template`, or only its partial `fragment` for a fragment request.

    Partials are django-template-partials' `{% partialdef name inline %}` blocks, so
    the page and the fragment come from one template and cannot drift apart.
    """
    name = f"{template}#{fragment}" if fragment and wants_fragment(request) else template
    return render(request, name, context or {}, status=status)
