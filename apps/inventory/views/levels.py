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
from django.db.models import F, Q
from django.http import Http404, HttpResponse
from django.utils import timezone
from openpyxl import Workbook

from apps.catalog.models import Barcode, Product, Variant
from apps.core.errors import DomainError
from apps.core.htmx import render_page
from apps.stores.selectors import (
    location_can_manage,
    location_get_visible,
    location_list_managed,
    location_list_visible,
)

from .. import services
from ..forms import AdjustmentForm, MovementFilterForm, errors_onto
from ..models import Movement, StockLevel
from ..selectors import alerts_open_for, movements_for, stock_for_variant, stock_levels_at
from ..transfers import (
    in_transit_by_destination,
    variant_by_code,
)
from .common import EXPORT_LIMIT, MOVEMENT_PAGE_SIZE, PAGE_SIZE, page_number, visible_or_404

# --- stock at a location ---------------------------------------------------------------


@login_required
def index(request):
    if request.location is None:
        return render_page(request, "core/no_location.html")
    return _stock_page(request, request.location)


@login_required
def location_stock(request, code: str):
    return _stock_page(request, visible_or_404(request.user, code))


SEARCH_IDS_LIMIT = 2000


def _matching_variants(query: str):
    """Variant ids a stock search means. A scanned barcode or an exact SKU is looked up
    by index and wins; otherwise SKU / name contains. Resolving the variants first lets
    the database fetch only their levels instead of joining every level at the location
    to the catalog.

    Each part is a UNION of single-table conditions, never an OR across tables: on
    PostgreSQL every branch is then an index scan (unique sku / barcode code; trigram
    indexes on the variant's sku and name and the product's name), where an OR over a
    join made the planner scan the whole catalog on every keystroke."""
    by_sku = Variant.objects.filter(sku=query).order_by().values_list("pk", flat=True)
    by_barcode = Barcode.objects.filter(code=query).order_by().values_list("variant_id", flat=True)
    exact = list(by_sku.union(by_barcode))
    if exact:
        return exact
    by_variant = Variant.objects.filter(Q(sku__icontains=query) | Q(name__icontains=query))
    by_product = Variant.objects.filter(
        product_id__in=Product.objects.filter(name__icontains=query).order_by().values("pk")
    )
    contains = (
        by_variant.order_by()
        .values_list("pk", flat=True)
        .union(by_product.order_by().values_list("pk", flat=True))
    )
    # A narrow search (the usual case) becomes a list of ids: the count and the page
    # are then index lookups. A broad one stays a subquery rather than a huge list.
    found = list(contains[: SEARCH_IDS_LIMIT + 1])
    return found if len(found) <= SEARCH_IDS_LIMIT else contains


class _LevelPaginator(Paginator):
    """Pages of levels at one location in SKU order, where a page's 50 levels are chosen
    by a narrow subquery (variant ids only, read from the (location, variant) index and
    the variants' SKUs) and only those rows are then joined to the catalog. OFFSET on
    the full rows made PostgreSQL read, join and sort every wide row before the page
    on a deep page; same rows, same order, still one query."""

    def __init__(self, levels, per_page: int, *, keys):
        super().__init__(levels, per_page)
        self.keys = keys

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        if isinstance(self.keys, list):
            ids = self.keys[bottom : bottom + self.per_page]
        else:
            ids = self.keys.values("variant_id")[bottom : bottom + self.per_page]
        return self._get_page(self.object_list.filter(variant_id__in=ids), number, self)


def _stock_page(request, location):
    query = request.GET.get("q", "").strip()
    low = request.GET.get("low") == "1"
    # The filters go on `plain` only: counting needs no join to the catalog (an
    # index-only count on the level table), and the page's variant ids are chosen from
    # it (_LevelPaginator), so the joined rows need no second copy of the filters.
    levels = stock_levels_at(location).select_related("variant__product")
    plain = StockLevel.objects.filter(location=location)
    if low:
        plain = plain.filter(reorder_point__gt=0, available__lte=F("reorder_point"))
    if query:
        plain = plain.filter(variant_id__in=_matching_variants(query))
    keys = plain.order_by("variant__sku")
    if query:
        # A search's matching levels are read once, as variant ids in SKU order: the
        # count is their number and a page is a slice, so the search's UNION is not
        # evaluated again for a COUNT and again for the page (a broad search matches
        # thousands of variants). The page's rows are then fetched by those 50 ids.
        keys = list(keys.values_list("variant_id", flat=True))
        paginator = _LevelPaginator(levels, PAGE_SIZE, keys=keys)
        paginator.count = len(keys)
    else:
        paginator = _LevelPaginator(levels, PAGE_SIZE, keys=keys)
        paginator.count = plain.count()
    page = paginator.get_page(page_number(request.GET.get("page")))
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
