from django.urls import path

from . import views

app_name = "stores"
urlpatterns = [
    path("switch/", views.switch, name="switch"),
    path("<str:code>/", views.dashboard, name="dashboard"),
]
