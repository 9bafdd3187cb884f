"""HTTP through the real ASGI application (omo_site.asgi), for tests that need the
server's own path: the handler, its threads, the loop live stock is sent on."""

from asgiref.testing import ApplicationCommunicator

from omo_site.asgi import django_asgi_app


def http_scope(method: str, path: str, *, headers=(), query_string: bytes = b"") -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string,
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }


async def http_exchange(scope: dict, body: bytes = b"") -> tuple[int, dict, bytes]:
    """(status, headers with lower-case names, body) once the handler has finished,
    including closing the response after sending it."""
    communicator = ApplicationCommunicator(django_asgi_app, scope)
    await communicator.send_input({"type": "http.request", "body": body})
    start = await communicator.receive_output(10)
    content = b""
    while True:
        message = await communicator.receive_output(10)
        content += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(10)
    return start["status"], {k.lower(): v for k, v in start["headers"]}, content
