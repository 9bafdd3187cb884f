"""ASGI entry point: HTTP through Django, websockets through Channels."""

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omo_site.settings.base")
# Django must be set up before the routing imports consumers and models.
django.setup(set_prefix=False)

from omo_site.handlers import SyncChainASGIHandler  # noqa: E402

django_asgi_app = SyncChainASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from omo_site.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # POS clients send no Origin header and authenticate by token, not cookie, so
        # origin checks belong to the consumers that accept a browser session.
        "websocket": URLRouter(websocket_urlpatterns),
    }
)

# What is loaded by now (Django, the apps, the websocket routes) lives as long as the process:
# keep it out of the collector's full passes. In-process, one full collection over it
# paused a worker for ~70 ms during 800 POS sales (every request then in flight waits),
# none with it frozen.
gc.collect()
gc.freeze()
