"""The devices screen shows who is connected to /ws/pos/ now, and keeps it current."""

from playwright.sync_api import expect
from websockets.sync.client import connect


def test_connected_now_follows_a_till_connecting_and_leaving(
    login, asgi_server, manager_a, device_a
):
    client, key = device_a
    page = login(manager_a)
    page.goto(f"{asgi_server.url}/accounts/devices/")
    cell = page.locator(f"[data-client-id='{client.pk}'] [data-testid=device-connected]")
    expect(cell).to_have_text("no")

    url = asgi_server.url.replace("http://", "ws://") + "/ws/pos/"
    with connect(url, subprotocols=[f"token.{key}"]) as socket:
        socket.send('{"type": "ping"}')
        assert socket.recv(timeout=5) == '{"type":"pong"}'
        # No reload: the rows poll every 5 s.
        expect(cell).to_have_text("yes (1)", timeout=12_000)
    expect(cell).to_have_text("no", timeout=12_000)
    # The page is still whole after the polls (the create form was not swapped away).
    expect(page.get_by_test_id("create")).to_be_visible()
