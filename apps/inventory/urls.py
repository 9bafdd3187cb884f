from django.urls import path

from apps.core.views import area_placeholder

app_name = "stock"
urlpatterns = [
    path(
        "",
        area_placeholder(
            "stock", "Stock", "Stock levels, movements, transfers, stocktakes and alerts."
        ),
        name="index",
    ),
]
