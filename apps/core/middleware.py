from django.http import HttpResponseBadRequest, JsonResponse
from django.utils.cache import patch_vary_headers


class HtmxVaryMiddleware:
    """Pages answer htmx requests with a fragment and others with the full page, so
    every response must vary on HX-Request or a cache (or the browser's back button)
    could serve a fragment as a page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_vary_headers(response, ("HX-Request",))
        return response


NUL_MESSAGE = "The request contains a NUL character, which no field accepts."


def _contains_nul(request) -> bool:
    if "\x00" in request.path:
        return True
    if any(
        "\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()
    ):
        return True
    if request.method in {"POST", "PUT", "PATCH"}:
        if request.content_type == "application/json":
            # Raw NUL or its JSON escape: PostgreSQL text cannot store either.
            return b"\x00" in request.body or b"\\u0000" in request.body
        if request.content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
            return any(
                "\x00" in key or any("\x00" in str(v) for v in values)
                for key, values in request.POST.lists()
            )
    return False


class RejectNulMiddleware:
    """Refuse, with 400, any request carrying a NUL character in its path, query, form or
    JSON body. PostgreSQL text cannot hold NUL, so without this every lookup or write
    that passes such a value through would fail with a 500 (SQLite accepts it, which is
    why only a production-like database shows the problem)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _contains_nul(request):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"code": "invalid", "detail": NUL_MESSAGE, "errors": []}, status=400
                )
            return HttpResponseBadRequest(NUL_MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
