"""Request body parsers of the API (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]).

Its own module: apps.core.api imports rest_framework.views, which reads the parser
setting while it is imported, so a parser defined there would be imported circularly.
"""

from __future__ import annotations

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, but a body it cannot parse is always a 400: deeply nested
    arrays (`[[[...]]]`) raise RecursionError in the json module, which DRF lets through
    as a 500, and a decoding error can surface as a bare ValueError."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except exceptions.ParseError:
            raise
        except (RecursionError, ValueError) as error:
            raise exceptions.ParseError(
                "JSON parse error: the body is nested too deeply or is not valid JSON."
            ) from error
