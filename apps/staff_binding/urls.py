from django.urls import path

from apps.core.views import area_placeholder

app_name = "staff"
urlpatterns = [
    path(
        "",
        area_placeholder(
            "staff", "Staff", "Associates, customer bindings and attribution of sales."
        ),
        name="index",
    ),
]
