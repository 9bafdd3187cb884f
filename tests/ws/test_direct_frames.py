"""The consumer's short way for live frames (apps.core.consumers._DirectSocket) writes
bytes made once per event by the relay; they must be exactly what uvicorn's own send
would have written, and the short way is only taken where that holds."""

from __future__ import annotations

import pytest
from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request
from websockets.server import ServerProtocol

from apps.core.consumers import _DirectSocket
from apps.core.relay import text_frame, wire_text


def _handshake(protocol: ServerProtocol, deflate: bool) -> None:
    headers = {
        "Host": "x",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    if deflate:
        headers["Sec-WebSocket-Extensions"] = "permessage-deflate"
    request = Request("/ws/pos/", Headers(headers))
    protocol.send_response(protocol.accept(request))
    protocol.data_to_send()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_text_frame_is_what_websockets_would_send(size):
    text = "é" * (size // 2) + "x" * (size % 2)
    protocol = ServerProtocol()
    _handshake(protocol, deflate=False)
    protocol.send_text(text.encode())
    assert text_frame(text) == b"".join(protocol.data_to_send())


def test_the_relay_makes_each_event_frame_once():
    wire = wire_text("location.S1", {"type": "stock", "seq": 3, "sku": "A", "on_hand": 1})
    assert wire.frame == text_frame(wire.text)


def test_no_short_way_for_other_servers_or_negotiated_extensions(monkeypatch):
    async def asgi_send(message):  # e.g. daphne's, or the test communicator's
        return None

    assert _DirectSocket.of(asgi_send) is None

    class Protocol:
        close_sent = False

        def __init__(self, deflate: bool):
            extensions = [ServerPerMessageDeflateFactory()] if deflate else []
            self.conn = ServerProtocol(extensions=extensions)
            _handshake(self.conn, deflate)

        async def send(self, message):
            return None

    monkeypatch.setattr("apps.core.consumers.WebSocketsSansIOProtocol", Protocol)
    assert _DirectSocket.of(Protocol(deflate=True).send) is None
    assert _DirectSocket.of(Protocol(deflate=False).send) is not None
