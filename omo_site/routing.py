"""Websocket routes, one line per consumer; apps own their consumers."""

from channels.auth import AuthMiddlewareStack
from django.urls import path

from apps.core.consumers import PosConsumer
from apps.inventory.consumers import BackofficeStockConsumer

websocket_urlpatterns: list = [
    path("ws/pos/", PosConsumer.as_asgi()),
    path(
        "ws/backoffice/stock/<str:code>/",
        AuthMiddlewareStack(BackofficeStockConsumer.as_asgi()),
    ),
]
