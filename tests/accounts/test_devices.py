"""The manager screens for POS devices and integrations (/accounts/devices/)."""

import re

import pytest
from django.urls import reverse

from apps.accounts.models import ApiClient
from apps.core.presence import new_connection_id, presence_enter, presence_leave
from tests.factories import LocationFactory, integration, pos_device

pytestmark = pytest.mark.django_db

DEVICES = reverse("accounts:devices")
CREATE = reverse("accounts:device-create")
SESSION = "/api/v1/pos/session"


def revoke_url(client):
    return reverse("accounts:device-revoke", args=[client.pk])


def rows(response):
    return [client.name for client in response.context["clients"]]


def test_a_manager_sees_only_the_devices_of_the_stores_they_manage(
    client, manager_a, store_a, store_b, integration_client
):
    pos_device(store_a, "Till A")
    pos_device(store_b, "Till B")
    client.force_login(manager_a)
    response = client.get(DEVICES)
    assert response.status_code == 200
    assert rows(response) == ["Till A"]
    html = response.content.decode()
    assert "Till B" not in html and "Online shop" not in html


def test_hq_sees_every_device_and_the_integrations(
    client, hq_admin, store_a, store_b, integration_client
):
    pos_device(store_a, "Till A")
    pos_device(store_b, "Till B")
    client.force_login(hq_admin)
    assert rows(client.get(DEVICES)) == ["Online shop", "Till A", "Till B"]


def test_the_list_shows_who_created_it_when_and_last_use(client, manager_a, store_a, api):
    device, key = pos_device(store_a, "Till A")
    api.get(SESSION, HTTP_AUTHORIZATION=f"Token {key}")
    device.refresh_from_db()
    client.force_login(manager_a)
    html = client.get(DEVICES).content.decode()
    assert device.created_at.strftime("%Y-%m-%d %H:%M") in html
    assert device.last_used_at.strftime("%Y-%m-%d %H:%M") in html
    assert "command line" in html  # created by create_device, not by a person


def test_the_list_query_count_does_not_grow_with_devices(
    client, hq_admin, store_a, django_assert_num_queries
):
    client.force_login(hq_admin)
    pos_device(store_a, "Till 0")
    client.get(DEVICES)  # warm the session
    with django_assert_num_queries(6) as small:
        client.get(DEVICES)
    for number in range(1, 12):
        other = LocationFactory(code=f"Q{number:02d}")
        device, _ = pos_device(other, f"Till {number}")
        ApiClient.objects.filter(pk=device.pk).update(created_by=hq_admin)
    integration("Marketplace")
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(DEVICES)
    assert len(rows(response)) == 13


def test_a_manager_creates_a_device_and_sees_its_key_once(client, manager_a, store_a, api):
    client.force_login(manager_a)
    response = client.post(CREATE, {"kind": "pos_device", "name": "Till 2", "location": "SA1"})
    assert response.status_code == 200
    key = response.context["key"]
    assert key and key in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    device = ApiClient.objects.get()
    assert (device.name, device.location, device.created_by, device.kind) == (
        "Till 2",
        store_a,
        manager_a,
        "pos_device",
    )
    assert key not in device.key_hash
    # The key works against the API, and the list never shows it again.
    assert api.get(SESSION, HTTP_AUTHORIZATION=f"Token {key}").json()["device"]["name"] == "Till 2"
    assert key not in client.get(DEVICES).content.decode()


def test_create_through_htmx_returns_the_fragment(client, manager_a, store_a):
    client.force_login(manager_a)
    response = client.post(
        CREATE, {"kind": "pos_device", "name": "Till 2", "location": "SA1"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="devices">')
    assert "<html" not in html
    assert 'hx-history="false"' in html
    assert ApiClient.objects.get().name == "Till 2"
    assert 'data-testid="new-key"' in html


def test_a_name_is_required_and_nothing_is_created(client, manager_a, store_a):
    client.force_login(manager_a)
    response = client.post(
        CREATE, {"kind": "pos_device", "name": "  ", "location": "SA1"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert ApiClient.objects.count() == 0


def test_a_manager_cannot_create_a_device_for_another_store(client, manager_a, store_a, store_b):
    client.force_login(manager_a)
    response = client.post(CREATE, {"kind": "pos_device", "name": "Sneaky", "location": "SB1"})
    assert response.status_code == 404
    assert "Store B" not in response.content.decode()
    assert ApiClient.objects.count() == 0


def test_a_manager_cannot_create_an_integration(client, manager_a, store_a):
    client.force_login(manager_a)
    response = client.post(CREATE, {"kind": "integration", "name": "Shop", "location": "SA1"})
    assert response.status_code == 400
    assert response.context["form"].errors["kind"]
    assert ApiClient.objects.count() == 0


def test_hq_creates_an_integration_without_a_location(client, hq_admin, store_a, api):
    client.force_login(hq_admin)
    response = client.post(CREATE, {"kind": "integration", "name": "Web shop", "location": "SA1"})
    assert response.status_code == 200
    shop = ApiClient.objects.get()
    assert (shop.kind, shop.location, shop.channel) == ("integration", None, "online")
    body = api.get(SESSION, HTTP_AUTHORIZATION=f"Token {response.context['key']}").json()
    assert body["device"] is None and body["location"] is None


def test_revoking_makes_the_key_fail_with_401(client, manager_a, store_a, api):
    device, key = pos_device(store_a, "Till A")
    client.force_login(manager_a)
    response = client.post(revoke_url(device), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    device.refresh_from_db()
    assert device.revoked_at is not None
    assert "revoked" in response.content.decode()
    response = api.get(SESSION, HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_revoke_without_htmx_redirects_to_the_list(client, manager_a, store_a):
    device, _ = pos_device(store_a, "Till A")
    client.force_login(manager_a)
    response = client.post(revoke_url(device))
    assert response.status_code == 302 and response["Location"] == DEVICES


def test_a_manager_cannot_revoke_another_stores_device(client, manager_b, store_a):
    device, _ = pos_device(store_a, "Till A")
    client.force_login(manager_b)
    response = client.post(revoke_url(device))
    assert response.status_code == 404
    assert "Till A" not in response.content.decode()
    device.refresh_from_db()
    assert device.revoked_at is None


def test_a_manager_cannot_revoke_an_integration(client, manager_a, store_a, integration_client):
    client.force_login(manager_a)
    assert client.post(revoke_url(integration_client[0])).status_code == 404
    integration_client[0].refresh_from_db()
    assert integration_client[0].revoked_at is None


def test_revoke_is_post_only(client, manager_a, store_a):
    device, _ = pos_device(store_a, "Till A")
    client.force_login(manager_a)
    assert client.get(revoke_url(device)).status_code == 405
    device.refresh_from_db()
    assert device.revoked_at is None


@pytest.mark.parametrize(("who", "status"), [("associate_a", 403), (None, 302)])
def test_associates_and_anonymous_cannot_reach_the_screen(request, client, store_a, who, status):
    pos_device(store_a, "Till A")
    if who:
        client.force_login(request.getfixturevalue(who))
    assert client.get(DEVICES).status_code == status
    response = client.post(CREATE, {"kind": "pos_device", "name": "X", "location": "SA1"})
    assert response.status_code == status
    assert ApiClient.objects.count() == 1


def test_the_dashboard_links_to_devices_for_managers_only(client, manager_a, associate_a, store_a):
    client.force_login(manager_a)
    dashboard = reverse("stores:dashboard", args=["SA1"])
    assert DEVICES in client.get(dashboard).content.decode()
    client.force_login(associate_a)
    assert DEVICES not in client.get(dashboard).content.decode()


def test_the_list_shows_which_devices_are_connected_now(client, manager_a, store_a):
    online, _ = pos_device(store_a, "Till A")
    pos_device(store_a, "Till B")
    connection = new_connection_id()
    presence_enter(client_id=online.pk, connection_id=connection)
    try:
        client.force_login(manager_a)
        html = client.get(DEVICES).content.decode()
    finally:
        presence_leave(client_id=online.pk, connection_id=connection)
    cells = re.findall(r'data-testid="device-connected">(.*?)</td>', html)
    assert [re.sub(r"<[^>]+>", "", cell) for cell in cells] == ["yes (1)", "no"]
    after = client.get(DEVICES).content.decode()
    assert "yes (1)" not in after
