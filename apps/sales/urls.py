from django.urls import path

from . import views

app_name = "orders"
urlpatterns = [
    path("", views.order_list, name="index"),
    path("discrepancies/", views.discrepancy_list, name="discrepancies"),
    path(
        "discrepancies/<int:pk>/review/",
        views.discrepancy_mark_reviewed,
        name="discrepancy-review",
    ),
    path("pickups/", views.pickup_board, name="pickups"),
    path("pickups/<str:number>/<str:step>/", views.pickup_step, name="pickup-step"),
    path("<str:number>/", views.order_detail, name="detail"),
]
