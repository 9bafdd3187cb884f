from django.urls import path

from apps.core.views import area_placeholder

app_name = "reports"
urlpatterns = [
    path(
        "",
        area_placeholder(
            "reports", "Reports", "Cross-store, cross-channel reports and dashboards."
        ),
        name="index",
    ),
]
