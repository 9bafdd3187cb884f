"""A faster JSON renderer for the catalog sync, byte for byte DRF's JSONRenderer.

A full sync renders 100,000 variants; the standard library encoder was a fifth of the
server's CPU there. orjson writes the same compact UTF-8 JSON about ten times faster.
"""

from __future__ import annotations

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_fallback = JSONEncoder().default


class FastJSONRenderer(JSONRenderer):
    """DRF's JSONRenderer (compact, UTF-8, U+2028/U+2029 escaped) through orjson.
    Anything orjson does not know (Decimal, lazy strings, ...) goes through DRF's
    encoder; an indented rendering (asked for in the Accept header) and anything orjson
    refuses stay DRF's. Floats are the one difference (orjson writes NaN as null),
    and the catalog bodies have none: money is a string."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if not self.compact or self.ensure_ascii or not self.strict:
            return super().render(data, accepted_media_type, renderer_context)
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            ret = orjson.dumps(data, default=_fallback)
        except orjson.JSONEncodeError:  # e.g. a non-str key, an int beyond 64 bits
            return super().render(data, accepted_media_type, renderer_context)
        # As DRF: a strict JavaScript subset, so the line and paragraph separators
        # are escaped (orjson writes them raw).
        if b"\xe2\x80\xa8" in ret or b"\xe2\x80\xa9" in ret:
            ret = ret.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return ret
