"""Reads of accounts data, scoped to what the caller may see (ARCHITECTURE rule 6)."""

from __future__ import annotations

from django.db.models import F, QuerySet

from apps.core.errors import NotFound
from apps.stores.selectors import location_list_managed

from .models import ApiClient, User


def api_client_list_visible(actor: User) -> QuerySet[ApiClient]:
    """API clients the actor may see and revoke: every one for HQ; for a manager, the POS
    devices of the locations they manage (integrations belong to HQ). Usable ones first."""
    clients = ApiClient.objects.select_related("location", "created_by").order_by(
        # Usable first, newest revoked next; integrations (no location) before devices.
        # Explicit NULL placement: SQLite and PostgreSQL default to opposite ends.
        F("revoked_at").desc(nulls_first=True),
        F("location__code").asc(nulls_first=True),
        "name",
        "pk",
    )
    if actor.is_hq:
        return clients
    return clients.filter(kind=ApiClient.Kind.POS_DEVICE, location__in=location_list_managed(actor))


def api_client_get_visible(actor: User, client_id: int) -> ApiClient:
    """The API client if the actor may see it; NotFound otherwise (also for one that
    exists at another store, so its existence does not leak)."""
    client = api_client_list_visible(actor).filter(pk=client_id).first()
    if client is None:
        raise NotFound("No such API client.")
    return client


def api_client_can_manage_any(actor: User) -> bool:
    """Whether the devices screen is for this user at all: HQ, or a manager of somewhere."""
    return actor.is_hq or location_list_managed(actor).exists()
