"""Order screens (htmx): the orders list, an order with its ledger movements, the
discrepancies to review and the store's pickups board.

Reads go through apps.sales.selectors (scoped by the actor's visible locations); writes
through services. A DomainError is rendered with its status; another location's order
or pickup is a 404.
"""

from __future__ import annotations

from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.views.decorators.http import require_POST

from apps.core.errors import DomainError, NotFound
from apps.core.htmx import render_page
from apps.core.pagination import page_number
from apps.inventory.services import discrepancy_review
from apps.stores.selectors import location_list_visible

from . import selectors, services
from .models import Order

PAGE_SIZE = 50
BOARD_STEPS = {
    "ready": Order.Status.READY,
    "collect": Order.Status.COLLECTED,
    "cancel": Order.Status.CANCELLED,
}


DATE_MIN = date(1900, 1, 1)
# The selector filters "before the day after date_to": date.max has no day after.
DATE_MAX = date(9999, 12, 30)


def _date(value: str | None, label: str, errors: list[str]) -> date | None:
    """A filter date, or None with a message in errors when it is malformed or out of range."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        errors.append(f"{label}: {value[:20]!r} is not a date (YYYY-MM-DD); ignored.")
        return None
    if not DATE_MIN <= day <= DATE_MAX:
        errors.append(f"{label}: {day.isoformat()} is out of range; ignored.")
        return None
    return day


@login_required
def order_list(request):
    params = request.GET
    errors: list[str] = []
    filters = {
        "channel": params.get("channel") if params.get("channel") in Order.Channel.values else "",
        "location": params.get("location", "").strip(),
        "status": params.get("status") if params.get("status") in Order.Status.values else "",
        "member": params.get("member", "").strip(),
        "date_from": _date(params.get("date_from"), "From", errors),
        "date_to": _date(params.get("date_to"), "To", errors),
    }
    if filters["date_from"] and filters["date_to"] and filters["date_from"] > filters["date_to"]:
        errors.append("From is after To; the dates were ignored.")
        filters["date_from"] = filters["date_to"] = None
    orders = selectors.order_list_visible(
        actor=request.user,
        channel=filters["channel"] or None,
        location_code=filters["location"] or None,
        status=filters["status"] or None,
        member=filters["member"] or None,
        date_from=filters["date_from"],
        date_to=filters["date_to"],
    )
    page = Paginator(orders, PAGE_SIZE).get_page(page_number(params.get("page")))
    query = params.copy()
    query.pop("page", None)
    return render_page(
        request,
        "sales/order_list.html",
        {
            "page": page,
            "filters": filters,
            "errors": errors,
            "query": query.urlencode(),
            "locations": list(location_list_visible(request.user).order_by("code")),
            "channels": Order.Channel.choices,
            "statuses": Order.Status.choices,
        },
        fragment="results",
    )


@login_required
def order_detail(request, number: str):
    try:
        order = selectors.order_get_visible(actor=request.user, number=number)
    except NotFound as error:
        raise Http404(str(error)) from error
    return render_page(
        request,
        "sales/order_detail.html",
        {"order": order, "movements": selectors.order_movements(order=order)},
    )


@login_required
def discrepancy_list(request):
    discrepancies = selectors.discrepancy_list_visible(actor=request.user)
    page = Paginator(discrepancies, PAGE_SIZE).get_page(page_number(request.GET.get("page")))
    return render_page(request, "sales/discrepancies.html", {"page": page}, fragment="results")


@login_required
@require_POST
def discrepancy_mark_reviewed(request, pk: int):
    discrepancy = selectors.discrepancy_list_visible(actor=request.user, status=None).filter(pk=pk)
    found = discrepancy.first()
    if found is None:
        raise Http404("No such discrepancy.")
    error = None
    try:
        discrepancy_review(discrepancy=found, actor=request.user)
    except DomainError as exc:
        error = exc
    page = Paginator(selectors.discrepancy_list_visible(actor=request.user), PAGE_SIZE).get_page(1)
    return render_page(
        request,
        "sales/discrepancies.html",
        {"page": page, "error": error},
        fragment="results",
        status=error.status_code if error else 200,
    )


def _board(request, error=None):
    location = request.location
    if location is None:
        raise Http404("No location.")
    return render_page(
        request,
        "sales/pickups.html",
        {"location": location, "board": selectors.pickup_board(location=location), "error": error},
        fragment="board",
        status=error.status_code if error else 200,
    )


@login_required
def pickup_board(request):
    return _board(request)


@login_required
@require_POST
def pickup_step(request, number: str, step: str):
    if step not in BOARD_STEPS:
        raise Http404("Unknown step.")
    error = None
    try:
        services.pickup_transition_by_user(user=request.user, number=number, to=BOARD_STEPS[step])
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    except DomainError as exc:
        error = exc
    return _board(request, error)
