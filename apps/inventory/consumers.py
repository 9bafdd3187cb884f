"""Live stock for the back-office stock screen: `/ws/backoffice/stock/<CODE>/`.

Authenticates the session user (the route is wrapped in AuthMiddlewareStack), refuses a
cross-site page (Origin must match Host, since a session cookie rides along with any
page's websocket) and a location the user may not see (close code 4403), then forwards
the location stream's committed stock events. Delivery is at most once; the page
refetches its table when it reconnects, so nothing committed is missed for long.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.core.events import location_stream, stream_group
from apps.stores.selectors import location_list_visible

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def _origin_matches_host(scope) -> bool:
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", [])
    }
    origin, host = headers.get("origin", ""), headers.get("host", "")
    return bool(origin) and bool(host) and urlsplit(origin).netloc.lower() == host.lower()


@database_sync_to_async
def _may_see(user, code: str) -> bool:
    return location_list_visible(user).filter(code=code).exists()


class BackofficeStockConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self):
        await self.accept()
        user = self.scope.get("user")
        code = self.scope["url_route"]["kwargs"]["code"]
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not _origin_matches_host(self.scope) or not await _may_see(user, code):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = stream_group(location_stream(code))
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "hello", "location": code})

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # Read-only stream: the page sends nothing that matters.
        return

    async def stream_event(self, event):
        await self.send_json(event["message"])

    async def stream_events(self, event):
        # Several events of the stream in one layer message (apps.core.events), in order.
        for message in event["messages"]:
            await self.send_json(message)
