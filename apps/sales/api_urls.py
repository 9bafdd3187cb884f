"""API routes of this app, mounted under /api/v1/ by omo_site/urls.py."""

from django.urls import path

from . import api

urlpatterns = [
    path("pricing/quote", api.QuoteView.as_view(), name="api-pricing-quote"),
    path("sales", api.SaleCreateView.as_view(), name="api-sales"),
    path("sales/sync", api.SaleSyncView.as_view(), name="api-sales-sync"),
    path("sales/<str:number>", api.SaleDetailView.as_view(), name="api-sale-detail"),
    path("returns", api.ReturnCreateView.as_view(), name="api-returns"),
    path("online-orders", api.OnlineOrderCreateView.as_view(), name="api-online-orders"),
    path("pickups", api.PickupListView.as_view(), name="api-pickups"),
    path(
        "pickups/<str:number>/<str:step>",
        api.PickupTransitionView.as_view(),
        name="api-pickup-step",
    ),
]
