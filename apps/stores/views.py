from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.core.errors import NotFound
from apps.core.htmx import render_page, wants_fragment
from apps.reports.selectors import (
    CHART_DAYS,
    dashboard_tiles,
    revenue_by_day,
    top_products_week,
    week_start,
)

from .middleware import SESSION_KEY
from .selectors import location_can_manage, location_get_visible


def get_visible_location_or_404(user, code: str):
    try:
        return location_get_visible(user, code)
    except NotFound as error:
        raise Http404(error.detail) from error


@login_required
def dashboard(request, code: str):
    location = get_visible_location_or_404(request.user, code)
    if request.session.get(SESSION_KEY) != location.code:
        request.session[SESSION_KEY] = location.code
    context = {"location": location, "tiles": dashboard_tiles(location=location)}
    if not wants_fragment(request):
        # The live refresh asks for the tiles only; the chart and the table load once.
        context |= {
            "can_manage": location_can_manage(request.user, location),
            "chart": revenue_by_day(location=location),
            "chart_days": CHART_DAYS,
            "top_products": top_products_week(location=location),
            "week_start": week_start(location),
        }
    return render_page(request, "stores/dashboard.html", context, fragment="tiles")


@login_required
@require_POST
def switch(request):
    location = get_visible_location_or_404(request.user, request.POST.get("location", ""))
    request.session[SESSION_KEY] = location.code
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = ""
    response = redirect(target or "stores:dashboard", **({} if target else {"code": location.code}))
    if request.htmx:
        # A full navigation: every area re-renders for the new location.
        response["HX-Redirect"] = response["Location"]
    return response
