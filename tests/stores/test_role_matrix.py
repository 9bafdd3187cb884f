"""Who may reach what: HQ admin, manager of A, manager of B, associate, POS device,
anonymous. Each refused request is also checked to have changed nothing."""

import re

import pytest
from django.urls import reverse

from apps.accounts.models import ApiClient
from apps.accounts.services import api_client_create, api_client_revoke
from apps.core.errors import NotFound, PermissionDenied
from apps.stores.selectors import location_list_managed, location_list_visible
from tests.factories import HqAdminFactory, UserFactory

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
        # The 404 page keeps the shell (the user's own locations) but nothing of this one.
        names = {"SA1": "Store A", "SB1": "Store B"}
        assert names.get(code, code) not in response.content.decode()


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


# --- The shell, per role -------------------------------------------------------------------

AREAS = ["catalog", "stock", "orders", "members", "staff", "campaigns", "imports", "reports"]
PEOPLE = ["hq_admin", "manager_a", "manager_b", "associate_a"]


@pytest.fixture
def superuser(db):
    return HqAdminFactory(email="root@example.test", is_superuser=True, is_staff=True)


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize("area", AREAS)
def test_every_area_index_loads_for_every_logged_in_role(
    request, client, store_a, store_b, who, area
):
    client.force_login(request.getfixturevalue(who))
    response = client.get(reverse(f"{area}:index"))
    assert response.status_code == 200
    assert 'data-testid="location-switcher"' in response.content.decode()


@pytest.mark.parametrize("area", AREAS)
def test_anonymous_gets_the_login_page_for_every_area(client, store_a, area):
    url = reverse(f"{area}:index")
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={url}"


@pytest.mark.parametrize(
    ("who", "landing", "switcher"),
    [
        ("hq_admin", "SA1", ["SA1", "SB1"]),
        ("manager_a", "SA1", ["SA1"]),
        ("manager_b", "SB1", ["SB1"]),
        ("associate_a", "SA1", ["SA1"]),
    ],
)
def test_home_lands_on_a_visible_location_and_the_switcher_lists_only_those(
    request, client, store_a, store_b, who, landing, switcher
):
    client.force_login(request.getfixturevalue(who))
    response = client.get(reverse("core:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("stores:dashboard", args=[landing])
    html = client.get(response["Location"]).content.decode()
    offered = re.findall(
        r'<option value="([^"]+)"', html.split('data-testid="location-switcher"')[1]
    )
    assert offered[: len(switcher)] == switcher
    for code in {"SA1", "SB1"} - set(switcher):
        assert f'value="{code}"' not in html


def test_a_user_without_a_location_gets_an_honest_empty_home(client, db):
    client.force_login(UserFactory(email="lonely@example.test"))
    response = client.get(reverse("core:home"))
    assert response.status_code == 200
    assert "No location yet" in response.content.decode()


@pytest.mark.parametrize(("who", "status"), [("associate_a", 404), ("manager_b", 404)])
def test_switching_to_an_invisible_store_changes_nothing(
    request, client, store_a, store_b, who, status
):
    user = request.getfixturevalue(who)
    client.force_login(user)
    home = client.get(reverse("core:home"))["Location"]
    before = client.session.get("current_location")
    target = "SB1" if who == "associate_a" else "SA1"
    assert client.post(reverse("stores:switch"), {"location": target}).status_code == status
    assert client.session.get("current_location") == before
    assert client.get(reverse("core:home"))["Location"] == home


def test_switch_is_post_only(client, manager_a, store_a):
    client.force_login(manager_a)
    assert client.get(reverse("stores:switch"), {"location": "SA1"}).status_code == 405


def test_switch_ignores_an_offsite_next(client, manager_a, store_a):
    client.force_login(manager_a)
    response = client.post(
        reverse("stores:switch"), {"location": "SA1", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("stores:dashboard", args=["SA1"])


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("superuser", 200),
        ("hq_admin", 302),
        ("manager_a", 302),
        ("associate_a", 302),
        (None, 302),
    ],
)
def test_the_django_admin_is_for_superusers_only(request, client, store_a, who, status):
    if who:
        client.force_login(request.getfixturevalue(who))
    response = client.get("/admin/")
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith("/admin/login/")


def test_a_device_key_does_not_open_the_django_admin(client, device_a):
    response = client.get("/admin/", HTTP_AUTHORIZATION=f"Token {device_a[1]}")
    assert response.status_code == 302


SESSION = "/api/v1/pos/session"


@pytest.mark.parametrize("who", [*PEOPLE, None])
def test_the_api_session_wants_a_token_not_a_browser_login(request, client, store_a, who):
    # A back-office session cookie is not an API credential: 401 with the contract body.
    if who:
        client.force_login(request.getfixturevalue(who))
    response = client.get(SESSION)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_the_api_session_for_a_device_and_an_integration(device_api, integration_api, store_a):
    assert device_api.get(SESSION).json()["location"]["code"] == "SA1"
    body = integration_api.get(SESSION).json()
    assert body["device"] is None and body["location"] is None


@pytest.mark.parametrize(("who", "status"), [("manager_b", 404), ("associate_a", 403), (None, 302)])
def test_who_may_not_revoke_a_device_changes_nothing(
    request, client, device_a, store_b, who, status
):
    device, _ = device_a
    if who:
        client.force_login(request.getfixturevalue(who))
    response = client.post(reverse("accounts:device-revoke", args=[device.pk]))
    assert response.status_code == status
    device.refresh_from_db()
    assert device.revoked_at is None
    assert ApiClient.objects.count() == 1
