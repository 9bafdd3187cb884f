from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core.api import api_not_found

api_v1 = [
    path("", include("apps.sales.api_urls")),
    path("", include("apps.inventory.api_urls")),
    path("", include("apps.catalog.api_urls")),
    path("", include("apps.accounts.api_urls")),
]

urlpatterns = [
    # First: a POS posts many requests a minute, and every pattern tried before costs each
    # of them (the prefixes do not overlap, so the order changes nothing else).
    path("api/v1/", include(api_v1)),
    path("", include("apps.core.urls")),
    path("accounts/", include("apps.accounts.urls")),
    path("stores/", include("apps.stores.urls")),
    path("catalog/", include("apps.catalog.urls")),
    path("stock/", include("apps.inventory.urls")),
    path("orders/", include("apps.sales.urls")),
    path("members/", include("apps.loyalty.urls")),
    path("staff/", include("apps.staff_binding.urls")),
    path("campaigns/", include("apps.campaigns.urls")),
    path("imports/", include("apps.imports.urls")),
    path("reports/", include("apps.reports.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/", api_not_found),
]
