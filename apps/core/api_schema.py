"""OpenAPI pieces every API module shares: the token security scheme and the contract's
error body, so /api/schema/ documents what shared/pos-api.md fixes."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """`Authorization: Token <key>` (apps.accounts.authentication.ApiTokenAuthentication)."""

    target_class = "apps.accounts.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`: a POS device's or an integration's key.",
        }


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField()
    code = serializers.CharField()
    detail = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """Every 4xx body of the API."""

    code = serializers.CharField(help_text="Machine code, e.g. not_found, invalid.")
    detail = serializers.CharField()
    errors = FieldErrorSerializer(many=True)


_MEANING = {
    400: "Invalid input (`invalid`, with the field in `errors`).",
    401: "Missing, unknown or revoked token.",
    403: "A location the caller may not see (`forbidden_location`).",
    404: "Not found (`not_found`).",
    409: "Conflict with the current state.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """`responses=` entries for these statuses, all with the contract's error body."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=_MEANING.get(status, "Error."))
        for status in statuses
    }
