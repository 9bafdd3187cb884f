"""Websocket routes, one line per consumer; apps own their consumers."""

from channels.auth import AuthMiddlewareStack
from django.urls import path

from apps.inventory.consumers import BackofficeStockConsumer

websocket_urlpatterns: list = [
    path(
        "ws/backoffice/stock/<str:code>/",
        AuthMiddlewareStack(BackofficeStockConsumer.as_asgi()),
    ),
]
