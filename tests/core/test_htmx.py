"""htmx wiring: Vary on HX-Request, full pages for history restores and boosted
navigation, fragments for plain htmx requests, and the CSRF header on every request."""

import json
import re

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django_htmx.middleware import HtmxMiddleware

from apps.accounts.models import ApiClient
from apps.core.htmx import render_page, wants_fragment
from tests.factories import LocationFactory

pytestmark = pytest.mark.django_db

DEVICES = reverse("accounts:devices")


def _htmx_request(**headers):
    request = RequestFactory().get("/", **headers)
    HtmxMiddleware(lambda r: None)(request)
    return request


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, False),
        ({"HTTP_HX_REQUEST": "true"}, True),
        ({"HTTP_HX_REQUEST": "true", "HTTP_HX_BOOSTED": "true"}, False),
        ({"HTTP_HX_REQUEST": "true", "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"}, False),
    ],
)
def test_wants_fragment_only_for_plain_htmx_requests(headers, fragment):
    assert wants_fragment(_htmx_request(**headers)) is fragment


@pytest.mark.parametrize(
    ("headers", "full_page"),
    [
        ({}, True),
        ({"HTTP_HX_REQUEST": "true"}, False),
        ({"HTTP_HX_REQUEST": "true", "HTTP_HX_BOOSTED": "true"}, True),
        ({"HTTP_HX_REQUEST": "true", "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"}, True),
    ],
)
def test_a_pushed_url_returns_the_full_page_on_reload_and_history_restore(
    client, manager_a, store_a, headers, full_page
):
    client.force_login(manager_a)
    response = client.get(DEVICES, **headers)
    html = response.content.decode()
    assert response.status_code == 200
    assert ("<html" in html) is full_page
    assert ('data-testid="location-switcher"' in html) is full_page
    # Both carry the same list, from the same template.
    assert 'data-testid="device-list"' in html


def test_render_page_without_a_fragment_name_is_always_the_full_page(manager_a, store_a):
    request = _htmx_request(HTTP_HX_REQUEST="true")
    request.user = manager_a
    request.location = store_a
    html = render_page(request, "core/placeholder.html", {"title": "Catalog", "plan": "x"})
    assert "<html" in html.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        reverse("accounts:login"),
        reverse("core:home"),
        reverse("stores:dashboard", args=["SA1"]),
        reverse("catalog:index"),
        DEVICES,
    ],
)
def test_every_response_varies_on_hx_request(client, manager_a, store_a, url):
    if url != reverse("accounts:login"):
        client.force_login(manager_a)
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = client.get(url, **headers)
        assert "HX-Request" in response.get("Vary", ""), url


def test_the_body_carries_the_csrf_header_for_every_htmx_request(manager_a, store_a):
    manager_a.memberships.create(location=LocationFactory(code="SA2"), role="manager")
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager_a)
    html = client.get(reverse("stores:dashboard", args=["SA1"])).content.decode()
    match = re.search(r"<body hx-headers='([^']*)'", html)
    assert match, "the <body> must set hx-headers"
    token = json.loads(match.group(1))["X-CSRFToken"]
    assert len(token) == 64

    # Without the header (or a form field) an htmx POST is refused and changes nothing.
    refused = client.post(reverse("stores:switch"), {"location": "SA2"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 403
    assert client.session["current_location"] == "SA1"

    accepted = client.post(
        reverse("stores:switch"),
        {"location": "SA2"},
        HTTP_HX_REQUEST="true",
        HTTP_X_CSRFTOKEN=token,
    )
    assert accepted.status_code == 302
    assert accepted["HX-Redirect"] == reverse("stores:dashboard", args=["SA2"])
    assert client.session["current_location"] == "SA2"


def test_an_htmx_create_without_the_csrf_header_creates_nothing(manager_a, store_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager_a)
    response = client.post(
        reverse("accounts:device-create"),
        {"kind": "pos_device", "name": "Till", "location": "SA1"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 403
    assert ApiClient.objects.count() == 0


def test_not_found_and_forbidden_pages_keep_the_shell_and_leak_nothing(
    client, manager_a, associate_a, store_a, store_b
):
    client.force_login(manager_a)
    response = client.get(reverse("stores:dashboard", args=["SB1"]))
    html = response.content.decode()
    assert response.status_code == 404
    assert 'data-testid="not-found"' in html and 'data-testid="location-switcher"' in html
    assert "SB1" not in html and "Store B" not in html

    client.force_login(associate_a)
    response = client.get(DEVICES)
    assert response.status_code == 403
    assert 'data-testid="forbidden"' in response.content.decode()
