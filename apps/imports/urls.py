from django.urls import path

from apps.core.views import area_placeholder

app_name = "imports"
urlpatterns = [
    path(
        "",
        area_placeholder(
            "imports",
            "Imports",
            "Bulk import and export of SKUs, prices and stock from spreadsheets.",
        ),
        name="index",
    ),
]
