"""The request pipeline around every route: request id, authentication, rate limit,
envelope-shaped errors, access log and metrics.

It is a plain ASGI middleware (no BaseHTTPMiddleware) because it runs on every
request and must also turn an unhandled exception into the 500 envelope with the
request id, which Starlette's outermost error middleware would answer without.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shiplane.platform.auth import Principal
from shiplane.platform.context import request_id_var, tenant_var, user_var
from shiplane.platform.envelope import JSONEnvelopeResponse, error_body, failure
from shiplane.platform.errors import ApiError, FieldError, validation_error
from shiplane.platform.jwt import TokenError
from shiplane.platform.ratelimit import rate_limit_headers
from shiplane.platform.schemas import NUL_ERROR_TYPE, PATH_ERROR_TYPES

log = logging.getLogger("shiplane.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Limits checked before any work on a request: no id, name or plugin id in a path is
# longer than this, and a bearer token longer than MAX_TOKEN_BYTES is refused unread
# (a signed JWT with the claims Shiplane uses is well under 2 KiB).
MAX_PATH_SEGMENT = 128
MAX_TOKEN_BYTES = 8 * 1024
MAX_HEADER_BYTES = 32 * 1024
MAX_HEADER_COUNT = 100


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "shiplane_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "shiplane_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
        )
        self.rate_limited = Counter("shiplane_rate_limited_total", "Requests refused with 429", registry=self.registry)
        self.oauth_tokens = Counter(
            "shiplane_oauth_tokens_total",
            "POST /oauth/token by outcome: issued, invalid_client, invalid_request, rate_limited, unavailable",
            ["outcome"],
            registry=self.registry,
        )
        self.component_syncs = Counter(
            "shiplane_component_syncs_total",
            "POST /components/{id}/sync-versions by outcome: ok, integration_failed, plugin_disabled, error",
            ["outcome"],
            registry=self.registry,
        )
        self.component_sync_duration = Histogram(
            "shiplane_component_sync_duration_seconds",
            "How long sync-versions took, the integration's listing included",
            registry=self.registry,
        )


# SQLSTATE classes of a lost connection: 08 (connection exception) and 57P01-57P03
# (the server is shutting down, crashed, or cannot connect now).
_LOST_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03")


def database_connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is the database connection going away mid-request."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_LOST_CONNECTION_STATES):
            return True
        current = current.__cause__ or current.__context__
    return False


class BodyTooLarge(StarletteHTTPException):
    """Raised by the pipeline's ``receive`` once a body passes ``max_body_bytes``.

    An HTTPException, so FastAPI's body parsing re-raises it as it is (any other
    exception there becomes a 400) and the 413 handler below answers it.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"the request body exceeds the limit of {limit} bytes")
        self.limit = limit


def payload_too_large(limit: int) -> ApiError:
    return ApiError(
        "PAYLOAD_TOO_LARGE", f"the request body exceeds the limit of {limit} bytes", {"maxBodyBytes": limit}
    )


def _content_length(value: str | None) -> int | None:
    """The declared body length, or None when absent or not a plain number (the
    server refuses those itself; the streamed count below still applies)."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _has_body(headers: dict[str, str]) -> bool:
    length = _content_length(headers.get("content-length"))
    return bool(length) or "chunked" in headers.get("transfer-encoding", "").lower()


FORM_PATHS = frozenset({"/oauth/token"})


def _is_form(headers: dict[str, str]) -> bool:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded"


def _is_json(headers: dict[str, str]) -> bool:
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


class RequestPipeline:
    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        services = self.fastapi_app.state.shiplane
        started = time.perf_counter()
        raw_headers = scope["headers"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else str(uuid.uuid4())
        tokens = [request_id_var.set(request_id), tenant_var.set(None), user_var.set(None)]
        state = scope.setdefault("state", {})
        extra_headers: list[tuple[bytes, bytes]] = [(b"x-request-id", request_id.encode())]
        status_holder = {"status": 500}
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_holder["status"] = message["status"]
                message["headers"] = list(message.get("headers", [])) + extra_headers
            await send(message)

        # The body limit: a declared Content-Length above it is refused before any
        # authentication work; a body without one (chunked) is counted as the app
        # reads it, and refused as soon as it passes the limit, without reading on.
        max_body = services.settings.max_body_bytes
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if received > max_body:
                raise BodyTooLarge(max_body)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body:
                    raise BodyTooLarge(max_body)
            return message

        # One try around everything, authentication and the rate limiter included: a
        # failure there (a Redis outage, say) is still the 500 envelope with the request id.
        try:
            if len(raw_headers) > MAX_HEADER_COUNT or sum(len(k) + len(v) for k, v in raw_headers) > MAX_HEADER_BYTES:
                error = ApiError(
                    "HEADERS_TOO_LARGE",
                    f"at most {MAX_HEADER_COUNT} headers of {MAX_HEADER_BYTES} bytes in all",
                    {"maxHeaderCount": MAX_HEADER_COUNT, "maxHeaderBytes": MAX_HEADER_BYTES},
                )
                await self._send_error(error, extra_headers, send, status_holder)
                return
            declared = _content_length(headers.get("content-length"))
            if declared is not None and declared > max_body:
                # Not authenticated (the token is not even verified), so it is counted
                # like any unauthenticated request: in the client address's bucket.
                if await self._rate_limited(None, scope, extra_headers, send, status_holder):
                    return
                await self._send_error(payload_too_large(max_body), extra_headers, send, status_holder)
                return

            principal: Principal | None = None
            authorization = headers.get("authorization")
            if authorization is not None:
                scheme, _, token = authorization.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    state["auth_error"] = "the Authorization header must be 'Bearer <token>'"
                elif len(token) > MAX_TOKEN_BYTES:
                    state["auth_error"] = f"the bearer token is longer than {MAX_TOKEN_BYTES} bytes"
                elif services.too_many_failed_authentications(scope):
                    # Checked before the signature: a flood of bad tokens from one address
                    # costs a dictionary lookup each, not a verification.
                    services.metrics.rate_limited.inc()
                    error = ApiError(
                        "RATE_LIMITED",
                        "too many requests with tokens that did not verify from this address",
                        {"retryAfterSeconds": 1},
                        headers={"Retry-After": "1"},
                    )
                    await self._send_error(error, extra_headers, send, status_holder)
                    return
                else:
                    try:
                        principal = await services.authenticate(token.strip())
                    except TokenError as exc:
                        state["auth_error"] = str(exc)
                        await services.record_failed_authentication(scope)
            state["principal"] = principal
            if principal is not None:
                tenant_var.set(principal.tenant_id)
                user_var.set(principal.user_id)

            if await self._rate_limited(principal, scope, extra_headers, send, status_holder):
                return

            if (
                scope["method"] in ("POST", "PUT", "PATCH")
                and _has_body(headers)
                and not _is_json(headers)
                # The OAuth 2.0 token endpoint takes a form, as RFC 6749 says.
                and not (scope["path"] in FORM_PATHS and _is_form(headers))
            ):
                error = ApiError("UNSUPPORTED_MEDIA_TYPE", "the body must be application/json")
                await self._send_error(error, extra_headers, send, status_holder)
                return

            if any(len(segment) > MAX_PATH_SEGMENT for segment in scope["path"].split("/")):
                # No id or name is this long: answered before anything (an audit record
                # of a refusal, say) would try to store it.
                error = ApiError("NOT_FOUND", f"no resource has a path segment longer than {MAX_PATH_SEGMENT}")
                await self._send_error(error, extra_headers, send, status_holder)
                return

            if "\x00" in scope["path"]:
                # A %00 in a path parameter (a resource id) would reach PostgreSQL,
                # which cannot hold NUL in text; no route or resource can match it.
                error = validation_error("path", "must not contain the NUL character (\\u0000)", NUL_ERROR_TYPE)
                await self._send_error(error, extra_headers, send, status_holder)
                return

            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            # Normally answered inside the app (FastAPI re-raises it to the 413
            # handler); this catches a read outside any route.
            if not response_started:
                await self._send_error(payload_too_large(max_body), extra_headers, send, status_holder)
        except Exception as exc:
            if database_connection_lost(exc):
                # A failover, a restart, a terminated backend: not a bug, and the change (if
                # any) was not committed. Say so, and keep the error log for real errors.
                log.warning("database connection lost", extra={"path": scope["path"], "method": scope["method"]})
                if not response_started:
                    error = ApiError(
                        "SERVICE_UNAVAILABLE",
                        "the database connection was lost; nothing was changed, retry shortly",
                        {"requestId": request_id},
                        headers={"Retry-After": "1"},
                    )
                    await self._send_error(error, extra_headers, send, status_holder)
                return
            log.exception("unhandled error", extra={"path": scope["path"], "method": scope["method"]})
            if not response_started:
                error = ApiError(
                    "INTERNAL_ERROR", "internal error; quote the requestId when reporting it", {"requestId": request_id}
                )
                await self._send_error(error, extra_headers, send, status_holder)
        finally:
            self._finish(scope, started, status_holder["status"], tokens)

    async def _rate_limited(
        self,
        principal: Principal | None,
        scope: Scope,
        extra_headers: list[tuple[bytes, bytes]],
        send: Send,
        status_holder: dict[str, int],
    ) -> bool:
        """Take a rate-limit token; adds the rate-limit headers, and answers 429 (True) when refused."""
        services = self.fastapi_app.state.shiplane
        if services.rate_limiter is None or scope["path"] in UNLIMITED_PATHS:
            return False
        decision = await services.take_rate_token(principal, scope)
        extra_headers += [(k.lower().encode(), v.encode()) for k, v in rate_limit_headers(decision).items()]
        if decision.allowed:
            return False
        services.metrics.rate_limited.inc()
        error = ApiError(
            "RATE_LIMITED",
            f"rate limit of {decision.per_minute}/min (burst {decision.limit}) exceeded",
            {"tier": decision.tier, "retryAfterSeconds": decision.retry_after},
            headers={"Retry-After": str(decision.retry_after)},
        )
        await self._send_error(error, extra_headers, send, status_holder)
        return True

    async def _send_error(
        self, error: ApiError, extra: list[tuple[bytes, bytes]], send: Send, holder: dict[str, int]
    ) -> None:
        response = failure(error)
        response.raw_headers = list(response.raw_headers) + extra
        holder["status"] = response.status_code

        async def _noop_receive() -> Message:
            return {"type": "http.disconnect"}

        await response({"type": "http"}, _noop_receive, send)

    def _finish(self, scope: Scope, started: float, status: int, tokens: list[Any]) -> None:
        elapsed = time.perf_counter() - started
        route = scope.get("route")
        route_path = getattr(route, "path", None) or "unmatched"
        metrics = self.fastapi_app.state.shiplane.metrics
        metrics.requests.labels(scope["method"], route_path, str(status)).inc()
        metrics.latency.labels(scope["method"], route_path).observe(elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "durationMs": round(elapsed * 1000, 2),
                },
            )
        request_id_var.reset(tokens[0])
        tenant_var.reset(tokens[1])
        user_var.reset(tokens[2])


def _allow_header(request: Request, headers: dict[str, str]) -> dict[str, str]:
    """The methods of the path's operations, as the OpenAPI document lists them. When a
    literal path and a templated one both match (``/agents/register`` and
    ``/agents/{agent_id}``), the literal one is the path's operation."""
    matches = [
        (params, methods)
        for pattern, params, methods in _method_table(request.app)
        if pattern.fullmatch(request.url.path)
    ]
    if not matches:
        return headers
    fewest = min(params for params, _ in matches)
    allowed = sorted({m for params, methods in matches if params == fewest for m in methods})
    return {**headers, "Allow": ", ".join(allowed)} if allowed else headers


def _method_table(app: Any) -> list[tuple[re.Pattern[str], int, frozenset[str]]]:
    table: list[tuple[re.Pattern[str], int, frozenset[str]]] | None = getattr(app.state, "method_table", None)
    if table is None:
        table = []
        for path, operations in app.openapi().get("paths", {}).items():
            pieces = re.split(r"(\{[^}]+\})", path)
            pattern = "".join("[^/]+" if piece.startswith("{") else re.escape(piece) for piece in pieces)
            methods = frozenset(m.upper() for m in operations if m.upper() in _METHODS)
            table.append((re.compile(pattern), path.count("{"), methods))
        app.state.method_table = table
    return table


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _dotted(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONEnvelopeResponse:
        return failure(exc)  # type: ignore[return-value]

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONEnvelopeResponse:
        errors = []
        for item in exc.errors():
            code = item.get("type", "invalid")
            if code == "json_invalid":
                errors.append(FieldError("body", "the body is not valid JSON", "json_invalid"))
                continue
            field = _dotted(tuple(item.get("loc", ())))
            message = item.get("msg", "invalid value")
            if code in PATH_ERROR_TYPES:
                # One error per offending string (or too-deep container), named by its full dotted path.
                base = "" if field == "body" else field
                for path in (item.get("ctx") or {}).get("paths") or [""]:
                    errors.append(FieldError(".".join(p for p in (base, path) if p) or "body", message, code))
                continue
            if code == "missing":
                message = "field required"
            errors.append(FieldError(field, message, code))
        message = "the request is invalid" if len(errors) != 1 else f"invalid {errors[0].field}: {errors[0].message}"
        return failure(ApiError("VALIDATION_ERROR", message, None, errors))  # type: ignore[return-value]

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONEnvelopeResponse:
        if exc.status_code == 404:
            error = ApiError("NOT_FOUND", f"no route {request.method} {request.url.path}")
        elif exc.status_code == 405:
            error = ApiError(
                "METHOD_NOT_ALLOWED",
                f"{request.method} is not allowed on {request.url.path}",
                headers=_allow_header(request, dict(exc.headers or {})),
            )
        elif isinstance(exc, BodyTooLarge):
            error = payload_too_large(exc.limit)
        elif exc.status_code == 413:
            error = ApiError("PAYLOAD_TOO_LARGE", "request body too large")
        elif exc.status_code == 415:
            error = ApiError("UNSUPPORTED_MEDIA_TYPE", "the body must be application/json")
        elif exc.status_code == 401:
            error = ApiError("UNAUTHORIZED", str(exc.detail))
        elif exc.status_code == 403:
            error = ApiError("FORBIDDEN", str(exc.detail))
        elif exc.status_code < 500:
            error = ApiError("VALIDATION_ERROR", str(exc.detail))
        else:
            error = ApiError("INTERNAL_ERROR", "internal error")
        return JSONEnvelopeResponse(error_body(error), status_code=error.status, headers=error.headers)
