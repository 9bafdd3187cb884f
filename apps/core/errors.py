"""One error hierarchy with stable, machine-readable codes.

Services raise these; the DRF exception handler (apps.core.api) turns them into the
contract's body `{"code", "detail", "errors"}` and htmx views render them into the form
with the same status. Codes are part of the public contract (shared/pos-api.md): add new
ones, never rename.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "invalid"
    status_code = 400
    default_detail = "The request is not valid."

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: list[dict[str, str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        if code:
            self.code = code
        self.errors = errors or []
        self.extra = extra or {}
        super().__init__(self.detail)

    def as_body(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "errors": self.errors, **self.extra}

    @classmethod
    def for_field(cls, field: str, detail: str, code: str | None = None) -> DomainError:
        error_code = code or cls.code
        return cls(
            detail, code=code, errors=[{"field": field, "code": error_code, "detail": detail}]
        )


class ValidationFailed(DomainError):
    code = "invalid"
    status_code = 400


class NotFound(DomainError):
    code = "not_found"
    status_code = 404
    default_detail = "Not found."


class PermissionDenied(DomainError):
    code = "permission_denied"
    status_code = 403
    default_detail = "You may not do this."


class ForbiddenLocation(DomainError):
    code = "forbidden_location"
    status_code = 403
    default_detail = "This location is outside what you may see or change."


class Conflict(DomainError):
    code = "conflict"
    status_code = 409
    default_detail = "The request conflicts with the current state."


class UnknownSku(DomainError):
    code = "unknown_sku"
    status_code = 400
    default_detail = "Unknown SKU."


class InactiveSku(DomainError):
    code = "inactive_sku"
    status_code = 400
    default_detail = "This SKU is not active."


class InsufficientStock(DomainError):
    code = "insufficient_stock"
    status_code = 409
    default_detail = "Not enough stock available."


class InvalidTransition(DomainError):
    code = "invalid_transition"
    status_code = 409
    default_detail = "This change is not allowed in the current status."


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"
    status_code = 409
    default_detail = "This client_id was already used with a different request body."


class NotReturnable(DomainError):
    code = "not_returnable"
    status_code = 400
    default_detail = "More than was sold, net of earlier returns, cannot be returned."
