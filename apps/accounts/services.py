from __future__ import annotations

import copy
import hashlib
import hmac
import secrets
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.errors import NotFound, PermissionDenied, ValidationFailed
from apps.stores.models import Location
from apps.stores.selectors import location_can_manage

from .models import ApiClient, User

KEY_PREFIX_LENGTH = 8
# last_used_at is written at most this often per client, not on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
# Only keys that authenticated are cached; past this many, the cache starts over.
API_KEY_CACHE_MAX = 10_000


def _hash_key(secret: str) -> str:
    # API keys are 256 random bits, so a fast hash is as safe as a slow one here and
    # keeps authentication off the hot path of every POS request.
    return hashlib.sha256(secret.encode()).hexdigest()


def api_client_create(
    *, actor: User, kind: str, name: str, location: Location | None = None
) -> tuple[ApiClient, str]:
    """Create a POS device (for a location the actor manages) or an integration (HQ only).

    Returns the client and its key; the key is not stored and cannot be shown again.
    Raises PermissionDenied, ValidationFailed.
    """
    name = (name or "").strip()
    if not name:
        raise ValidationFailed.for_field("name", "A name is required.")
    if kind == ApiClient.Kind.POS_DEVICE:
        if location is None:
            raise ValidationFailed.for_field("location", "A POS device belongs to a location.")
        if not location_can_manage(actor, location):
            raise PermissionDenied("You do not manage this location.")
        channel = "pos"
    elif kind == ApiClient.Kind.INTEGRATION:
        if not actor.is_hq:
            raise PermissionDenied("Only HQ creates integrations.")
        location, channel = None, "online"
    else:
        raise ValidationFailed.for_field("kind", f"Unknown kind {kind!r}.")

    return _api_client_insert(
        kind=kind, name=name, location=location, channel=channel, created_by=actor
    )


def _api_client_insert(*, kind, name, location, channel, created_by) -> tuple[ApiClient, str]:
    prefix = secrets.token_hex(KEY_PREFIX_LENGTH // 2)
    secret = secrets.token_urlsafe(32)
    client = ApiClient.objects.create(
        kind=kind,
        name=name,
        location=location,
        channel=channel,
        key_prefix=prefix,
        key_hash=_hash_key(secret),
        created_by=created_by,
    )
    return client, f"{prefix}.{secret}"


def api_client_script_create(
    *, kind: str, name: str, location: Location | None
) -> tuple[ApiClient, str]:
    """Provisioning from a shell (`create_device`, `create_integration`): whoever runs
    it has the machine, so there is no actor to check."""
    if not (name or "").strip():
        raise ValidationFailed.for_field("name", "A name is required.")
    if kind == ApiClient.Kind.POS_DEVICE and location is None:
        raise ValidationFailed.for_field("location", "A POS device belongs to a location.")
    channel = "pos" if kind == ApiClient.Kind.POS_DEVICE else "online"
    return _api_client_insert(
        kind=kind,
        name=name.strip(),
        location=location if kind == ApiClient.Kind.POS_DEVICE else None,
        channel=channel,
        created_by=None,
    )


@transaction.atomic
def api_client_revoke(*, actor: User, client: ApiClient) -> ApiClient:
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    allowed = actor.is_hq or (
        client.location is not None and location_can_manage(actor, client.location)
    )
    if not allowed:
        raise NotFound("No such API client.")
    if client.revoked_at is None:
        client.revoked_at = timezone.now()
        client.save(update_fields=["revoked_at"])
    api_key_cache_clear()
    return client


def api_client_authenticate(key: str) -> ApiClient | None:
    """The usable client for a key, or None. Constant-time comparison of the hash."""
    prefix, _, secret = (key or "").partition(".")
    if len(prefix) != KEY_PREFIX_LENGTH or not secret:
        return None
    client = ApiClient.objects.select_related("location").filter(key_prefix=prefix).first()
    if client is None or not hmac.compare_digest(client.key_hash, _hash_key(secret)):
        return None
    if client.is_revoked:
        return None
    now = timezone.now()
    if client.last_used_at is None or now - client.last_used_at > LAST_USED_RESOLUTION:
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now
    return client


_key_cache: dict[str, tuple[float, ApiClient]] = {}
_key_cache_lock = threading.Lock()


def api_key_cache_clear() -> None:
    """Forget every cached key of this process (a revocation here takes effect at once;
    other processes see it within settings.OMO_API_KEY_CACHE_SECONDS)."""
    with _key_cache_lock:
        _key_cache.clear()


def api_client_authenticate_cached(key: str) -> ApiClient | None:
    """api_client_authenticate, with a key that authenticated trusted for
    settings.OMO_API_KEY_CACHE_SECONDS in this process (a revocation, or a device moved
    to another location, reaches every process within it): a POS posts many requests a
    minute, and reading and hashing its key on each one was a tenth of a sale's CPU.
    Each call gets its own copy of the client, so a request never sees another one's
    changes."""
    seconds = settings.OMO_API_KEY_CACHE_SECONDS
    if seconds <= 0:
        return api_client_authenticate(key)
    now = time.monotonic()
    cached = _key_cache.get(key)
    if cached is not None and cached[0] > now:
        client = cached[1]
    else:
        client = api_client_authenticate(key)
        if client is None:
            return None
        with _key_cache_lock:
            if len(_key_cache) >= API_KEY_CACHE_MAX:
                _key_cache.clear()
            _key_cache[key] = (now + seconds, client)
    return copy.copy(client)
