"""A bare ASGI application for the launcher's tests (tests/core/test_serve.py): it answers
every request with the pid of the worker process that served it."""

import os


async def application(scope, receive, send):
    body = str(os.getpid()).encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
