"""The one catalogue of error codes and the one error type the API raises.

Every error response carries a code from ``CATALOGUE``; docs/errors.md lists the
same table and a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    meaning: str


CATALOGUE: dict[str, ErrorCode] = {
    e.code: e
    for e in [
        ErrorCode("VALIDATION_ERROR", 400, "The request body, path or query is invalid; see validationErrors."),
        ErrorCode("INVALID_FILTER", 400, "The filter query parameter is malformed or names an unknown field/operator."),
        ErrorCode("INVALID_SORT", 400, "The sort query parameter names a field that cannot be sorted on."),
        ErrorCode("UNAUTHORIZED", 401, "The bearer token is missing, malformed, expired or not trusted."),
        ErrorCode("FORBIDDEN", 403, "The token is valid but lacks the permission the endpoint requires."),
        ErrorCode("NOT_FOUND", 404, "No such resource in the caller's tenant, or no such route."),
        ErrorCode("METHOD_NOT_ALLOWED", 405, "The route exists but not with this HTTP method."),
        ErrorCode("ALREADY_EXISTS", 409, "A resource with the same unique key already exists."),
        ErrorCode("VERSION_CONFLICT", 409, "If-Match or body version does not match the stored version."),
        ErrorCode("INVALID_STATE", 409, "The resource's current state does not allow the action."),
        ErrorCode("RESOURCE_IN_USE", 409, "The resource is referenced by other resources or has active work."),
        ErrorCode("PAYLOAD_TOO_LARGE", 413, "The request body exceeds the size limit."),
        ErrorCode("HEADERS_TOO_LARGE", 431, "The request has too many headers, or too many bytes of them."),
        ErrorCode("UNSUPPORTED_MEDIA_TYPE", 415, "The request body is not application/json."),
        ErrorCode("IDEMPOTENCY_KEY_REUSED", 422, "The Idempotency-Key was already used with a different request."),
        ErrorCode("PROMOTION_BLOCKED", 422, "A gate blocks the promotion."),
        ErrorCode("FREEZE_WINDOW_ACTIVE", 422, "A freeze window forbids the action now."),
        ErrorCode("SELF_APPROVAL_FORBIDDEN", 422, "The requester may not approve their own promotion."),
        ErrorCode("RELEASE_DEPRECATED", 422, "The release is deprecated and cannot be promoted."),
        ErrorCode("PLUGIN_DISABLED", 422, "The capability's plugin is disabled for this tenant."),
        ErrorCode(
            "INTEGRATION_FAILED",
            422,
            "The integration's external system could not be reached or refused the call; nothing stored changed.",
        ),
        ErrorCode(
            "TEMPLATE_INVALID",
            422,
            "The workflow template has problems (details.problems, as POST /workflow-templates/{id}/validate lists).",
        ),
        ErrorCode("RATE_LIMITED", 429, "Too many requests for this tenant and user; retry after Retry-After seconds."),
        ErrorCode("INTERNAL_ERROR", 500, "An unexpected error; report the requestId."),
        ErrorCode(
            "SERVICE_UNAVAILABLE",
            503,
            "A dependency (database, migrations, signing keys) is not ready, or the database connection was lost "
            "mid-request (nothing was changed; `Retry-After` says when to retry).",
        ),
    ]
}


@dataclass
class FieldError:
    field: str
    message: str
    code: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}


@dataclass
class ApiError(Exception):
    """An error the API reports in the envelope. ``code`` must be in ``CATALOGUE``."""

    code: str
    message: str
    details: dict[str, Any] | None = None
    validation_errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if self.code not in CATALOGUE:  # a programming error, caught by tests
            raise ValueError(f"error code {self.code!r} is not in the catalogue")
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return CATALOGUE[self.code].status


def not_found(resource: str, resource_id: str) -> ApiError:
    return ApiError("NOT_FOUND", f"{resource} {resource_id!r} not found", {"resource": resource, "id": resource_id})


def validation_error(field_name: str, message: str, code: str = "invalid") -> ApiError:
    return ApiError(
        "VALIDATION_ERROR", f"invalid {field_name}: {message}", None, [FieldError(field_name, message, code)]
    )
