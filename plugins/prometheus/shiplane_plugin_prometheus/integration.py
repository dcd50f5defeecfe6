"""The ``prometheus`` monitoring integration type: Prometheus' HTTP API over httpx.

``test`` reads ``/api/v1/status/buildinfo``, ``health`` ``/-/ready``, and
``query_metrics`` runs PromQL through ``/api/v1/query`` (instant) or
``/api/v1/query_range`` (range), POSTed as a form (a long query fits no URL) and sent
again as a GET when the server answers 405 (a read-only proxy in front of Prometheus).
Every operation has one deadline, ``timeoutSeconds``, from connecting to the last byte,
and reads at most :data:`~shiplane_plugin_prometheus.results.MAX_RESPONSE_BYTES`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

import httpx
from shiplane_sdk import (
    ConfigError,
    ConnectionTestResult,
    HealthReport,
    IntegrationType,
    MetricQuery,
    MetricResult,
    PluginError,
)

from shiplane_plugin_prometheus.results import (
    MAX_POINTS_PER_SERIES,
    MAX_RESPONSE_BYTES,
    NotPrometheus,
    to_metric_result,
)

__all__ = ["RESERVED_HEADERS", "USER_AGENT", "Prometheus"]

logger = logging.getLogger(__name__)

USER_AGENT = "Shiplane-Prometheus/0.1"
#: Headers ``headers`` may not set (case-insensitive): the plugin sets them, or
#: ``bearerToken``/``basicAuth`` do (``Authorization``).
RESERVED_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "authorization",
        "connection",
        "content-length",
        "content-type",
        "host",
        "transfer-encoding",
        "user-agent",
    }
)
BUILDINFO_PATH = "/api/v1/status/buildinfo"
READY_PATH = "/-/ready"
QUERY_PATH = "/api/v1/query"
QUERY_RANGE_PATH = "/api/v1/query_range"
#: The most bytes read of an answer that is only looked at (buildinfo, readiness, an error).
_SMALL_ANSWER_BYTES = 1024 * 1024
_EXCERPT_CHARS = 200
_ERROR_CHARS = 500


def _any_case(word: str) -> str:
    """A regex (ECMA-262 and Python) matching ``word`` in any letter case (letters, digits, ``-``)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


_RESERVED_HEADER_PATTERN = "^(?:" + "|".join(_any_case(name) for name in sorted(RESERVED_HEADERS)) + ")$"
# The end of the value: Python's "$" also matches before a final newline, ECMA-262's does not;
# "$(?!\n)" means the very end in both (JSON Schema patterns are ECMA-262, jsonschema uses re).
_END = "$(?!\\n)"
# http(s), a host (and port), an optional path; no user info, query or fragment.
_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@]+(?:/[^\s?#]*)?" + _END

_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {
            "type": "string",
            "title": "URL",
            "description": (
                "Base URL of the Prometheus server (or of a Prometheus-compatible API), with a path "
                "prefix if it is served under one: http://prometheus.internal:9090, "
                "https://example.com/prometheus. No user name, password, query or fragment."
            ),
            "format": "uri",
            "minLength": 8,
            "maxLength": 2048,
            "pattern": _URL_PATTERN,
        },
        "bearerToken": {
            "type": "string",
            "title": "Bearer token",
            "description": "Sent as Authorization: Bearer <token>. Not with basicAuth.",
            "writeOnly": True,
            "minLength": 1,
            "maxLength": 8192,
            "pattern": "^[\\x21-\\x7e]+" + _END,
        },
        "basicAuth": {
            "type": "object",
            "title": "Basic authentication",
            "description": "HTTP basic authentication (Prometheus' --web.config.file basic_auth_users). Not with "
            "bearerToken.",
            "properties": {
                "username": {
                    "type": "string",
                    "title": "User name",
                    "minLength": 1,
                    "maxLength": 256,
                    "pattern": "^[^:\\x00-\\x1f\\x7f]+" + _END,
                },
                "password": {
                    "type": "string",
                    "title": "Password",
                    "writeOnly": True,
                    "minLength": 1,
                    "maxLength": 1024,
                    "pattern": "^[^\\x00-\\x1f\\x7f]+" + _END,
                },
            },
            "required": ["username", "password"],
            "additionalProperties": False,
        },
        "timeoutSeconds": {
            "type": "number",
            "title": "Timeout (seconds)",
            "description": "The deadline of one operation, from connecting to the last byte of the answer "
            "(default 10); also sent as the query's evaluation timeout.",
            "minimum": 1,
            "maximum": 60,
            "default": 10,
        },
        "headers": {
            "type": "object",
            "title": "Extra headers",
            "description": (
                "Up to 10 more request headers, for example X-Scope-OrgID for a multi-tenant Mimir, Cortex or "
                "Thanos. Values are secret. Authorization (use bearerToken or basicAuth), Accept, User-Agent and "
                "other headers the plugin sets can't be set."
            ),
            "maxProperties": 10,
            "propertyNames": {
                "minLength": 1,
                "maxLength": 64,
                "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]+" + _END,
                "not": {"pattern": _RESERVED_HEADER_PATTERN},
            },
            "additionalProperties": {
                "type": "string",
                "writeOnly": True,
                "maxLength": 1024,
                "pattern": "^[\\t\\x20-\\x7e]*" + _END,
            },
        },
    },
    "required": ["url"],
    "not": {"required": ["bearerToken", "basicAuth"]},
    "additionalProperties": False,
}

# (field regex, codes, message): plain messages that never quote the value.
_MESSAGES: list[tuple[str, tuple[str, ...], str]] = [
    (
        r"url",
        ("pattern", "format", "minLength"),
        "must be an http:// or https:// URL with a host and an optional path, without a user name, password, "
        "query or fragment",
    ),
    (r"bearerToken", ("pattern",), "must be printable ASCII without spaces"),
    (r"basicAuth\.username", ("pattern",), "must not contain ':' or control characters"),
    (r"basicAuth\.password", ("pattern",), "must not contain control characters"),
    (
        r"headers",
        ("pattern", "minLength", "maxLength"),
        "a header name is 1 to 64 letters, digits or !#$%&'*+.^_`|~- characters",
    ),
    (r"headers\..+", ("pattern",), "a header value is printable ASCII on one line"),
]


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def single_line(text: str, limit: int) -> str:
    """``text`` on one line (control characters and whitespace runs become one space), at most
    ``limit`` characters (cut with ``…``)."""
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: max(limit - 1, 0)] + "…"


def masked(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret of at least 3 characters replaced by ``***``."""
    for secret in sorted((s for s in secrets if s and len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _friendlier(errors: list[ConfigError]) -> list[ConfigError]:
    compiled = [(re.compile(pattern), frozenset(codes), text) for pattern, codes, text in _MESSAGES]
    result: list[ConfigError] = []
    seen: set[tuple[str, str]] = set()
    for error in errors:
        for pattern, codes, text in compiled:
            if error.code in codes and pattern.fullmatch(error.field):
                error = ConfigError(field=error.field, message=text, code=error.code)
                break
        if (error.field, error.message) not in seen:
            seen.add((error.field, error.message))
            result.append(error)
    return result


def _time_param(moment: datetime) -> str:
    """Unix seconds with milliseconds, as Prometheus takes them (a naive datetime is UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.timestamp():.3f}"


def _seconds_param(seconds: float) -> str:
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return text or "0"


@lru_cache(maxsize=1)
def _tls_context() -> Any:
    # One verifying context for every call (httpx's CA bundle; SSL_CERT_FILE honoured), shared
    # between threads and event loops, instead of loading the CA bundle on every call.
    return httpx.create_ssl_context()


# ---------------------------------------------------------------------------
# One call's settings and answers
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    base: str
    where: str
    timeout: float
    headers: dict[str, str]
    auth: httpx.Auth | None
    authenticated: bool
    hidden: tuple[str, ...] = field(repr=False)

    def fail(self, text: str, **details: Any) -> PluginError:
        """A :class:`PluginError` whose message and details hold no secret."""
        safe = {key: masked(value, self.hidden) if isinstance(value, str) else value for key, value in details.items()}
        return PluginError(masked(text, self.hidden), details={"url": self.where, **safe})


@dataclass(frozen=True)
class _Answer:
    path: str
    status: int
    reason: str
    content_type: str
    location: str | None
    body: bytes

    def payload(self) -> Any:
        """The body as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            return None

    def excerpt(self) -> str:
        return single_line(self.body[:4096].decode("utf-8", "replace"), _EXCERPT_CHARS)


def _settings(config: dict[str, Any]) -> _Settings:
    raw = str(config["url"]).rstrip("/")
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise PluginError("the Prometheus url is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host or url.userinfo:
        raise PluginError("the Prometheus url must be an http:// or https:// URL with a host and no user name")
    extra = {str(k): str(v) for k, v in dict(config.get("headers") or {}).items()}
    headers = {name: value for name, value in extra.items() if name.lower() not in RESERVED_HEADERS}
    headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
    hidden: list[str] = list(extra.values())
    auth: httpx.Auth | None = None
    token = config.get("bearerToken")
    basic = config.get("basicAuth")
    if token:
        headers["Authorization"] = f"Bearer {token}"
        hidden.append(str(token))
    elif isinstance(basic, dict):
        username, password = str(basic["username"]), str(basic["password"])
        auth = httpx.BasicAuth(username, password)
        hidden += [password, base64.b64encode(f"{username}:{password}".encode()).decode("ascii")]
    return _Settings(
        base=raw,
        where=single_line(raw, _EXCERPT_CHARS),
        timeout=float(config.get("timeoutSeconds", 10)),
        headers=headers,
        auth=auth,
        authenticated=bool(token or basic),
        hidden=tuple(hidden),
    )


T = TypeVar("T")


def _reason(exc: BaseException) -> str:
    return single_line(str(exc) or type(exc).__name__, _EXCERPT_CHARS)


async def _run(settings: _Settings, work: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run ``work`` with a client, under one deadline, turning transport failures into PluginErrors."""
    try:
        # One deadline for the whole operation: httpx's timeouts are per connect/read/write,
        # so a server trickling bytes would otherwise hold the call.
        async with asyncio.timeout(settings.timeout):
            async with httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(settings.timeout),
                verify=_tls_context(),
                auth=settings.auth,
                headers=settings.headers,
            ) as client:
                return await work(client)
    except (TimeoutError, httpx.TimeoutException):
        raise settings.fail(f"Prometheus at {settings.where} did not answer within {settings.timeout:g}s") from None
    except httpx.ConnectError as exc:
        raise settings.fail(f"could not connect to Prometheus at {settings.where}: {_reason(exc)}") from None
    except httpx.HTTPError as exc:
        raise settings.fail(f"the request to Prometheus at {settings.where} failed: {_reason(exc)}") from None


async def _send(
    client: httpx.AsyncClient,
    settings: _Settings,
    method: str,
    path: str,
    *,
    params: dict[str, str] | None = None,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> _Answer:
    """One request; the answer's body is read up to ``max_bytes`` (decompressed), more is refused."""
    url = settings.base + path
    if method == "POST":
        request = client.build_request("POST", url, data=params)
    else:
        request = client.build_request(method, url, params=params)
    response = await client.send(request, stream=True)
    try:
        limit = f"{max_bytes / (1024 * 1024):g} MiB"
        too_large = settings.fail(
            f"the answer of Prometheus at {settings.where} to {path} is larger than {limit}: narrow the query "
            "(fewer series, a shorter range or a larger step)",
            maxBytes=max_bytes,
        )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise too_large
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise too_large
    finally:
        await response.aclose()
    return _Answer(
        path=path,
        status=response.status_code,
        reason=response.reason_phrase,
        content_type=response.headers.get("content-type", ""),
        location=response.headers.get("location"),
        body=bytes(body),
    )


def _http_failure(settings: _Settings, answer: _Answer) -> PluginError:
    """The error of an answer that is not 2xx (and not a Prometheus API error)."""
    status = answer.status
    status_text = f"HTTP {status}" + (f" {single_line(answer.reason, 60)}" if answer.reason else "")
    who = f"Prometheus at {settings.where}"
    if status == 401:
        why = (
            "it refused the credentials, check bearerToken or basicAuth"
            if settings.authenticated
            else "it requires credentials, set bearerToken or basicAuth"
        )
        return settings.fail(f"{who} answered {status_text}: {why}", status=status)
    if status == 403:
        return settings.fail(f"{who} answered {status_text}: the credentials may not read {answer.path}", status=status)
    if status == 404:
        return settings.fail(
            f"{settings.where} answered {status_text} for {answer.path}: it does not serve the Prometheus HTTP API "
            "there (check the url and its path prefix)",
            status=status,
        )
    if 300 <= status < 400:
        target = f" to {single_line(answer.location, _EXCERPT_CHARS)}" if answer.location else ""
        return settings.fail(
            f"{who} answered {status_text}, a redirect{target}: redirects are not followed, set the final URL",
            status=status,
        )
    excerpt = answer.excerpt()
    return settings.fail(f"{who} answered {status_text}" + (f": {excerpt}" if excerpt else ""), status=status)


def _api_error(settings: _Settings, answer: _Answer, payload: Any) -> PluginError | None:
    """The error of an answer with ``"status": "error"`` (Prometheus refused the request)."""
    if not (isinstance(payload, dict) and payload.get("status") == "error"):
        return None
    error_type = single_line(str(payload.get("errorType") or "error"), 60)
    error = single_line(str(payload.get("error") or "no reason given"), _ERROR_CHARS)
    return settings.fail(
        f"Prometheus at {settings.where} refused the query ({error_type}): {error}",
        errorType=error_type,
        error=error,
        status=answer.status,
    )


def _describe_body(answer: _Answer) -> str:
    if not answer.body.strip():
        return "an empty body"
    if "html" in answer.content_type.lower() or answer.body.lstrip()[:1] == b"<":
        return "an HTML page"
    if answer.payload() is None:
        return "a body that is not JSON"
    return "JSON that is not the Prometheus API's"


def _success_data(settings: _Settings, answer: _Answer) -> Any:
    """The ``data`` of a successful API answer, or the PluginError saying what went wrong."""
    payload = answer.payload()
    error = _api_error(settings, answer, payload)
    if error is not None:
        raise error
    if not 200 <= answer.status < 300:
        raise _http_failure(settings, answer)
    if not (isinstance(payload, dict) and payload.get("status") == "success" and "data" in payload):
        raise settings.fail(
            f"the answer of {settings.where} to {answer.path} is not a Prometheus API response "
            f"(HTTP {answer.status} with {_describe_body(answer)})",
            status=answer.status,
        )
    warnings = payload.get("warnings")
    if isinstance(warnings, list) and warnings:
        text = masked(single_line("; ".join(str(w) for w in warnings[:5]), _ERROR_CHARS), settings.hidden)
        logger.warning("Prometheus at %s answered %s with warnings: %s", settings.where, answer.path, text)
    return payload["data"]


# ---------------------------------------------------------------------------
# The integration type
# ---------------------------------------------------------------------------


class Prometheus(IntegrationType):
    """Prometheus (or a Prometheus-compatible query API) as a monitoring integration."""

    id = "prometheus"
    category = "monitoring"
    display_name = "Prometheus"
    description = (
        "Runs PromQL queries (instant and range) against a Prometheus server for A/B release analysis, "
        "with bearer-token or basic authentication."
    )
    config_schema: dict[str, Any] = _CONFIG_SCHEMA

    def validate_config(self, config: Any) -> list[ConfigError]:
        errors = _friendlier(super().validate_config(config))
        if not isinstance(config, dict):
            return errors
        # The root "not" (both credentials) has no field: name basicAuth and say why.
        if "bearerToken" in config and "basicAuth" in config:
            errors = [e for e in errors if not (e.field == "" and e.code == "not")]
            errors.append(ConfigError(field="basicAuth", message="set bearerToken or basicAuth, not both", code="not"))
        headers = config.get("headers")
        if isinstance(headers, dict):
            reserved = [name for name in headers if isinstance(name, str) and name.lower() in RESERVED_HEADERS]
            if reserved:
                errors = [e for e in errors if not (e.field == "headers" and e.code == "not")]
                errors += [
                    ConfigError(
                        field=f"headers.{name}",
                        message=f"{single_line(name, 64)} is set by the plugin and can't be set here"
                        + (" (use bearerToken or basicAuth)" if name.lower() == "authorization" else ""),
                        code="not",
                    )
                    for name in reserved
                ]
        return errors

    async def test(self, config: dict[str, Any]) -> ConnectionTestResult:
        """``GET /api/v1/status/buildinfo``: ok with the version when Prometheus answers it."""
        errors = self.validate_config(config)
        if errors:
            described = "; ".join(f"{e.field or '<config>'}: {e.message}" for e in errors)
            return ConnectionTestResult(ok=False, message=f"invalid configuration: {described}")
        try:
            settings = _settings(config)
            return await _run(settings, lambda client: self._probe(client, settings))
        except PluginError as exc:
            return ConnectionTestResult(ok=False, message=exc.message, details=exc.details)

    async def _probe(self, client: httpx.AsyncClient, settings: _Settings) -> ConnectionTestResult:
        answer = await _send(client, settings, "GET", BUILDINFO_PATH, max_bytes=_SMALL_ANSWER_BYTES)
        payload = answer.payload()
        if answer.status == 404 and _api_error(settings, answer, payload) is None:
            return await self._probe_query_api(client, settings, answer)
        data = _success_data_or_failure(settings, answer)
        version = data.get("version") if isinstance(data, dict) else None
        if not isinstance(version, str) or not version:
            raise settings.fail(
                f"{settings.where} did not answer as a Prometheus server: {BUILDINFO_PATH} has no version",
                status=answer.status,
            )
        details: dict[str, Any] = {"url": settings.where, "version": single_line(version, 100)}
        for key in ("revision", "branch", "goVersion"):
            if isinstance(data.get(key), str):
                details[key] = single_line(data[key], 100)
        return ConnectionTestResult(
            ok=True, message=f"Prometheus {details['version']} answered at {settings.where}", details=details
        )

    async def _probe_query_api(
        self, client: httpx.AsyncClient, settings: _Settings, buildinfo: _Answer
    ) -> ConnectionTestResult:
        # Some Prometheus-compatible servers have no buildinfo: accept one that answers a query.
        answer = await _query(client, settings, QUERY_PATH, {"query": "1"})
        payload = answer.payload()
        data = payload.get("data") if isinstance(payload, dict) and payload.get("status") == "success" else None
        if not (200 <= answer.status < 300 and isinstance(data, dict) and data.get("resultType") == "scalar"):
            raise settings.fail(
                f"{settings.where} did not answer as a Prometheus server: HTTP {buildinfo.status} for "
                f"{BUILDINFO_PATH} and HTTP {answer.status} with {_describe_body(answer)} for {QUERY_PATH}",
                status=buildinfo.status,
            )
        return ConnectionTestResult(
            ok=True,
            message=f"{settings.where} answers the Prometheus query API (version unknown: no {BUILDINFO_PATH})",
            details={"url": settings.where, "version": None},
        )

    async def health(self, config: dict[str, Any]) -> HealthReport:
        """``GET /-/ready``: ok when Prometheus is ready to serve queries (without ``/-/ready``: as :meth:`test`)."""
        errors = self.validate_config(config)
        if errors:
            described = "; ".join(f"{e.field or '<config>'}: {e.message}" for e in errors)
            return HealthReport(status="failing", message=f"invalid configuration: {described}")
        try:
            settings = _settings(config)
            started = time.perf_counter()
            answer = await _run(
                settings, lambda client: _send(client, settings, "GET", READY_PATH, max_bytes=_SMALL_ANSWER_BYTES)
            )
        except PluginError as exc:
            return HealthReport(status="failing", message=exc.message, details=exc.details)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        details: dict[str, Any] = {"url": settings.where, "status": answer.status, "elapsedMs": elapsed_ms}
        if 200 <= answer.status < 300:
            return HealthReport(status="ok", message=f"Prometheus at {settings.where} is ready", details=details)
        if answer.status == 503:
            excerpt = masked(answer.excerpt(), settings.hidden)
            return HealthReport(
                status="failing",
                message=f"Prometheus at {settings.where} is not ready (HTTP 503)" + (f": {excerpt}" if excerpt else ""),
                details=details,
            )
        if answer.status == 404:
            tested = await self.test(config)
            return HealthReport(
                status="ok" if tested.ok else "failing",
                message=tested.message + f" ({READY_PATH} is not served, checked {BUILDINFO_PATH} instead)",
                details={**tested.details, "status": answer.status},
            )
        failure = _http_failure(settings, answer)
        return HealthReport(status="failing", message=failure.message, details={**failure.details, **details})

    async def query_metrics(self, config: dict[str, Any], query: MetricQuery) -> MetricResult:
        """Run ``query`` (PromQL): ``/api/v1/query_range`` when it is a range, else ``/api/v1/query``."""
        self.require_valid_config(config)
        if not isinstance(query, MetricQuery):
            query = MetricQuery.model_validate(query)
        settings = _settings(config)
        params = {"query": query.query, "timeout": _seconds_param(settings.timeout)}
        if query.is_range:
            assert query.start is not None and query.end is not None and query.step_seconds is not None
            start, end, step = query.start, query.end, query.step_seconds
            if start.tzinfo is None:
                start = start.replace(tzinfo=UTC)
            if end.tzinfo is None:
                end = end.replace(tzinfo=UTC)
            if end < start:
                raise settings.fail("the range of the query ends before it starts")
            points = math.floor((end - start).total_seconds() / step) + 1
            if points > MAX_POINTS_PER_SERIES:
                raise settings.fail(
                    f"the range of the query has {points:,} steps, more than the {MAX_POINTS_PER_SERIES:,} "
                    "accepted: use a shorter range or a larger step",
                    points=points,
                    maxPointsPerSeries=MAX_POINTS_PER_SERIES,
                )
            path = QUERY_RANGE_PATH
            params.update({"start": _time_param(start), "end": _time_param(end), "step": _seconds_param(step)})
        else:
            path = QUERY_PATH
            if query.time is not None:
                params["time"] = _time_param(query.time)
        answer = await _run(settings, lambda client: _query(client, settings, path, params))
        data = _success_data(settings, answer)
        try:
            return to_metric_result(data)
        except NotPrometheus as exc:
            raise settings.fail(
                f"the answer of {settings.where} to {path} is not a Prometheus query result: {exc}"
            ) from None


async def _query(client: httpx.AsyncClient, settings: _Settings, path: str, params: dict[str, str]) -> _Answer:
    """POST the query as a form; GET it when the server does not allow POST (405)."""
    answer = await _send(client, settings, "POST", path, params=params)
    if answer.status == 405:
        answer = await _send(client, settings, "GET", path, params=params)
    return answer


def _success_data_or_failure(settings: _Settings, answer: _Answer) -> Any:
    """As :func:`_success_data`, but a 2xx answer that is not the API's reads "not Prometheus"."""
    try:
        return _success_data(settings, answer)
    except PluginError:
        if 200 <= answer.status < 300:
            raise settings.fail(
                f"{settings.where} did not answer as a Prometheus server: {answer.path} gave HTTP {answer.status} "
                f"with {_describe_body(answer)}",
                status=answer.status,
            ) from None
        raise
