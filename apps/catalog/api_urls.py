"""API routes of this app, mounted under /api/v1/ by omo_site/urls.py."""

from django.urls import path

from . import api

# `path:` because SKUs and barcodes are free text (they may hold "/" or spaces, and
# barcodes keep their leading zeros): never convert them to numbers.
urlpatterns = [
    path("catalog/variants", api.VariantListView.as_view(), name="api-variant-list"),
    path("catalog/variants/<path:sku>", api.VariantDetailView.as_view(), name="api-variant"),
    path("catalog/barcodes/<path:barcode>", api.BarcodeDetailView.as_view(), name="api-barcode"),
]
