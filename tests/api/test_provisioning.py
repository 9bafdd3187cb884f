"""Provisioning from scripts: `create_device` and `create_integration` print a key once."""

from io import StringIO

import pytest
from django.core.management import CommandError, ManagementUtility, call_command
from rest_framework.test import APIClient

from apps.accounts.models import ApiClient

pytestmark = pytest.mark.django_db


def _run(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def _session(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/pos/session")


def test_create_device_prints_a_key_that_opens_the_session_for_its_location(store_a):
    key, message = _run("create_device", "--location", "SA1", "--name", "Till 7")
    assert "shown once" in message and key not in message
    device = ApiClient.objects.get()
    assert (device.kind, device.name, device.location_id) == ("pos_device", "Till 7", store_a.pk)
    assert key.split(".")[1] not in (device.key_hash, device.key_prefix)
    response = _session(key)
    assert response.status_code == 200
    assert response.json()["device"] == {"id": device.pk, "name": "Till 7"}
    assert response.json()["location"]["code"] == "SA1"


def test_create_integration_prints_a_key_for_the_online_channel(db):
    key, _ = _run("create_integration", "--name", "Web shop")
    client = ApiClient.objects.get()
    assert (client.kind, client.channel, client.location_id) == ("integration", "online", None)
    body = _session(key).json()
    assert body["device"] is None and body["location"] is None


def test_every_run_makes_a_new_key(store_a):
    first, _ = _run("create_device", "--location", "SA1", "--name", "Till")
    second, _ = _run("create_device", "--location", "SA1", "--name", "Till")
    assert first != second and ApiClient.objects.count() == 2


def test_unknown_location_fails_with_a_message_and_creates_nothing(db):
    with pytest.raises(CommandError, match="No location 'NOPE'"):
        _run("create_device", "--location", "NOPE", "--name", "Till")
    assert ApiClient.objects.count() == 0


def test_unknown_location_exits_non_zero_from_the_shell(db, capfd, monkeypatch):
    # run_from_argv is what manage.py runs; it closes the connections when it ends,
    # which would close the test's database: keep them open.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(
            ["manage.py", "create_device", "--location", "NOPE", "--name", "Till"]
        ).execute()
    assert exited.value.code != 0
    assert "No location 'NOPE'" in capfd.readouterr().err
    assert ApiClient.objects.count() == 0


def test_a_blank_name_is_refused(store_a):
    with pytest.raises(Exception, match="name"):
        _run("create_device", "--location", "SA1", "--name", "  ")
    assert ApiClient.objects.count() == 0
