"""The exceptions the client raises: one per kind of answer, each with the server's error.

Every error answer of ``/api/v1`` is ``{"error": {code, message, details,
validationErrors}, "meta": {requestId}}``; :func:`error_from_response` turns it into the
subclass for its status (and, for ``PROMOTION_BLOCKED``, its code) carrying those fields.
"""

from __future__ import annotations

import json
from typing import Any

import httpx


class ShiplaneError(Exception):
    """An error answer from the server (or, with ``status`` None, no answer at all)."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "UNKNOWN",
        status: int | None = None,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
        validation_errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details: dict[str, Any] = details or {}
        self.request_id = request_id
        self.validation_errors: list[dict[str, Any]] = validation_errors or []
        self.headers: dict[str, str] = headers or {}

    def __str__(self) -> str:
        where = f" (HTTP {self.status}" + (f", request {self.request_id})" if self.request_id else ")")
        text = f"{self.code}: {self.message}{where if self.status else ''}"
        for entry in self.validation_errors:
            text += f"\n  {entry.get('field')}: {entry.get('message')} ({entry.get('code')})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "status": self.status,
            "details": self.details,
            "requestId": self.request_id,
            "validationErrors": self.validation_errors,
        }


class InvalidRequestError(ShiplaneError):
    """400: the request does not validate (``validation_errors`` names the fields)."""


class UnauthorizedError(ShiplaneError):
    """401: the token is missing, malformed, expired or not trusted."""


class ForbiddenError(ShiplaneError):
    """403: the token lacks the permission (``details.permission``), or a protection refuses."""


class NotFoundError(ShiplaneError):
    """404: no such resource in the caller's tenant."""


class ConflictError(ShiplaneError):
    """409: a state conflict (``INVALID_STATE``, ``VERSION_CONFLICT``, ``ALREADY_EXISTS``...)."""


class UnprocessableError(ShiplaneError):
    """422: a business rule refuses the request."""


class PromotionBlockedError(UnprocessableError):
    """422 ``PROMOTION_BLOCKED``: a gate failed; ``details`` has ``promotionId`` and ``gates``.

    The promotion is kept (blocked) and evaluated again by the server."""

    @property
    def promotion_id(self) -> str | None:
        value = self.details.get("promotionId")
        return str(value) if value is not None else None


class RateLimitedError(ShiplaneError):
    """429: still rate limited after the client's bounded retries."""

    @property
    def retry_after(self) -> float | None:
        return retry_after_seconds(self.headers)


class ServerError(ShiplaneError):
    """5xx: the server failed (quote ``request_id`` when reporting it)."""


class ShiplaneConnectionError(ShiplaneError):
    """The server could not be reached (after the retries allowed for the call)."""


class StreamError(ShiplaneError):
    """A WebSocket stream could not be (re)opened within its reconnection budget."""


_BY_STATUS: dict[int, type[ShiplaneError]] = {
    400: InvalidRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableError,
    429: RateLimitedError,
}


def retry_after_seconds(headers: Any) -> float | None:
    """``Retry-After`` as seconds (the server sends whole seconds), None if absent or not a number."""
    value = headers.get("retry-after") if headers is not None else None
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(seconds, 0.0)


def error_class(status: int, code: str) -> type[ShiplaneError]:
    if code == "PROMOTION_BLOCKED":
        return PromotionBlockedError
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, ShiplaneError)


def error_from_parts(status: int, body: Any, headers: dict[str, str]) -> ShiplaneError:
    """The exception for an error answer (``body`` the parsed JSON, or anything else)."""
    error = body.get("error") if isinstance(body, dict) else None
    meta = body.get("meta") if isinstance(body, dict) else None
    request_id = (meta or {}).get("requestId") if isinstance(meta, dict) else None
    request_id = request_id or headers.get("x-request-id")
    if not isinstance(error, dict):
        text = body if isinstance(body, str) else json.dumps(body)[:500] if body is not None else ""
        return error_class(status, "HTTP_ERROR")(
            f"HTTP {status}: {text[:500]}", code="HTTP_ERROR", status=status, request_id=request_id, headers=headers
        )
    code = str(error.get("code") or "HTTP_ERROR")
    details = error.get("details")
    validation = error.get("validationErrors")
    return error_class(status, code)(
        str(error.get("message") or f"HTTP {status}"),
        code=code,
        status=status,
        details=details if isinstance(details, dict) else {},
        request_id=request_id,
        validation_errors=validation if isinstance(validation, list) else [],
        headers=headers,
    )


def error_from_response(response: httpx.Response) -> ShiplaneError:
    headers = {k.lower(): v for k, v in response.headers.items()}
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return error_from_parts(response.status_code, body, headers)
