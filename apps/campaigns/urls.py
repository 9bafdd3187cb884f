from django.urls import path

from apps.core.views import area_placeholder

app_name = "campaigns"
urlpatterns = [
    path(
        "",
        area_placeholder("campaigns", "Campaigns", "Promotions, coupons and the pricing engine."),
        name="index",
    ),
]
