from django.urls import path

from . import views

app_name = "stock"
urlpatterns = [
    path("", views.index, name="index"),
    path("variant/<str:sku>/", views.variant_stock, name="variant"),
    path("movements/", views.movement_list, name="movements"),
    path("adjust/", views.adjustment, name="adjust"),
    path("transfers/", views.transfer_list, name="transfers"),
    path("transfers/new/", views.transfer_new, name="transfer_new"),
    path("transfers/<int:pk>/", views.transfer_detail, name="transfer"),
    path("transfers/<int:pk>/<str:action>/", views.transfer_action, name="transfer_action"),
    path("stocktakes/", views.stocktake_list, name="stocktakes"),
    path("stocktakes/new/", views.stocktake_new, name="stocktake_new"),
    path("stocktakes/<int:pk>/", views.stocktake_detail, name="stocktake"),
    path("stocktakes/<int:pk>/scan/", views.stocktake_scan, name="stocktake_scan"),
    path("stocktakes/<int:pk>/review/", views.stocktake_review, name="stocktake_review"),
    path("stocktakes/<int:pk>/<str:action>/", views.stocktake_action, name="stocktake_action"),
    path("alerts/", views.alert_list, name="alerts"),
    # Location codes are capitals, so they never shadow the lower-case paths above.
    path("<str:code>/", views.location_stock, name="location"),
]
