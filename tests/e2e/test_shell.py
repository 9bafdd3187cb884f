from playwright.sync_api import expect

from tests.factories import LocationFactory


def test_manager_logs_in_and_moves_through_the_shell(login, asgi_server, manager_a, store_b):
    other = LocationFactory(code="SA2", name="Store A two")
    manager_a.memberships.create(location=other, role="manager")

    page = login(manager_a)
    expect(page.get_by_test_id("location-title")).to_have_text("Store A")

    # The switcher offers the two managed stores and never store B.
    options = page.locator("[data-testid=location-switcher] select option")
    expect(options).to_have_count(2)
    assert "SB1" not in page.locator("[data-testid=location-switcher]").inner_text()

    # Boosted navigation swaps the page through htmx and pushes the URL.
    with page.expect_request(lambda r: r.headers.get("hx-request") == "true"):
        page.get_by_role("link", name="Catalog").click()
    expect(page).to_have_url(f"{asgi_server.url}/catalog/")
    expect(page.locator("h1")).to_have_text("Catalog")

    page.get_by_role("link", name="Stock").click()
    expect(page).to_have_url(f"{asgi_server.url}/stock/")

    # Back and reload both give full pages (navigation included), never a bare fragment.
    page.go_back()
    expect(page).to_have_url(f"{asgi_server.url}/catalog/")
    page.reload()
    expect(page.locator("h1")).to_have_text("Catalog")
    expect(page.get_by_role("link", name="Orders")).to_be_visible()

    # Switching location through the switcher lands on the other store.
    page.locator("[data-testid=location-switcher] select").select_option("SA2")
    expect(page.get_by_test_id("location-title")).to_have_text("Store A two")


def test_wrong_password_shows_the_same_message_as_unknown_email(page, asgi_server, manager_a):
    page.goto(f"{asgi_server.url}/accounts/login/")
    page.fill("input[name=username]", manager_a.email)
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    wrong_password = page.get_by_test_id("login-error").inner_text()

    page.fill("input[name=username]", "nobody@example.test")
    page.fill("input[name=password]", "whatever")
    page.click("button[type=submit]")
    assert page.get_by_test_id("login-error").inner_text() == wrong_password


def test_hq_admin_sees_every_location_and_a_manager_cannot_open_another_store(
    login, page, asgi_server, hq_admin, manager_b, store_a, store_b
):
    login(hq_admin)
    options = page.locator("[data-testid=location-switcher] select option")
    expect(options).to_have_count(2)
    page.locator("[data-testid=location-switcher] select").select_option("SB1")
    expect(page.get_by_test_id("location-title")).to_have_text("Store B")
    # Not a superuser: no link to the Django admin.
    expect(page.get_by_role("link", name="Django admin")).to_have_count(0)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{asgi_server.url}/accounts/login/")

    login(manager_b)
    response = page.goto(f"{asgi_server.url}/stores/SA1/")
    assert response.status == 404
    assert "Store A" not in page.content()
    # The refused request did not move the manager off their own store.
    page.goto(f"{asgi_server.url}/")
    expect(page.get_by_test_id("location-title")).to_have_text("Store B")


def test_an_associate_browses_the_shell_read_only(login, page, asgi_server, associate_a, store_b):
    login(associate_a)
    expect(page.get_by_test_id("location-title")).to_have_text("Store A")
    expect(page.get_by_test_id("devices-link")).to_have_count(0)
    for area in ["Orders", "Members", "Reports"]:
        page.get_by_role("link", name=area).click()
        expect(page.locator("h1").first).to_be_visible()
        expect(page.get_by_role("link", name="Catalog")).to_be_visible()
    response = page.goto(f"{asgi_server.url}/accounts/devices/")
    assert response.status == 403
