"""The OpenAPI document, telling the truth: the bearer scheme, the envelope of every
error an operation can answer, the list parameters, and what each success carries.

FastAPI's own document lists a 422 shape Shiplane never sends (validation errors
are 400 in the envelope) and knows nothing of the token or of lists' query
parameters, which routes read from the request; this fills that in.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from shiplane.platform.errors import CATALOGUE
from shiplane.platform.listing import DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE, ListSpec

_META = {
    "type": "object",
    "required": ["requestId", "timestamp"],
    "properties": {
        "requestId": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "pagination": {"$ref": "#/components/schemas/PaginationMeta"},
    },
}
SCHEMAS: dict[str, Any] = {
    "ErrorEnvelope": {
        "type": "object",
        "required": ["success", "error", "meta"],
        "properties": {
            "success": {"const": False},
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": sorted(CATALOGUE)},
                    "message": {"type": "string"},
                    "details": {"type": "object"},
                    "validationErrors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["field", "message", "code"],
                            "properties": {
                                "field": {"type": "string"},
                                "message": {"type": "string"},
                                "code": {"type": "string"},
                            },
                        },
                    },
                },
            },
            "meta": _META,
        },
    },
    "SuccessEnvelope": {
        "type": "object",
        "required": ["success", "data", "meta"],
        "properties": {"success": {"const": True}, "data": {}, "meta": _META},
    },
    "PaginationMeta": {
        "type": "object",
        "required": ["page", "pageSize", "totalItems", "totalPages", "hasNext", "hasPrevious"],
        "properties": {
            "page": {"type": "integer"},
            "pageSize": {"type": "integer"},
            "totalItems": {"type": "integer"},
            "totalPages": {"type": "integer"},
            "hasNext": {"type": "boolean"},
            "hasPrevious": {"type": "boolean"},
            "nextCursor": {"type": ["string", "null"]},
        },
    },
}

_DESCRIPTIONS = {
    "400": "Invalid request (VALIDATION_ERROR, INVALID_FILTER, INVALID_SORT)",
    "401": "Missing or invalid bearer token",
    "403": "The token lacks the permission",
    "404": "No such resource in the caller's tenant",
    "405": "Method not allowed",
    "409": "The resource's state forbids it (ALREADY_EXISTS, VERSION_CONFLICT, RESOURCE_IN_USE, INVALID_STATE)",
    "413": "The body is too large",
    "415": "The body is not application/json",
    "422": "A business rule denies it (PLUGIN_DISABLED, IDEMPOTENCY_KEY_REUSED, ...)",
    "429": "Rate limited (Retry-After)",
    "431": "Too many or too large headers",
    "500": "Internal error (quote the requestId)",
    "503": "A dependency is not ready, or the database connection was lost (Retry-After)",
}


def returns(model: type[BaseModel], *, many: bool = False, status: int = 200) -> dict[int | str, Any]:
    """``responses=`` for a route: its success envelope's ``data`` is ``model`` (a list
    of them with ``many``). The route still builds its own response; the document says
    what it holds, and the test suite checks every response against it
    (``tests/openapi_conformance.py``), so the two cannot part."""
    return {status: {"model": list[model] if many else model, "description": "Success"}}  # type: ignore[valid-type]


def download(*media_types: str, schema: dict[str, Any] | None = None) -> dict[int | str, Any]:
    """``responses=`` for a route that answers a file as it is (``Content-Disposition:
    attachment``), not the envelope: each media type it can carry, its bytes described by
    ``schema`` (default: any bytes). The conformance check leaves attachments alone."""

    def body(media: str) -> dict[str, Any]:
        if schema is not None:
            return schema
        return {} if media.endswith("json") else {"type": "string", "format": "binary"}

    return {
        200: {
            "description": "The file itself (Content-Disposition: attachment; a Digest header)",
            "content": {media: {"schema": body(media)} for media in media_types},
            _RAW: list(media_types),
        }
    }


_RAW = "x-shiplane-download"


def _success(data: dict[str, Any]) -> dict[str, Any]:
    if not data:
        return {"$ref": "#/components/schemas/SuccessEnvelope"}
    return {
        "type": "object",
        "required": ["success", "data", "meta"],
        "properties": {"success": {"const": True}, "data": data, "meta": _META},
    }


def _error(status: str) -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def list_parameters(spec: ListSpec | None = None) -> dict[str, Any]:
    """``openapi_extra`` for a list route: ``page`` and ``pageSize``, and for lists read
    from the database (``spec``) ``sort`` (its pattern names the sortable fields),
    ``filter`` and ``cursor`` (see docs/api-conventions.md)."""
    params = [
        _param("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}, "1-indexed page"),
        _param(
            "pageSize",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
            "items per page",
        ),
    ]
    if spec is not None:
        names = "|".join(sorted((n for n, f in spec.fields.items() if f.sortable), key=lambda n: (-len(n), n)))
        term = f"-?(?:{names})"
        sort = {"type": "string", "pattern": f"^(?:{term}(?:,{term})*)?$"}
        params += [
            _param("sort", sort, "comma-separated fields of the allow-list, '-' for descending, each once"),
            _param("filter", {"type": "string"}, "a JSON filter expression"),
            _param("cursor", {"type": "string"}, "meta.pagination.nextCursor of the previous page"),
        ]
    return {"parameters": params}


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, routes=app.routes)
        components = document.setdefault("components", {})
        components.setdefault("schemas", {}).update(SCHEMAS)
        components["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
        for schema_name in ("HTTPValidationError", "ValidationError"):
            components["schemas"].pop(schema_name, None)
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                _complete(path, method, operation)
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]


def _complete(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    for status, response in responses.items():
        if path == "/metrics":
            response["content"] = {"text/plain": {"schema": {"type": "string"}}}  # Prometheus' text format
        elif _RAW in response:
            # A file answered as it is: only the media types the route named.
            named = response.pop(_RAW)
            response["content"] = {m: c for m, c in response.get("content", {}).items() if m in named}
        elif status.startswith("2") and status != "204":
            # A model the route declared (``returns``) is the envelope's data; none: any data.
            declared = response.get("content", {}).get("application/json", {}).get("schema", {})
            response["content"] = {"application/json": {"schema": _success(declared)}}
    statuses = ["400", "500"]
    if path.startswith("/api/v1/"):
        operation["security"] = [{"bearerAuth": []}]
        statuses += ["401", "403", "429", "431", "503"]
        if "{" in path:
            statuses.append("404")
        if method in ("post", "put"):
            statuses += ["409", "413", "415", "422"]
        if method == "delete":
            statuses += ["409"]
    elif path == "/readyz":
        statuses.append("503")
    for status in statuses:
        responses.setdefault(status, _error(status))
    for status, response in responses.items():
        # An error a route declares itself (a GET that can be 409) gets the envelope too.
        if status[:1] in ("4", "5") and "content" not in response:
            response["content"] = _error(status)["content"]
