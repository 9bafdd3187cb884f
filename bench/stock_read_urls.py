"""The product's URLs plus a bare view returning a constant (benchmark baseline only)."""

from django.http import JsonResponse
from django.urls import path

from omo_site.urls import urlpatterns as product_urlpatterns


def constant(request):
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/constant", constant), *product_urlpatterns]
