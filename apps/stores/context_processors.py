from django.utils.functional import SimpleLazyObject

from .selectors import location_list_visible


def locations(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "visible_locations": SimpleLazyObject(
            lambda: list(location_list_visible(user).order_by("code"))
        ),
        "current_location": getattr(request, "location", None),
    }
