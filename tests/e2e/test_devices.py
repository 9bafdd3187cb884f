from playwright.sync_api import expect

from apps.accounts.models import ApiClient


def test_manager_creates_a_device_sees_the_key_once_and_revokes_it(
    login, asgi_server, manager_a, store_a, store_b
):
    page = login(manager_a)
    page.get_by_test_id("devices-link").click()
    expect(page).to_have_url(f"{asgi_server.url}/accounts/devices/")
    expect(page.get_by_test_id("empty-state")).to_be_visible()
    # Only the managed store is offered.
    expect(page.locator("[data-testid=location] option")).to_have_count(1)

    page.get_by_test_id("name").fill("Till 7")
    page.get_by_test_id("create").click()
    key = page.get_by_test_id("new-key").input_value()
    assert key
    expect(page.get_by_test_id("copy-key")).to_be_visible()
    expect(page.get_by_test_id("new-key-panel")).to_contain_text("shown only this once")
    expect(page.get_by_test_id("device-row")).to_have_count(1)

    session = f"{asgi_server.url}/api/v1/pos/session"
    response = page.request.get(session, headers={"Authorization": f"Token {key}"})
    assert response.status == 200
    assert response.json()["location"]["code"] == "SA1"

    # Back after boosted navigation restores the page without the key: the key panel
    # keeps htmx from saving the page in its history cache (localStorage).
    page.get_by_role("link", name="Catalog").click()
    expect(page).to_have_url(f"{asgi_server.url}/catalog/")
    page.go_back()
    expect(page).to_have_url(f"{asgi_server.url}/accounts/devices/")
    expect(page.get_by_test_id("device-row")).to_have_count(1)
    expect(page.get_by_test_id("new-key")).to_have_count(0)
    assert key not in page.evaluate("JSON.stringify(window.localStorage)")

    # A reload shows the list again, never the key.
    page.reload()
    expect(page.get_by_test_id("device-row")).to_have_count(1)
    expect(page.get_by_test_id("new-key")).to_have_count(0)
    assert key not in page.content()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("revoke").click()
    expect(page.get_by_test_id("device-status")).to_contain_text("revoked")
    assert ApiClient.objects.get().revoked_at is not None

    response = page.request.get(session, headers={"Authorization": f"Token {key}"})
    assert response.status == 401
    assert response.json()["code"] == "authentication_failed"
