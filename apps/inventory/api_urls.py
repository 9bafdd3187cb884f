"""API routes of this app, mounted under /api/v1/ by omo_site/urls.py."""

from django.urls import path

from . import api

urlpatterns = [
    path("stock", api.StockListView.as_view(), name="api-stock-list"),
    # `path:` because SKUs are free text and may hold "/".
    path("stock/<path:sku>", api.SkuStockView.as_view(), name="api-stock-sku"),
]
