"""Which locations an actor may see and manage (ARCHITECTURE rule 6).

Every screen and API call that takes a location goes through these, so a manager who
edits a URL to another store's code gets 404 and sees nothing of it.
"""

from __future__ import annotations

from django.db.models import QuerySet

from apps.core.errors import NotFound

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
