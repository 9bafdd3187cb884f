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
