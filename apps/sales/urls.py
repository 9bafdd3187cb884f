from django.urls import path

from apps.core.views import area_placeholder

app_name = "orders"
urlpatterns = [
    path(
        "",
        area_placeholder("orders", "Orders", "POS sales, online orders, pickups and returns."),
        name="index",
    ),
]
