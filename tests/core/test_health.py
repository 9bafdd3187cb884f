import pytest
from django.urls import reverse

from apps.core import health

pytestmark = pytest.mark.django_db

HEALTH = reverse("core:health")


def test_health_is_ok_without_login_when_the_database_answers(client, settings):
    settings.REDIS_URL = ""
    response = client.get(HEALTH)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}
    assert "no-cache" in response["Cache-Control"]


def test_health_is_503_when_a_service_is_down(client, settings, monkeypatch):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    monkeypatch.setattr(health, "database_reachable", lambda: True)
    response = client.get(HEALTH)
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "redis": "down"},
    }


def test_health_answers_get_only(client):
    assert client.post(HEALTH).status_code == 405
