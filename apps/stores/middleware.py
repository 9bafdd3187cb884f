from .selectors import location_list_visible

SESSION_KEY = "current_location"


def current_location(request):
    """The location the user chose in the switcher, if they still may see it, else the
    first one they may see (None for a user with no location)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    visible = location_list_visible(user)
    code = request.session.get(SESSION_KEY)
    chosen = visible.filter(code=code).first() if code else None
    return chosen or visible.order_by("code").first()


class CurrentLocationMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.location = current_location(request)
        return self.get_response(request)
