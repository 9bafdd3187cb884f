from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect

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
