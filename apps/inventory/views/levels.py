"""Stock screens (htmx): levels at a location (live), one variant everywhere, movement
history with export, adjustments and the alerts inbox.

Views read through the inventory selectors (scoped by the actor's visible locations)
and write only through the services; a service's DomainError is rendered into the form
with its status (4xx), and a location the user may not see is a 404.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, QueryDict
from django.utils import timezone
from openpyxl import Workbook

from apps.catalog.models import Variant
from apps.core.errors import DomainError
from apps.core.htmx import render_page
from apps.core.pagination import page_number
from apps.stores.selectors import (
    location_can_manage,
    location_get_visible,
    location_list_managed,
    location_list_visible,
)

from .. import services
from ..forms import AdjustmentForm, MovementFilterForm, errors_onto
from ..models import Movement
from ..selectors import alerts_open_for, movements_for, stock_for_variant, stock_page_at
from ..transfers import (
    in_transit_by_destination,
    variant_by_code,
)
from .common import EXPORT_LIMIT, MOVEMENT_PAGE_SIZE, PAGE_SIZE, visible_or_404

# --- stock at a location ---------------------------------------------------------------


@login_required
def index(request):
    if request.location is None:
        return render_page(request, "core/no_location.html")
    return _stock_page(request, request.location)


@login_required
def location_stock(request, code: str):
    return _stock_page(request, visible_or_404(request.user, code))


def _stock_page(request, location):
    query = request.GET.get("q", "").strip()
    low = request.GET.get("low") == "1"
    page = stock_page_at(
        location,
        search=query,
        low_only=low,
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
        number=page_number(request.GET.get("page")),
        page_size=PAGE_SIZE,
    )
    params = QueryDict(mutable=True)
    if query:
        params["q"] = query
    if low:
        params["low"] = "1"
    return render_page(
        request,
        "inventory/stock_list.html",
        {
            "location": location,
            "page": page,
            "query": query,
            "low": low,
            "base_query": params.urlencode(),
            "can_manage": location_can_manage(request.user, location),
        },
        fragment="table",
    )


# --- one variant everywhere ---------------------------------------------------------


@login_required
def variant_stock(request, sku: str):
    variant = Variant.objects.select_related("product").filter(sku=sku).first()
    if variant is None:
        raise Http404("No such SKU.")
    visible = location_list_visible(request.user)
    locations = list(visible.order_by("code"))
    levels = {level.location_id: level for level in stock_for_variant(variant, visible)}
    transit = in_transit_by_destination([variant.pk])
    rows = [
        {
            "location": loc,
            "level": levels.get(loc.pk),
            "in_transit": transit.get((loc.pk, variant.pk), 0),
        }
        for loc in locations
        if loc.pk in levels or (loc.pk, variant.pk) in transit
    ]
    totals = {
        "on_hand": sum(r["level"].on_hand for r in rows if r["level"]),
        "reserved": sum(r["level"].reserved for r in rows if r["level"]),
        "available": sum(r["level"].available for r in rows if r["level"]),
        "in_transit": sum(r["in_transit"] for r in rows),
    }
    return render_page(
        request, "inventory/variant.html", {"variant": variant, "rows": rows, "totals": totals}
    )


# --- movements ---------------------------------------------------------------------


def _movements(request):
    visible = location_list_visible(request.user)
    locations = list(visible.order_by("code"))
    form = MovementFilterForm(request.GET or None, locations=locations)
    filters = {}
    if form.is_valid():
        data = form.cleaned_data
        by_code = {loc.code: loc for loc in locations}
        filters = {
            "location": by_code.get(data["location"]),
            "reason": data["reason"],
            "date_from": data["date_from"],
            "date_to": data["date_to"],
        }
        if data["sku"]:
            filters["variant"] = Variant.objects.filter(sku=data["sku"].strip()).first()
            if filters["variant"] is None:
                return form, Movement.objects.none()
    return form, movements_for(visible_locations=visible, **filters)


@login_required
def movement_list(request):
    form, movements = _movements(request)
    export = request.GET.get("export")
    if export in ("csv", "xlsx"):
        return _export(movements[:EXPORT_LIMIT], export)
    page = _page_without_count(movements, request.GET.get("page"), MOVEMENT_PAGE_SIZE)
    params = request.GET.copy()
    params.pop("page", None)
    params.pop("export", None)
    return render_page(
        request,
        "inventory/movements.html",
        {"form": form, "page": page, "params": params.urlencode()},
        fragment="results",
    )


@dataclass
class _Page:
    """Newer/older paging without COUNT(*): the ledger grows without end, and counting
    it on every page view is the slowest part of the page."""

    object_list: list
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1


def _page_without_count(rows, number, size: int) -> _Page:
    number = page_number(number)
    start = (number - 1) * size
    found = list(rows[start : start + size + 1])
    return _Page(object_list=found[:size], number=number, has_next=len(found) > size)


EXPORT_HEADER = [
    "time",
    "location",
    "sku",
    "reason",
    "on_hand_change",
    "reserved_change",
    "on_hand_after",
    "reserved_after",
    "reference_type",
    "reference_id",
    "actor",
    "lot",
    "serial",
    "note",
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """Text that a spreadsheet would run as a formula is prefixed with a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _export_rows(movements):
    for m in movements.iterator(chunk_size=2000):
        actor = (
            m.actor_user.email if m.actor_user else (m.actor_client.name if m.actor_client else "")
        )
        yield [
            m.created_at.isoformat(),
            spreadsheet_safe(m.location.code),
            spreadsheet_safe(m.variant.sku),
            m.reason,
            m.delta_on_hand,
            m.delta_reserved,
            m.on_hand_after,
            m.reserved_after,
            spreadsheet_safe(m.reference_type),
            spreadsheet_safe(m.reference_id),
            spreadsheet_safe(actor),
            m.lot_id or "",
            spreadsheet_safe(m.serial),
            spreadsheet_safe(m.note),
        ]


def _export(movements, kind: str) -> HttpResponse:
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    if kind == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="movements-{stamp}.csv"'
        writer = csv.writer(response)
        writer.writerow(EXPORT_HEADER)
        writer.writerows(_export_rows(movements))
        return response
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Movements")
    sheet.append(EXPORT_HEADER)
    for row in _export_rows(movements):
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="movements-{stamp}.xlsx"'
    return response


# --- adjustments -------------------------------------------------------------------


@login_required
def adjustment(request):
    managed = list(location_list_managed(request.user).order_by("code"))
    initial = {"location": request.location.code if request.location else ""}
    form = AdjustmentForm(request.POST or None, initial=initial, locations=managed)
    status, done = 200, None
    if request.method == "POST":
        if not managed:
            raise Http404("You manage no location.")
        if form.is_valid():
            data = form.cleaned_data
            try:
                location = location_get_visible(request.user, data["location"])
                variant = variant_by_code(data["code"])
                applied = services.stock_adjust(
                    location=location,
                    variant=variant,
                    delta=data["delta"],
                    reason=data["reason"],
                    note=data["note"],
                    actor=request.user,
                    lot_code=data["lot_code"] or None,
                    serials=data["serials"],
                )
            except DomainError as error:
                errors_onto(form, error)
                status = error.status_code
            else:
                level = applied.levels[(location.pk, variant.pk)]
                done = {"location": location, "variant": variant, "level": level}
                form = AdjustmentForm(
                    initial={"location": location.code, "reason": data["reason"]},
                    locations=managed,
                )
        else:
            status = 400
    return render_page(
        request,
        "inventory/adjust.html",
        {"form": form, "done": done, "managed": managed},
        fragment="form",
        status=status,
    )


# --- alerts ------------------------------------------------------------------------


@login_required
def alert_list(request):
    alerts = alerts_open_for(request.user)
    page = Paginator(alerts, PAGE_SIZE).get_page(page_number(request.GET.get("page")))
    return render_page(request, "inventory/alerts.html", {"page": page})
