"""The ASGI application runs each HTTP request's middleware chain and view in one sync
call (omo_site.handlers): the same middleware still do the same things through it."""

import json
import threading

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from asgiref.testing import ApplicationCommunicator
from django.core.signals import request_finished, request_started
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

from omo_site.asgi import django_asgi_app
from omo_site.handlers import SyncChainASGIHandler
from tests.asgi import http_exchange, http_scope

pytestmark = pytest.mark.django_db(transaction=True)


def _request(method, path, *, body=b"", headers=(), query_string=b""):
    scope = http_scope(method, path, headers=headers, query_string=query_string)
    return async_to_sync(http_exchange)(scope, body)


def test_the_chain_is_the_sync_one():
    assert isinstance(django_asgi_app, SyncChainASGIHandler)
    assert not iscoroutinefunction(django_asgi_app._middleware_chain)


def test_a_token_request_through_asgi_is_answered_with_the_security_headers(device_a):
    headers = [
        (b"authorization", f"Token {device_a[1]}".encode()),
        (b"content-type", b"application/json"),
    ]
    status, response_headers, _ = _request("GET", "/api/v1/stock", headers=headers)
    assert status == 200
    assert response_headers[b"x-frame-options"] == b"DENY"


def test_without_a_token_the_api_refuses_through_asgi(db):
    status, _, content = _request("GET", "/api/v1/stock")
    assert status in (401, 403)
    assert "code" in json.loads(content)


def test_nul_in_a_json_body_is_still_the_contract_400_through_asgi(device_a):
    headers = [
        (b"authorization", f"Token {device_a[1]}".encode()),
        (b"content-type", b"application/json"),
    ]
    status, _, content = _request(
        "POST", "/api/v1/sales", body=b'{"name": "a\\u0000b"}', headers=headers
    )
    assert status == 400
    assert json.loads(content)["code"] == "invalid"


def test_a_back_office_post_without_the_csrf_token_is_still_refused(client, manager_a, store_a):
    client.force_login(manager_a)
    cookie = client.cookies["sessionid"].value
    status, _, _ = _request(
        "POST",
        "/stores/switch/",
        body=b"location=SA1",
        headers=[
            (b"cookie", f"sessionid={cookie}".encode()),
            (b"content-type", b"application/x-www-form-urlencoded"),
        ],
    )
    assert status == 403


def test_a_signed_in_page_through_asgi_varies_on_htmx(client, manager_a, store_a):
    client.force_login(manager_a)
    cookie = client.cookies["sessionid"].value
    status, headers, _ = _request(
        "GET", f"/stores/{store_a.code}/", headers=[(b"cookie", f"sessionid={cookie}".encode())]
    )
    assert status == 200
    assert b"HX-Request" in headers[b"vary"]


def test_requests_reuse_an_idle_request_thread(device_a):
    headers = [(b"authorization", f"Token {device_a[1]}".encode())]
    _request("GET", "/api/v1/stock", headers=headers)
    idle = list(django_asgi_app._idle)
    assert idle
    status, _, _ = _request("GET", "/api/v1/stock", headers=headers)
    assert status == 200
    assert django_asgi_app._idle == idle  # the same executor (thread), back in the list
    # The reused thread gave its database connection back at the end of each request.
    from django.db import connection

    assert idle[0].submit(lambda: connection.connection is None).result()


def test_what_the_asgi_module_loaded_is_kept_out_of_full_collections():
    import gc

    assert gc.get_freeze_count() > 0


def _streamed(request):
    return StreamingHttpResponse(iter([b"one ", b"two"]), content_type="text/plain")


async def _async_view(request):
    return HttpResponse(b"async", content_type="text/plain")


streamed_on = []  # (where, thread) of the last stream's view and parts


def _parts(fail: bool):
    from django.db import connection

    try:
        streamed_on.append(("part", threading.get_ident()))
        with connection.cursor() as cursor:  # a database read inside the stream
            cursor.execute("SELECT 1")
        yield b"one "
        if fail:
            raise RuntimeError("stream failed")
        while True:
            streamed_on.append(("part", threading.get_ident()))
            yield b"more "
    finally:
        streamed_on.append(("closed", threading.get_ident()))


def _endless(request):
    streamed_on[:] = [("view", threading.get_ident())]
    return StreamingHttpResponse(_parts(fail=False), content_type="text/plain")


def _failing(request):
    streamed_on[:] = [("view", threading.get_ident())]
    return StreamingHttpResponse(_parts(fail=True), content_type="text/plain")


urlpatterns = [
    path("streamed", _streamed),
    path("async", _async_view),
    path("endless", _endless),
    path("failing", _failing),
]


@pytest.fixture
def signals_sent():
    sent = []

    def started(**kwargs):
        sent.append("started")

    def finished(**kwargs):
        sent.append("finished")

    request_started.connect(started)
    request_finished.connect(finished)
    yield sent
    request_started.disconnect(started)
    request_finished.disconnect(finished)


def test_each_request_starts_and_finishes_once(device_a, signals_sent):
    headers = [(b"authorization", f"Token {device_a[1]}".encode())]
    status, _, _ = _request("GET", "/api/v1/stock", headers=headers)
    assert status == 200
    assert signals_sent == ["started", "finished"]


def test_a_streaming_response_is_sent_whole_and_closed(settings, signals_sent):
    settings.ROOT_URLCONF = __name__
    status, headers, content = _request("GET", "/streamed")
    assert status == 200
    assert headers[b"content-type"] == b"text/plain"
    assert content == b"one two"
    assert signals_sent == ["started", "finished"]


def test_a_query_string_that_is_not_utf8_is_refused_before_the_middleware(signals_sent):
    status, _, _ = _request("GET", "/api/v1/stock", query_string=b"q=\xff")
    assert status == 400  # Django's answer, not the API's 401 for a missing token
    assert signals_sent == ["started", "finished"]


def test_an_async_view_is_still_answered(settings, signals_sent):
    settings.ROOT_URLCONF = __name__
    status, _, content = _request("GET", "/async")
    assert status == 200
    assert content == b"async"
    assert signals_sent == ["started", "finished"]


def _stream_scope(path):
    return http_scope("GET", path)


def _request_thread_has_no_connection():
    from django.db import connection

    executor = django_asgi_app._idle[-1]  # the request's thread, back in the list
    return executor.submit(lambda: connection.connection is None).result()


def test_a_client_leaving_mid_stream_stops_it_on_the_request_thread(settings, signals_sent):
    settings.ROOT_URLCONF = __name__

    async def run():
        communicator = ApplicationCommunicator(django_asgi_app, _stream_scope("/endless"))
        await communicator.send_input({"type": "http.request", "body": b""})
        assert (await communicator.receive_output(10))["status"] == 200
        assert (await communicator.receive_output(10))["body"] == b"one "
        await communicator.send_input({"type": "http.disconnect"})
        await communicator.wait(10)

    async_to_sync(run)()
    view_thread = streamed_on[0][1]
    # Every part was made, and the generator closed, on the request's own thread.
    assert {thread for _, thread in streamed_on} == {view_thread}
    assert streamed_on[-1][0] == "closed", streamed_on
    assert signals_sent == ["started", "finished"]
    assert _request_thread_has_no_connection()  # request_finished closed the stream's


def test_a_stream_that_raises_is_still_closed_and_finished(settings, signals_sent):
    settings.ROOT_URLCONF = __name__

    async def run():
        communicator = ApplicationCommunicator(django_asgi_app, _stream_scope("/failing"))
        await communicator.send_input({"type": "http.request", "body": b""})
        assert (await communicator.receive_output(10))["status"] == 200
        assert (await communicator.receive_output(10))["body"] == b"one "
        with pytest.raises(RuntimeError, match="stream failed"):
            await communicator.wait(10)

    async_to_sync(run)()
    assert {thread for _, thread in streamed_on} == {streamed_on[0][1]}
    assert signals_sent == ["started", "finished"]
    assert _request_thread_has_no_connection()
