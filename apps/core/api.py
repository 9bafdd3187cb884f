"""The DRF exception handler: every 4xx leaves as the contract's error body."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import DomainError

_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.ParseError: "invalid",
    exceptions.ValidationError: "invalid",
}


def _flatten(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """Turn DRF's nested validation detail into the contract's flat `errors` list.

    Nested fields are joined with dots and list items with their index, e.g.
    `lines.2.quantity`, so a POS can point at the exact line.
    """
    if isinstance(detail, dict):
        out: list[dict[str, str]] = []
        for key, value in detail.items():
            # str(): DRF reports list items under int keys, and item 0 must not vanish.
            name = str(key) if key != "non_field_errors" else ""
            out += _flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name)
        return out
    if isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail) for item in detail):
            return [
                {"field": prefix, "code": item.code or "invalid", "detail": str(item)}
                for item in detail
            ]
        out = []
        for index, item in enumerate(detail):
            if item:
                out += _flatten(item, f"{prefix}.{index}" if prefix else str(index))
        return out
    if isinstance(detail, exceptions.ErrorDetail):
        return [{"field": prefix, "code": detail.code or "invalid", "detail": str(detail)}]
    return [{"field": prefix, "code": "invalid", "detail": str(detail)}]


def error_response(exc: DomainError) -> Response:
    return Response(exc.as_body(), status=exc.status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return error_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response

    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "invalid")
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        detail = errors[0]["detail"] if len(errors) == 1 else "The request has invalid fields."
        if len(errors) == 1 and errors[0]["field"]:
            detail = f"{errors[0]['field']}: {detail}"
    else:
        errors = []
        detail = str(exc.detail) if not isinstance(exc.detail, (dict, list)) else "Error."
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        response.status_code = status.HTTP_401_UNAUTHORIZED
    response.data = {"code": code, "detail": detail, "errors": errors}
    return response


def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Unknown paths under /api/ answer with the contract's error body, not an HTML page."""
    return JsonResponse(
        {"code": "not_found", "detail": f"No API endpoint at {request.path}.", "errors": []},
        status=404,
    )
