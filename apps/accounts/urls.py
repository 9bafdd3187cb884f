from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("devices/", views.device_list, name="devices"),
    path("devices/new/", views.device_create, name="device-create"),
    path("devices/<int:client_id>/revoke/", views.device_revoke, name="device-revoke"),
]
