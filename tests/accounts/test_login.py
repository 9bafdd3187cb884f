import pytest
from django.urls import reverse

from apps.accounts.models import User
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def _login(client, email, password):
    return client.post(reverse("accounts:login"), {"username": email, "password": password})


def test_login_with_email_and_password_lands_on_the_managed_store(client, manager_a, store_a):
    response = _login(client, manager_a.email, TEST_PASSWORD)
    assert response.status_code == 302
    response = client.get(response["Location"], follow=True)
    assert response.redirect_chain[-1][0] == reverse("stores:dashboard", args=[store_a.code])


def test_email_is_case_insensitive(client, manager_a):
    assert _login(client, manager_a.email.upper(), TEST_PASSWORD).status_code == 302


def test_wrong_password_and_unknown_email_get_the_same_message(client, manager_a):
    wrong = _login(client, manager_a.email, "not-the-password")
    unknown = _login(client, "nobody@example.test", "not-the-password")
    assert wrong.status_code == unknown.status_code == 200
    assert wrong.context["form"].non_field_errors() == unknown.context["form"].non_field_errors()
    assert "The e-mail or the password is wrong." in wrong.content.decode()


def test_repeated_failures_lock_the_account_even_with_the_right_password(
    client, manager_a, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, manager_a.email, "guess")
    response = _login(client, manager_a.email, TEST_PASSWORD)
    assert response.status_code == 429
    assert "locked" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_account_not_per_address(client, manager_a, manager_b, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, manager_a.email, "guess")
    assert _login(client, manager_b.email, TEST_PASSWORD).status_code == 302


def test_admin_is_for_superusers_only(client, hq_admin, manager_a):
    client.force_login(hq_admin)
    assert client.get("/admin/").status_code == 302  # to the admin login: not for HQ admins
    superuser = User.objects.create_superuser("root@example.test", TEST_PASSWORD, full_name="Root")
    client.force_login(superuser)
    assert client.get("/admin/").status_code == 200
    client.force_login(manager_a)
    assert client.get("/admin/").status_code == 302
