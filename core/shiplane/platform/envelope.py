"""The one envelope builder: every JSON response, success or error, goes through here."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.responses import Response

from shiplane.platform.context import current_request_id
from shiplane.platform.errors import CATALOGUE, ApiError

_ZERO = timedelta(0)


def rfc3339(value: datetime) -> str:
    """RFC 3339 UTC with milliseconds: ``2026-11-28T20:49:02.123Z``.

    Every list row renders two of these, so the common case (an aware UTC value,
    as the storage layer returns) is one C-level ``isoformat`` call.
    """
    offset = value.utcoffset()
    if offset is None:
        return value.isoformat(timespec="milliseconds") + "Z"
    if offset != _ZERO:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


def _meta(pagination: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"requestId": current_request_id(), "timestamp": rfc3339(datetime.now(UTC))}
    if pagination is not None:
        meta["pagination"] = pagination
    return meta


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def render_json(content: Any) -> bytes:
    """Compact UTF-8 JSON. orjson is several times faster than ``json`` on list pages; the
    few documents it refuses (integers beyond 64 bits in a stored config, say) fall
    back to ``json`` with the same output format."""
    try:
        # Datetimes go through _default (rfc3339) as with json, not orjson's own format.
        return orjson.dumps(content, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except (orjson.JSONEncodeError, TypeError):
        text = json.dumps(content, default=_default, separators=(",", ":"), ensure_ascii=False)
        try:
            return text.encode()
        except UnicodeEncodeError:  # a lone surrogate from older data: escaped, still valid JSON
            return json.dumps(content, default=_default, separators=(",", ":")).encode()


class JSONEnvelopeResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return render_json(content)


def success(
    data: Any,
    status_code: int = 200,
    *,
    pagination: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if status_code == 204:
        return Response(status_code=204, headers=headers)
    body = {"success": True, "data": data, "meta": _meta(pagination)}
    return JSONEnvelopeResponse(body, status_code=status_code, headers=headers)


def error_body(error: ApiError) -> dict[str, Any]:
    payload: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details:
        payload["details"] = error.details
    if error.validation_errors:
        payload["validationErrors"] = [e.as_dict() for e in error.validation_errors]
    return {"success": False, "error": payload, "meta": _meta()}


def failure(error: ApiError) -> Response:
    return JSONEnvelopeResponse(error_body(error), status_code=CATALOGUE[error.code].status, headers=error.headers)
