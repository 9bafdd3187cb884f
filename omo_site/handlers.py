"""The HTTP side of the ASGI application."""

import asyncio
import contextlib
import contextvars
from concurrent.futures import ThreadPoolExecutor

from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix

from apps.core.events import server_loop

# Idle request threads kept for reuse, per process; past it a finished one is let go.
IDLE_THREADS_KEPT = 64


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler, with three savings per request, measured in-process:

    - The whole middleware chain and view run in one sync call, as under WSGI. Every
      view and most of the middleware (MiddlewareMixin, project middleware) are sync; in
      Django's async chain each of them was a thread hop of its own (sync_to_async for
      every process_request/process_response, async_to_sync back out around a sync-only
      one). The middleware, their order and what they do are unchanged; an async view,
      if one is ever added, still works (Django runs it with async_to_sync).
    - That call also sends request_started, builds the request, encodes the response
      and closes it (request_finished), as WSGI does: Django's handler made a thread
      hop for each of these, and ran the view in a task of its own beside another one
      listening for the client's disconnect. A sync view cannot be stopped by that
      anyway; a streaming response, which can, is still sent that way.
    - A request's sync work still runs on one thread of its own (its database
      connection is that thread's), but the thread is reused by later requests instead
      of being started for each request and joined by yet another thread after it.
    """

    def __init__(self):
        super().__init__()
        self._idle: list[ThreadPoolExecutor] = []

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        # Only the event loop's thread touches the list: no lock needed.
        executor = self._idle.pop() if self._idle else ThreadPoolExecutor(1, "request")
        try:
            await self._handle(scope, receive, send, executor)
        finally:
            if len(self._idle) < IDLE_THREADS_KEPT:
                self._idle.append(executor)
            else:
                executor.shutdown(wait=False)

    async def _handle(self, scope, receive, send, executor):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        # Live stock sent from the request's thread to the in-memory channel layer runs
        # on this loop, which owns the layer's queues (apps.core.events.broadcast).
        context.run(server_loop.set, loop)
        try:
            # A plain executor call, not sync_to_async: nothing async runs inside it (an
            # async view is run by Django with async_to_sync, on a loop of its own), so
            # asgiref's bookkeeping for calls back into this loop costs without use.
            response, messages = await loop.run_in_executor(
                executor, context.run, self._respond, scope, body_file
            )
            if messages is None:
                try:
                    await self._send_streaming(response, receive, send, executor, context)
                finally:
                    # On the request's thread: request_finished closes its connection.
                    await loop.run_in_executor(executor, context.run, response.close)
            else:
                for message in messages:
                    await send(message)
        finally:
            body_file.close()

    def _respond(self, scope, body_file):
        """What Django's handle does between reading the body and sending the answer,
        in one sync call: (response, its ASGI messages), or (response, None) for a
        streaming one, still open, to send by `_send_streaming`."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if response.streaming:
            return response, None
        try:
            messages = [self._response_start(response)]
            messages.extend(
                {"type": "http.response.body", "body": chunk, "more_body": not last}
                for chunk, last in self.chunk_bytes(response.content)
            )
        finally:
            response.close()
        return response, messages

    @staticmethod
    def _response_start(response):
        # As Django's send_response: header case kept, cookies as Set-Cookie headers.
        headers = [
            (
                header.encode("ascii") if isinstance(header, str) else bytes(header),
                value.encode("latin1") if isinstance(value, str) else bytes(value),
            )
            for header, value in response.items()
        ]
        headers.extend(
            (b"Set-Cookie", cookie.output(header="").encode("ascii").strip())
            for cookie in response.cookies.values()
        )
        return {"type": "http.response.start", "status": response.status_code, "headers": headers}

    async def _send_streaming(self, response, receive, send, executor, context):
        """Django's way: stop streaming when the client disconnects. A sync iterator (a
        FileResponse, a generator reading the database) is advanced on the request's
        thread, a part per call, as under WSGI; Django's own way reads it whole on
        asgiref's one thread per process, every worker's streams queued behind each other."""
        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(self._send_parts(response, send, executor, context)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if not task.done():
                task.cancel()
            with contextlib.suppress(RequestAborted, asyncio.CancelledError):
                await task

    async def _send_parts(self, response, send, executor, context):
        await send(self._response_start(response))
        if response.is_async:
            parts = aiter(response)
        else:
            parts = self._parts_on(executor, context, iter(response.streaming_content))
        async with contextlib.aclosing(parts):
            async for part in parts:
                for chunk, _ in self.chunk_bytes(part):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body"})

    @staticmethod
    async def _parts_on(executor, context, iterator):
        loop = asyncio.get_running_loop()
        end = object()
        while (
            part := await loop.run_in_executor(executor, context.run, next, iterator, end)
        ) is not end:
            yield part
