"""Which locations an actor may see and manage (ARCHITECTURE rule 6).

Every screen and API call that takes a location goes through these, so a manager who
edits a URL to another store's code gets 404 and sees nothing of it.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.core.errors import ForbiddenLocation, NotFound

from .models import Location


def location_list_visible(actor) -> QuerySet[Location]:
    """Locations a back-office user may see: all for HQ, their memberships otherwise."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return Location.objects.none()
    if getattr(actor, "is_hq", False):
        return Location.objects.all()
    if getattr(actor, "is_api_client", False):
        return (
            Location.objects.filter(pk=actor.location_id)
            if actor.location_id
            else Location.objects.none()
        )
    return Location.objects.filter(memberships__user=actor).distinct()


def location_list_managed(actor) -> QuerySet[Location]:
    """Locations where the actor may change stock, staff and settings."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return Location.objects.none()
    if getattr(actor, "is_hq", False):
        return Location.objects.all()
    if getattr(actor, "is_api_client", False):
        return Location.objects.none()
    return Location.objects.filter(memberships__user=actor, memberships__role="manager").distinct()


def location_get_visible(actor, code: str) -> Location:
    """The location with this code if the actor may see it; NotFound otherwise (never
    a different error for 'exists but not yours', which would leak its existence)."""
    location = location_list_visible(actor).filter(code=code).first()
    if location is None:
        raise NotFound(f"No location {code!r}.")
    return location


def location_can_manage(actor, location: Location) -> bool:
    return location_list_managed(actor).filter(pk=location.pk).exists()


def location_list_readable_by_client(client) -> QuerySet[Location]:
    """Locations whose stock an API client (POS device or integration) may read or watch.

    A POS device: its own location always (even while it is being closed down), and
    every other active store or warehouse, because cross-store lookup ("is it in stock
    next door?") is the point of the feature. An integration (the online shop): every
    active location. Anything else (inactive, other online shops): none. The HTTP stock
    reads and the websocket `watch` both use this one rule.
    """
    if client is None or not getattr(client, "is_api_client", False):
        return Location.objects.none()
    if client.is_pos_device:
        others = Q(active=True, kind__in=[Location.Kind.STORE, Location.Kind.WAREHOUSE])
        return Location.objects.filter(others | Q(pk=client.location_id))
    return Location.objects.filter(active=True)


def location_get_readable_by_client(client, code: str) -> Location:
    """The location with this code if the client may read it; ForbiddenLocation (403)
    otherwise, for an unknown code too, so the answer never tells which codes exist."""
    if getattr(client, "is_pos_device", False) and client.location.code == code:
        # A till reading its own location (the hot path): already loaded with the client.
        return client.location
    location = location_list_readable_by_client(client).filter(code=code).first()
    if location is None:
        raise ForbiddenLocation(f"You may not read location {code!r}.")
    return location
