from django.urls import path

from apps.core.views import area_placeholder

app_name = "members"
urlpatterns = [
    path(
        "",
        area_placeholder(
            "members", "Members", "Members, points, store credit, tiers and vouchers."
        ),
        name="index",
    ),
]
