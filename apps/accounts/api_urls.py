from django.urls import path

from . import api

urlpatterns = [path("pos/session", api.SessionView.as_view(), name="api-session")]
