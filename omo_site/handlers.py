"""The HTTP side of the ASGI application."""

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler, but running the whole middleware chain and view in one
    sync call per request, as under WSGI.

    Every view and most of the middleware (MiddlewareMixin, project middleware) are
    sync. In Django's async chain each of them is a thread hop of its own (sync_to_async
    for every process_request/process_response, async_to_sync back out around a sync-only
    one): measured in-process, that was over half of a POS sale's server CPU and most of
    the bare view's. The middleware, their order and what they do are unchanged; an
    async view, if one is ever added, still works (Django runs it with async_to_sync).
    """

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)
