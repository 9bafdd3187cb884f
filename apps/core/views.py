from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.health import health_check
from apps.core.htmx import render_page


@login_required
def home(request):
    if request.location is None:
        return render_page(request, "core/no_location.html")
    return redirect("stores:dashboard", code=request.location.code)


def area_placeholder(area: str, title: str, plan: str):
    """An honest empty state for an area whose screens are not built yet."""

    @login_required
    def view(request):
        return render_page(
            request, "core/placeholder.html", {"area": area, "title": title, "plan": plan}
        )

    view.__name__ = f"{area}_placeholder"
    return view


@never_cache
@require_GET
def health(request):
    """For load balancers and orchestrators: 200 when the database (and Redis, when
    configured) answer, 503 otherwise. No login, no data."""
    checks = health_check()
    healthy = all(checks.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: "ok" if up else "down" for name, up in checks.items()},
    }
    return JsonResponse(body, status=200 if healthy else 503)
