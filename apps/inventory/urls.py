from django.urls import path

from .views import documents, levels

app_name = "stock"
urlpatterns = [
    path("", levels.index, name="index"),
    path("variant/<str:sku>/", levels.variant_stock, name="variant"),
    path("movements/", levels.movement_list, name="movements"),
    path("adjust/", levels.adjustment, name="adjust"),
    path("transfers/", documents.transfer_list, name="transfers"),
    path("transfers/new/", documents.transfer_new, name="transfer_new"),
    path("transfers/<int:pk>/", documents.transfer_detail, name="transfer"),
    path("transfers/<int:pk>/<str:action>/", documents.transfer_action, name="transfer_action"),
    path("stocktakes/", documents.stocktake_list, name="stocktakes"),
    path("stocktakes/new/", documents.stocktake_new, name="stocktake_new"),
    path("stocktakes/<int:pk>/", documents.stocktake_detail, name="stocktake"),
    path("stocktakes/<int:pk>/scan/", documents.stocktake_scan, name="stocktake_scan"),
    path("stocktakes/<int:pk>/review/", documents.stocktake_review, name="stocktake_review"),
    path("stocktakes/<int:pk>/<str:action>/", documents.stocktake_action, name="stocktake_action"),
    path("alerts/", levels.alert_list, name="alerts"),
    # Location codes are capitals, so they never shadow the lower-case paths above.
    path("<str:code>/", levels.location_stock, name="location"),
]
