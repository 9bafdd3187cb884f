"""HTTP through the real ASGI application (omo_site.asgi), for tests that need the
server's own path: the handler, its threads, the loop live stock is sent on; and the
websocket communicator the tests use."""

from asgiref.testing import ApplicationCommunicator
from channels import testing

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


class WebsocketCommunicator(testing.WebsocketCommunicator):
    """channels' communicator, with database_sync_to_async left as in production.

    channels' own turns close_old_connections into a no-op, process-wide, while a test
    waits on it (for TestCase, whose transaction lives in the connection such a call
    would close). Every websocket test here is transactional. With Django's pool, a
    connection a consumer's or the relay's worker thread then kept stays checked out:
    the relay's thread_sensitive=False threads end with the test's loop and only the
    garbage collector, whenever it runs, ends their session, so DROP DATABASE at the end
    of the run found the test database "accessed by other users" now and then.
    """

    async def send_input(self, message):
        return await ApplicationCommunicator.send_input(self, message)

    async def receive_output(self, timeout=1):
        return await ApplicationCommunicator.receive_output(self, timeout)
