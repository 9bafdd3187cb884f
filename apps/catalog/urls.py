from django.urls import path

from apps.core.views import area_placeholder

app_name = "catalog"
urlpatterns = [
    path(
        "",
        area_placeholder("catalog", "Catalog", "Products, variants, barcodes and location prices."),
        name="index",
    ),
]
