"""Stock screens (htmx): levels, one variant everywhere, movements, adjustments,
transfers, stocktakes and the alerts inbox.

Views read through the queries below (always scoped by the actor's visible locations)
and write only through the services; a service's DomainError is rendered into the form
with its status (4xx), and a location or document the user may not see is a 404.
"""

from __future__ import annotations

import csv
import io

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import F
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from openpyxl import Workbook

from apps.catalog.models import Variant
from apps.core.errors import DomainError, NotFound
from apps.core.htmx import render_page
from apps.stores.models import Location
from apps.stores.selectors import (
    location_can_manage,
    location_get_visible,
    location_list_managed,
    location_list_visible,
)

from . import services
from .forms import AdjustmentForm, MovementFilterForm, TransferForm, errors_onto
from .models import Movement, StockLevel, Transfer
from .selectors import alerts_open_for, movements_for, stock_for_variant, stock_levels_at
from .stocktakes import (
    stocktake_cancel,
    stocktake_count,
    stocktake_get_visible,
    stocktake_lines,
    stocktake_list_visible,
    stocktake_post,
    stocktake_start,
    stocktake_totals,
)
from .transfers import (
    in_transit_by_destination,
    transfer_cancel,
    transfer_create,
    transfer_get_visible,
    transfer_list_visible,
    transfer_receive,
    transfer_ship,
    variant_by_code,
)

PAGE_SIZE = 50
MOVEMENT_PAGE_SIZE = 100
EXPORT_LIMIT = 100_000


def _visible_or_404(user, code: str):
    try:
        return location_get_visible(user, code)
    except NotFound as error:
        raise Http404(error.detail) from error


def _or_404(getter, user, pk):
    try:
        return getter(user, pk)
    except NotFound as error:
        raise Http404(error.detail) from error


# --- stock at a location ---------------------------------------------------------------


@login_required
def index(request):
    if request.location is None:
        return render_page(request, "core/no_location.html")
    return _stock_page(request, request.location)


@login_required
def location_stock(request, code: str):
    return _stock_page(request, _visible_or_404(request.user, code))


def _stock_page(request, location):
    query = request.GET.get("q", "").strip()
    low = request.GET.get("low") == "1"
    levels = stock_levels_at(location, search=query, low_only=low).select_related(
        "variant__product"
    )
    paginator = Paginator(levels, PAGE_SIZE)
    if not query:
        # Counting needs no join to the catalog unless searching: an index-only count.
        plain = StockLevel.objects.filter(location=location)
        if low:
            plain = plain.filter(reorder_point__gt=0, available__lte=F("reorder_point"))
        paginator.count = plain.count()
    page = paginator.get_page(request.GET.get("page"))
    return render_page(
        request,
        "inventory/stock_list.html",
        {
            "location": location,
            "page": page,
            "query": query,
            "low": low,
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
    page = Paginator(movements, MOVEMENT_PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    params.pop("export", None)
    return render_page(
        request,
        "inventory/movements.html",
        {"form": form, "page": page, "params": params.urlencode()},
        fragment="results",
    )


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


# --- transfers ---------------------------------------------------------------------


@login_required
def transfer_list(request):
    transfers = transfer_list_visible(request.user)
    status = request.GET.get("status", "")
    if status in Transfer.Status.values:
        transfers = transfers.filter(status=status)
    page = Paginator(transfers.order_by("-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(
        request,
        "inventory/transfer_list.html",
        {
            "page": page,
            "status": status,
            "statuses": Transfer.Status.choices,
            "can_create": location_list_managed(request.user).exists(),
        },
    )


@login_required
def transfer_new(request):
    sources = list(location_list_managed(request.user).order_by("code"))
    if not sources:
        raise Http404("You manage no location.")
    destinations = list(Location.objects.active().order_by("code"))
    initial = {"source": request.location.code if request.location else ""}
    form = TransferForm(
        request.POST or None, initial=initial, sources=sources, destinations=destinations
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            by_code = {loc.code: loc for loc in destinations}
            try:
                transfer = transfer_create(
                    source=location_get_visible(request.user, data["source"]),
                    destination=by_code.get(data["destination"]),
                    lines=data["lines"],
                    actor=request.user,
                    note=data["note"],
                )
            except DomainError as error:
                errors_onto(form, error)
                status = error.status_code
            else:
                url = reverse("stock:transfer", args=[transfer.pk])
                if request.htmx:
                    response = HttpResponse(status=204)
                    response["HX-Location"] = url
                    return response
                return redirect(url)
        else:
            status = 400
    return render_page(
        request, "inventory/transfer_new.html", {"form": form}, fragment="form", status=status
    )


def _transfer_page(request, transfer, *, error=None, status=200):
    lines = list(transfer.lines.select_related("variant__product", "lot").order_by("variant__sku"))
    for line in lines:
        line.difference = (
            None if line.quantity_received is None else line.quantity_received - line.quantity
        )
    user = request.user
    return render_page(
        request,
        "inventory/transfer_detail.html",
        {
            "transfer": transfer,
            "lines": lines,
            "error": error,
            "can_ship": transfer.status == "draft" and location_can_manage(user, transfer.source),
            "can_cancel": transfer.status in ("draft", "shipped")
            and location_can_manage(user, transfer.source),
            "can_receive": transfer.status == "shipped"
            and location_can_manage(user, transfer.destination),
        },
        fragment="document",
        status=status,
    )


@login_required
def transfer_detail(request, pk: int):
    return _transfer_page(request, _or_404(transfer_get_visible, request.user, pk))


@login_required
@require_POST
def transfer_action(request, pk: int, action: str):
    transfer = _or_404(transfer_get_visible, request.user, pk)
    try:
        if action == "ship":
            transfer_ship(transfer=transfer, actor=request.user)
        elif action == "cancel":
            transfer_cancel(transfer=transfer, actor=request.user)
        elif action == "receive":
            counts = {
                key.removeprefix("count_"): value
                for key, value in request.POST.items()
                if key.startswith("count_")
            }
            transfer_receive(transfer=transfer, counts=counts, actor=request.user)
        else:
            raise Http404("No such action.")
    except NotFound as error:
        raise Http404(error.detail) from error
    except DomainError as error:
        transfer = transfer_get_visible(request.user, pk)
        return _transfer_page(request, transfer, error=error, status=error.status_code)
    if not request.htmx:
        return redirect("stock:transfer", pk=pk)
    return _transfer_page(request, transfer_get_visible(request.user, pk))


# --- stocktakes --------------------------------------------------------------------


@login_required
def stocktake_list(request):
    stocktakes = stocktake_list_visible(request.user).order_by("-pk")
    page = Paginator(stocktakes, PAGE_SIZE).get_page(request.GET.get("page"))
    managed = list(location_list_managed(request.user).order_by("code"))
    return render_page(
        request,
        "inventory/stocktake_list.html",
        {"page": page, "managed": managed, "error": None},
    )


@login_required
@require_POST
def stocktake_new(request):
    try:
        location = location_get_visible(request.user, request.POST.get("location", ""))
        stocktake = stocktake_start(location=location, actor=request.user)
    except NotFound as error:
        raise Http404(error.detail) from error
    except DomainError as error:
        stocktakes = stocktake_list_visible(request.user).order_by("-pk")
        page = Paginator(stocktakes, PAGE_SIZE).get_page(1)
        managed = list(location_list_managed(request.user).order_by("code"))
        return render_page(
            request,
            "inventory/stocktake_list.html",
            {"page": page, "managed": managed, "error": error},
            status=error.status_code,
        )
    return redirect("stock:stocktake", pk=stocktake.pk)


def _counter(request, stocktake, *, error=None, status=200, last=None, template=None):
    return render_page(
        request,
        template or "inventory/stocktake_detail.html",
        {
            "stocktake": stocktake,
            "lines": list(stocktake_lines(stocktake)[:200]),
            "totals": stocktake_totals(stocktake),
            "error": error,
            "last": last,
            "can_count": stocktake.status == "counting"
            and location_can_manage(request.user, stocktake.location),
        },
        fragment="counter",
        status=status,
    )


@login_required
def stocktake_detail(request, pk: int):
    return _counter(request, _or_404(stocktake_get_visible, request.user, pk))


@login_required
@require_POST
def stocktake_scan(request, pk: int):
    """A scan (code + Enter) adds one; a code with a quantity sets the count."""
    stocktake = _or_404(stocktake_get_visible, request.user, pk)
    quantity = request.POST.get("quantity", "").strip()
    try:
        line = stocktake_count(
            stocktake=stocktake,
            actor=request.user,
            code=request.POST.get("code", ""),
            counted=quantity if quantity else None,
            increment=None if quantity else 1,
        )
    except NotFound as error:
        raise Http404(error.detail) from error
    except DomainError as error:
        return _counter(request, stocktake, error=error, status=error.status_code)
    if not request.htmx:
        return redirect("stock:stocktake", pk=pk)
    return _counter(request, stocktake, last=line)


@login_required
def stocktake_review(request, pk: int):
    stocktake = _or_404(stocktake_get_visible, request.user, pk)
    return _review(request, stocktake)


def _review(request, stocktake, *, error=None, status=200):
    lines = list(stocktake_lines(stocktake).order_by("variant__sku"))
    return render_page(
        request,
        "inventory/stocktake_review.html",
        {
            "stocktake": stocktake,
            "lines": lines,
            "differing": [line for line in lines if line.difference],
            "error": error,
            "can_post": stocktake.status == "counting"
            and location_can_manage(request.user, stocktake.location),
        },
        status=status,
    )


@login_required
@require_POST
def stocktake_action(request, pk: int, action: str):
    stocktake = _or_404(stocktake_get_visible, request.user, pk)
    try:
        if action == "post":
            stocktake_post(stocktake=stocktake, actor=request.user)
        elif action == "cancel":
            stocktake_cancel(stocktake=stocktake, actor=request.user)
        else:
            raise Http404("No such action.")
    except NotFound as error:
        raise Http404(error.detail) from error
    except DomainError as error:
        return _review(request, stocktake, error=error, status=error.status_code)
    return redirect("stock:stocktake_review", pk=stocktake.pk)


# --- alerts ------------------------------------------------------------------------


@login_required
def alert_list(request):
    alerts = alerts_open_for(request.user)
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(request, "inventory/alerts.html", {"page": page})
