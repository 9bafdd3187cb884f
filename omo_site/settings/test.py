"""Test settings: fast, isolated, and honest about which services are behind them.

DATABASE_URL and REDIS_URL come from the environment like everywhere else: unset, the
suite runs on SQLite with in-process layers (the quick local loop); CI sets both, and
tests marked `postgres` or `redis` then run instead of being skipped (tests/conftest.py
fails them when CI=true and the service is missing).
"""

import os
import tempfile

os.environ.setdefault("OMO_VAR_DIR", tempfile.mkdtemp(prefix="omo-test-"))

from .base import *  # noqa: F403
from .base import DATABASES, REST_FRAMEWORK, VAR_DIR

DEBUG = False
SECRET_KEY = "test-secret-key"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = VAR_DIR / "media"

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

# Tasks run in-process at enqueue (still after commit: see apps.core.tasks_on_commit);
# the test that runs a real worker overrides this.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"

AXES_FAILURE_LIMIT = 5
# Tests count each API request's queries, the key lookup included, and revoke keys
# between requests: read the client every time (tests/accounts turn the cache on).
OMO_API_KEY_CACHE_SECONDS = 0
# Tests add group members and broadcast right after: read them on every send (the cache
# has its own test).
OMO_BROADCAST_MEMBERS_SECONDS = 0
REST_FRAMEWORK = {**REST_FRAMEWORK, "TEST_REQUEST_DEFAULT_FORMAT": "json"}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
