"""Websocket routes, one line per consumer; apps own their consumers."""

websocket_urlpatterns: list = []
