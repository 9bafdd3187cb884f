"""Settings modes, each loaded in a fresh interpreter with a clean environment (the test
process already has settings loaded, so importing them here would prove nothing)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent.parent

PRODUCTION_ENV = {
    "SECRET_KEY": "a-long-random-production-secret-that-is-only-for-this-test-0123456789",
    "ALLOWED_HOSTS": "backoffice.example.com",
    "DATABASE_URL": "postgres://omo:pw@db.internal:5432/omo",
    "REDIS_URL": "redis://redis.internal:6379/0",
}

SHOW = """
import json, os
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "SECRET_KEY": settings.SECRET_KEY,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "ENGINE": db["ENGINE"],
    "CONN_MAX_AGE": db.get("CONN_MAX_AGE"),
    "pool": db.get("OPTIONS", {}).get("pool"),
    "init_command": db.get("OPTIONS", {}).get("init_command"),
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "broker": settings.CELERY_BROKER_URL,
    "ssl_redirect": getattr(settings, "SECURE_SSL_REDIRECT", False),
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "static": settings.STORAGES["staticfiles"]["BACKEND"],
}))
"""


def load_settings(module: str, env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    clean_env = {"PATH": "/usr/bin:/bin", "OMO_VAR_DIR": str(tmp_path), **env}
    clean_env["DJANGO_SETTINGS_MODULE"] = module
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", SHOW],
        cwd=BASE_DIR,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"])
def test_production_refuses_to_start_without_a_required_variable(tmp_path, missing):
    env = {name: value for name, value in PRODUCTION_ENV.items() if name != missing}
    result = load_settings("omo_site.settings.production", env, tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"Set the {missing} environment variable" in result.stderr


def test_production_settings_are_tight(tmp_path):
    result = load_settings("omo_site.settings.production", PRODUCTION_ENV, tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["DEBUG"] is False
    assert loaded["SECRET_KEY"] == PRODUCTION_ENV["SECRET_KEY"]
    assert loaded["ALLOWED_HOSTS"] == ["backoffice.example.com"]
    assert loaded["ENGINE"] == "django.db.backends.postgresql"
    # Django's psycopg 3 pool, never persistent connections under ASGI (ticket 33497).
    assert loaded["CONN_MAX_AGE"] == 0
    assert loaded["pool"] == {"min_size": 2, "max_size": 20, "timeout": 10}
    assert loaded["layer"] == "channels_redis.core.RedisChannelLayer"
    assert loaded["broker"] == PRODUCTION_ENV["REDIS_URL"]
    assert loaded["ssl_redirect"] is True and loaded["session_cookie_secure"] is True
    assert loaded["static"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_production_even_refuses_debug(tmp_path):
    result = load_settings(
        "omo_site.settings.production", {**PRODUCTION_ENV, "DEBUG": "true"}, tmp_path
    )
    assert json.loads(result.stdout)["DEBUG"] is False


def test_pool_sizes_come_from_the_environment(tmp_path):
    env = {**PRODUCTION_ENV, "DATABASE_POOL_MIN": "4", "DATABASE_POOL_MAX": "8"}
    result = load_settings("omo_site.settings.production", env, tmp_path)
    assert json.loads(result.stdout)["pool"] == {"min_size": 4, "max_size": 8, "timeout": 10}


def test_the_embedded_default_needs_no_variable_at_all(tmp_path):
    result = load_settings("omo_site.settings.base", {}, tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["DEBUG"] is False
    assert loaded["ENGINE"] == "django.db.backends.sqlite3"
    assert "journal_mode=WAL" in loaded["init_command"]
    assert loaded["layer"] == "channels.layers.InMemoryChannelLayer"
    assert loaded["broker"] == "filesystem://"


def test_collectstatic_succeeds_with_the_production_storage(tmp_path):
    # What the Dockerfile runs: the manifest storage fails on any broken reference in a
    # vendored file (a source map that is not shipped, for example).
    env = {
        "PATH": "/usr/bin:/bin",
        "OMO_VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "DJANGO_SETTINGS_MODULE": "omo_site.settings.production",
        **PRODUCTION_ENV,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    assert "vendor/htmx-2.0.11.min.js" in manifest["paths"]
    assert "vendor/chart-4.6.1.umd.min.js" in manifest["paths"]
