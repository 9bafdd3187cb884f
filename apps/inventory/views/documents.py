"""Transfer and stocktake screens (htmx): list, create, ship, receive with counts,
cancel; start a stocktake, count with a barcode scanner, review differences, post.

Views write only through the transfer and stocktake services; a DomainError is shown
on the page with its status (4xx), and a document the user may not see is a 404.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.errors import DomainError, NotFound
from apps.core.htmx import render_page
from apps.core.pagination import page_number
from apps.stores.models import Location
from apps.stores.selectors import (
    location_can_manage,
    location_get_visible,
    location_list_managed,
)

from ..forms import TransferForm, errors_onto
from ..models import Transfer
from ..stocktakes import (
    stocktake_cancel,
    stocktake_count,
    stocktake_get_visible,
    stocktake_lines,
    stocktake_list_visible,
    stocktake_post,
    stocktake_start,
    stocktake_totals,
)
from ..transfers import (
    transfer_cancel,
    transfer_create,
    transfer_get_visible,
    transfer_list_visible,
    transfer_receive,
    transfer_ship,
)
from .common import PAGE_SIZE, or_404

# --- transfers ---------------------------------------------------------------------


@login_required
def transfer_list(request):
    transfers = transfer_list_visible(request.user)
    status = request.GET.get("status", "")
    if status in Transfer.Status.values:
        transfers = transfers.filter(status=status)
    page = Paginator(transfers.order_by("-pk"), PAGE_SIZE).get_page(
        page_number(request.GET.get("page"))
    )
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
    return _transfer_page(request, or_404(transfer_get_visible, request.user, pk))


@login_required
@require_POST
def transfer_action(request, pk: int, action: str):
    transfer = or_404(transfer_get_visible, request.user, pk)
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
    page = Paginator(stocktakes, PAGE_SIZE).get_page(page_number(request.GET.get("page")))
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
    return _counter(request, or_404(stocktake_get_visible, request.user, pk))


@login_required
@require_POST
def stocktake_scan(request, pk: int):
    """A scan (code + Enter) adds one; a code with a quantity sets the count."""
    stocktake = or_404(stocktake_get_visible, request.user, pk)
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
    stocktake = or_404(stocktake_get_visible, request.user, pk)
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
    stocktake = or_404(stocktake_get_visible, request.user, pk)
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
