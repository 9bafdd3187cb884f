from django.urls import path

from . import views

app_name = "catalog"
urlpatterns = [
    path("", views.product_list, name="index"),
    path("products/new/", views.product_create, name="product_create"),
    path("products/validate/", views.product_validate, name="product_validate"),
    path("products/<int:pk>/", views.product_detail, name="product"),
    path("products/<int:pk>/edit/", views.product_edit, name="product_edit"),
    path("products/<int:pk>/variants/new/", views.variant_create, name="variant_create"),
    path("variants/<int:pk>/edit/", views.variant_edit, name="variant_edit"),
    path("variants/<int:pk>/active/", views.variant_set_active, name="variant_set_active"),
    path("variants/<int:pk>/barcodes/", views.barcode_add, name="barcode_add"),
    path("variants/<int:pk>/prices/", views.location_price_set, name="location_price_set"),
    path("barcodes/<int:pk>/delete/", views.barcode_remove, name="barcode_remove"),
]
