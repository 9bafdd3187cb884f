"""Who may reach what: HQ admin, manager of A, manager of B, associate, POS device,
anonymous. Each refused request is also checked to have changed nothing."""

import pytest
from django.urls import reverse

from apps.accounts.models import ApiClient
from apps.accounts.services import api_client_create, api_client_revoke
from apps.core.errors import NotFound, PermissionDenied
from apps.stores.selectors import location_list_managed, location_list_visible

pytestmark = pytest.mark.django_db


def codes(queryset):
    return sorted(queryset.values_list("code", flat=True))


def test_visibility_per_role(
    hq_admin, manager_a, manager_b, associate_a, device_a, store_a, store_b
):
    assert codes(location_list_visible(hq_admin)) == ["SA1", "SB1"]
    assert codes(location_list_visible(manager_a)) == ["SA1"]
    assert codes(location_list_visible(manager_b)) == ["SB1"]
    assert codes(location_list_visible(associate_a)) == ["SA1"]
    assert codes(location_list_visible(device_a[0])) == ["SA1"]
    assert codes(location_list_visible(None)) == []


def test_only_hq_and_managers_manage(hq_admin, manager_a, associate_a, device_a, store_a, store_b):
    assert codes(location_list_managed(hq_admin)) == ["SA1", "SB1"]
    assert codes(location_list_managed(manager_a)) == ["SA1"]
    assert codes(location_list_managed(associate_a)) == []
    assert codes(location_list_managed(device_a[0])) == []


@pytest.mark.parametrize(
    ("who", "code", "status"),
    [
        ("hq_admin", "SA1", 200),
        ("hq_admin", "SB1", 200),
        ("manager_a", "SA1", 200),
        ("manager_a", "SB1", 404),
        ("manager_b", "SA1", 404),
        ("associate_a", "SA1", 200),
        ("associate_a", "SB1", 404),
        ("manager_a", "NOPE", 404),
    ],
)
def test_location_dashboard_by_role(request, client, store_a, store_b, who, code, status):
    client.force_login(request.getfixturevalue(who))
    response = client.get(reverse("stores:dashboard", args=[code]))
    assert response.status_code == status
    if status == 404:
        assert "Store B" not in response.content.decode()


def test_anonymous_is_sent_to_login(client, store_a):
    for url in [
        reverse("core:home"),
        reverse("stores:dashboard", args=["SA1"]),
        reverse("catalog:index"),
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


def test_switching_to_a_store_one_does_not_manage_is_404_and_keeps_the_choice(
    client, manager_a, store_b
):
    client.force_login(manager_a)
    client.get(reverse("stores:dashboard", args=["SA1"]))
    response = client.post(reverse("stores:switch"), {"location": "SB1"})
    assert response.status_code == 404
    assert client.session["current_location"] == "SA1"


def test_switching_to_a_managed_store(client, manager_a, store_a):
    client.force_login(manager_a)
    response = client.post(reverse("stores:switch"), {"location": "SA1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("stores:dashboard", args=["SA1"])
    assert client.session["current_location"] == "SA1"


def test_switcher_lists_only_visible_locations(client, manager_a, store_b):
    client.force_login(manager_a)
    html = client.get(reverse("stores:dashboard", args=["SA1"])).content.decode()
    assert 'value="SA1"' in html
    assert 'value="SB1"' not in html


def test_api_client_creation_by_role(hq_admin, manager_a, associate_a, store_a, store_b):
    client, key = api_client_create(
        actor=manager_a, kind="pos_device", name="Till", location=store_a
    )
    assert client.location == store_a and key
    with pytest.raises(PermissionDenied):
        api_client_create(actor=manager_a, kind="pos_device", name="Till", location=store_b)
    with pytest.raises(PermissionDenied):
        api_client_create(actor=associate_a, kind="pos_device", name="Till", location=store_a)
    with pytest.raises(PermissionDenied):
        api_client_create(actor=manager_a, kind="integration", name="Shop")
    shop, _ = api_client_create(actor=hq_admin, kind="integration", name="Shop")
    assert shop.location is None and shop.channel == "online"
    assert ApiClient.objects.count() == 2


def test_a_manager_cannot_revoke_another_stores_device(manager_b, device_a):
    client, _ = device_a
    with pytest.raises(NotFound):
        api_client_revoke(actor=manager_b, client=client)
    client.refresh_from_db()
    assert client.revoked_at is None


def test_device_api_cannot_use_the_back_office(client, device_a):
    # A device key is not a browser login.
    response = client.get(reverse("core:home"), HTTP_AUTHORIZATION=f"Token {device_a[1]}")
    assert response.status_code == 302
