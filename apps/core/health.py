"""What /health/ reports: can this process reach the services it needs right now."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import DatabaseError, connection


def database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


def redis_reachable() -> bool:
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
        )
        return bool(client.ping())
    except redis.RedisError:
        return False


def health_check() -> dict[str, bool]:
    """Each service this deployment uses, and whether it answers. Redis only when set."""
    checks = {"database": database_reachable()}
    if settings.REDIS_URL:
        checks["redis"] = redis_reachable()
    return checks
