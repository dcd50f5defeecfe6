"""The ``http`` step type: one HTTP request, its answer checked.

A smoke test after a deploy (``GET /health`` answers 2xx and ``$.version`` is the
release's), or a call to another system's webhook. The step sends one request
(retried on connection errors, timeouts and unexpected 5xx answers when ``retries``
says so), reads at most 1 MiB of the answer, and checks the status, ``bodyContains``
and each assertion on the JSON answer. Every failed check is named in the result's
message with the value actually found (bounded).

Header values are secrets (``writeOnly``): they are never logged, and the values of
headers that may carry credentials (every header but a few content-negotiation ones,
``_PLAIN_HEADERS``) are replaced by ``***`` wherever the answer would show them (a
server echoing the request): outputs, messages, logs and the ``response.body``
artifact; and when a redirect is followed to another site, those headers are not sent
there.

Assertion paths are a small, bounded JSONPath subset, parsed here rather than by a
JSONPath library: ``$``, then ``.name``, ``["any key"]`` (a JSON string) and ``[n]``
segments. Full JSONPath engines bring filter expressions whose regular expressions
run on Python's backtracking ``re``; a tenant's patterns must run on RE2
(:mod:`shiplane_sdk.patterns`), as ``matches`` does.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

import httpx
from shiplane_sdk import ConfigError, StepCancelled, StepContext, StepResult, StepType
from shiplane_sdk.patterns import PatternError, compile_pattern

__all__ = ["MAX_BODY_BYTES", "HttpRequest", "PathError", "compile_path", "resolve_path"]

MAX_BODY_BYTES = 1 << 20  # read at most this much of an answer; more fails the step
MAX_JSON_OUTPUT_BYTES = 64 << 10  # a JSON answer up to this size is output as ``json``
EXCERPT_BYTES = 1024  # ``bodyExcerpt``, UTF-8
MAX_REDIRECTS = 10
MAX_PATH_SEGMENTS = 32
MAX_ASSERTION_VALUE_BYTES = 4096  # ``equals`` / ``contains`` as JSON
MAX_JSON_BODY_BYTES = 64 << 10  # ``json`` as sent
USER_AGENT = "Shiplane-HTTP-Step/0.1"
ARTIFACT = "response.body"

_SHOWN_CHARS = 200  # of a value quoted in a message
_MESSAGE_CHARS = 2000
_HEADER_OUTPUT_CHARS = 2048
_CANCEL_POLL_SECONDS = 0.5
_MAX_SECRET_CHARS = 4096  # a header value's maxLength
_MIN_MASKED_CHARS = 3
_SELECTED_HEADERS = ("content-type", "location", "etag")
# Headers whose values describe the request rather than authorise it: not masked in outputs
# (``Accept: application/json`` masked would hide every JSON content type).
_PLAIN_HEADERS = frozenset(
    {"accept", "accept-language", "cache-control", "content-type", "if-match", "if-none-match", "pragma", "user-agent"}
)
# Framing headers httpx computes: setting them would produce a broken request.
_RESERVED_HEADERS = frozenset({"connection", "content-length", "transfer-encoding"})
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# An http or https URL with a host and no user info (the URL is logged and shown).
_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@]+(?:[/?#]\S*)?$(?!\n)"
_PATH_SEGMENT = re.compile(r'\.([^.\[\]\s"\']+)|\[(\d{1,6})\]|\[("(?:[^"\\]|\\.)*")\]')

_ASSERTION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {
        "path": {
            "type": "string",
            "minLength": 1,
            "maxLength": 512,
            "description": 'Where in the JSON answer: $, then .name, ["any key"] and [n] segments ($.items[0].name)',
        },
        "equals": {"description": "The value must equal this JSON value"},
        "contains": {
            "description": "A string value must contain this text; an array must have this item; "
            "an object must have this key"
        },
        "exists": {"type": "boolean", "description": "Whether the path must exist (true) or not (false)"},
        "matches": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1000,
            "description": "A string value must match this regular expression (RE2, searched)",
        },
    },
    "oneOf": [
        {"required": ["equals"]},
        {"required": ["contains"]},
        {"required": ["exists"]},
        {"required": ["matches"]},
    ],
}


class PathError(ValueError):
    """An assertion path outside the supported subset (the message says why)."""


@lru_cache(maxsize=256)
def compile_path(path: str) -> tuple[str | int, ...]:
    """The segments of ``path`` (``$.items[0]["a.b"]`` gives ``("items", 0, "a.b")``).

    ``$`` is the whole document; ``.name`` (no dots, brackets, quotes or spaces),
    ``["any key"]`` (a JSON string) and ``[n]`` (0 to 999999) follow, at most
    ``MAX_PATH_SEGMENTS`` of them. Raises :class:`PathError` otherwise.
    """
    if not isinstance(path, str) or not path.startswith("$"):
        raise PathError('a path starts with $ (for example $.status or $.items[0]["name"])')
    segments: list[str | int] = []
    position = 1
    while position < len(path):
        match = _PATH_SEGMENT.match(path, position)
        if match is None:
            raise PathError(
                f"unexpected {path[position : position + 20]!r} at character {position + 1}: a path is "
                '$ followed by .name, ["key"] or [n] segments'
            )
        name, index, quoted = match.groups()
        if name is not None:
            segments.append(name)
        elif index is not None:
            segments.append(int(index))
        else:
            try:
                segments.append(json.loads(quoted))
            except ValueError:
                raise PathError(f"not a valid JSON string at character {position + 2}") from None
        if len(segments) > MAX_PATH_SEGMENTS:
            raise PathError(f"a path has at most {MAX_PATH_SEGMENTS} segments")
        position = match.end()
    return tuple(segments)


def resolve_path(document: Any, path: str) -> tuple[bool, Any]:
    """``(True, value)`` at ``path`` in ``document``, or ``(False, None)`` if nothing is there."""
    node = document
    for segment in compile_path(path):
        if isinstance(segment, int) and isinstance(node, list) and segment < len(node):
            node = node[segment]
        elif isinstance(segment, str) and isinstance(node, dict) and segment in node:
            node = node[segment]
        else:
            return False, None
    return True, node


class HttpRequest(StepType):
    """Send one HTTP request and check the answer.

    ``idempotent`` is ``False`` because a POST or DELETE may not be safe to repeat
    (the class attribute cannot depend on the config). A GET or HEAD step is safe to
    retry: give it ``retries`` and it is sent again on connection errors, timeouts and
    unexpected 5xx answers.
    """

    id = "http"
    display_name = "HTTP request"
    description = (
        "Sends one HTTP request (a smoke test, a webhook) and checks the answer: status, body text and "
        "assertions on the JSON body."
    )
    idempotent = False
    config_schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "url": {
                "type": "string",
                "format": "uri",
                "minLength": 8,
                "maxLength": 2048,
                "pattern": _URL_PATTERN,
                "description": "An http:// or https:// URL, without a user name or password",
            },
            "method": {"type": "string", "enum": list(_METHODS), "default": "GET"},
            "headers": {
                "type": "object",
                "maxProperties": 20,
                "description": "Request headers; values are secret (never logged or shown)",
                "propertyNames": {"minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$(?!\\n)"},
                "additionalProperties": {
                    "type": "string",
                    "writeOnly": True,
                    "maxLength": _MAX_SECRET_CHARS,
                    "pattern": "^[\\t\\x20-\\x7e]*$(?!\\n)",
                },
            },
            "body": {"type": "string", "maxLength": 64 * 1024, "description": "The request body, sent as UTF-8"},
            "json": {"description": "A JSON request body (Content-Type: application/json); not with body"},
            "timeoutSeconds": {
                "type": "number",
                "minimum": 1,
                "maximum": 300,
                "default": 30,
                "description": "For each attempt, from connecting to the last byte of the answer",
            },
            "expectStatus": {
                "type": "array",
                "minItems": 1,
                "maxItems": 20,
                "default": ["2xx"],
                "description": 'Allowed status codes (200) or classes ("2xx")',
                "items": {
                    "anyOf": [
                        {"type": "integer", "minimum": 100, "maximum": 599},
                        {"type": "string", "pattern": "^[1-5]xx$(?!\\n)"},
                    ]
                },
            },
            "assertions": {"type": "array", "maxItems": 20, "items": _ASSERTION},
            "bodyContains": {"type": "string", "minLength": 1, "maxLength": 4096},
            "retries": {
                "type": "integer",
                "minimum": 0,
                "maximum": 10,
                "default": 0,
                "description": "Sends again after a connection error, a timeout or an unexpected 5xx status",
            },
            "retryDelaySeconds": {"type": "number", "minimum": 0, "maximum": 300, "default": 1},
            "followRedirects": {"type": "boolean", "default": False},
            "insecureSkipVerify": {
                "type": "boolean",
                "default": False,
                "description": "Accept any TLS certificate (test systems only)",
            },
        },
        "not": {"required": ["body", "json"]},
    }

    def validate_config(self, config: Any) -> list[ConfigError]:
        errors: list[ConfigError] = []
        for error in super().validate_config(config):
            if error.field == "" and error.code == "not":
                error = ConfigError(field="json", message="give either body or json, not both", code="not")
            elif error.field == "url" and error.code in ("pattern", "format", "minLength"):
                error = ConfigError(
                    field="url",
                    message="must be an http:// or https:// URL with a host, without a user name or password",
                    code=error.code,
                )
            errors.append(error)
        if not isinstance(config, dict):
            return errors
        headers = config.get("headers")
        if isinstance(headers, dict):
            for name in headers:
                if isinstance(name, str) and name.lower() in _RESERVED_HEADERS:
                    message = f"{name} is computed for each request and can't be set"
                    errors.append(ConfigError(field=f"headers.{name}", message=message, code="not"))
        if "json" in config and _json_size(config["json"]) > MAX_JSON_BODY_BYTES:
            errors.append(ConfigError(field="json", message="at most 64 KiB of JSON", code="maxLength"))
        assertions = config.get("assertions")
        for index, assertion in enumerate(assertions if isinstance(assertions, list) else []):
            if not isinstance(assertion, dict):
                continue
            where = f"assertions.{index}"
            if isinstance(assertion.get("path"), str):
                try:
                    compile_path(assertion["path"])
                except PathError as exc:
                    errors.append(ConfigError(field=f"{where}.path", message=str(exc), code="pattern"))
            if isinstance(assertion.get("matches"), str):
                try:
                    compile_pattern(assertion["matches"])
                except PatternError as exc:
                    errors.append(ConfigError(field=f"{where}.matches", message=str(exc), code="pattern"))
            for key in ("equals", "contains"):
                if key in assertion and _json_size(assertion[key]) > MAX_ASSERTION_VALUE_BYTES:
                    message = f"at most {MAX_ASSERTION_VALUE_BYTES} bytes of JSON"
                    errors.append(ConfigError(field=f"{where}.{key}", message=message, code="maxLength"))
        return errors

    async def run(self, ctx: StepContext, config: dict[str, Any]) -> StepResult:
        self.require_valid_config(config)
        method = config.get("method", "GET")
        url = config["url"]
        configured = dict(config.get("headers") or {})
        mask = _Mask(value for name, value in configured.items() if name.lower() not in _PLAIN_HEADERS)
        expected = list(config.get("expectStatus") or ["2xx"])
        timeout = float(config.get("timeoutSeconds", 30))
        attempts = 1 + int(config.get("retries", 0))
        delay = float(config.get("retryDelaySeconds", 1))
        request_line = mask.text(f"{method} {url}")
        headers = {"User-Agent": USER_AGENT, **configured}
        body: dict[str, Any] = {}
        if "body" in config:
            body["content"] = config["body"].encode()
        elif "json" in config:
            body["json"] = config["json"]

        async with httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
            verify=False if config.get("insecureSkipVerify") else _tls_context(),
            max_redirects=MAX_REDIRECTS,
        ) as client:
            for attempt in range(1, attempts + 1):
                if ctx.is_cancelled():
                    raise StepCancelled("http step cancelled")
                ctx.log(request_line if attempts == 1 else f"{request_line} (attempt {attempt} of {attempts})")
                request = client.build_request(method, url, headers=headers, **body)
                try:
                    answer = await _cancellable(ctx, _exchange(ctx, client, request, config, timeout, mask))
                except _NoAnswer as exc:
                    problem = mask.text(exc.message)
                    if exc.retry and attempt < attempts:
                        ctx.log(f"{problem}; retrying in {delay:g}s")
                        await _pause(ctx, delay)
                        continue
                    ctx.log(problem)
                    tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                    return StepResult(
                        status="failed", outputs={"attempts": attempt}, message=f"{request_line}: {problem}{tries}"
                    )
                reason = _one_line(mask.text(answer.reason), 100)
                ctx.log(f"HTTP {answer.status} {reason} ({answer.duration_ms:g} ms, {len(answer.body)} bytes)")
                if answer.status >= 500 and not _status_allowed(answer.status, expected) and attempt < attempts:
                    ctx.log(f"unexpected status {answer.status}; retrying in {delay:g}s")
                    await _pause(ctx, delay)
                    continue
                return _judge(ctx, config, answer, expected, attempt, request_line, mask)
        raise AssertionError("unreachable: the last attempt returns")  # pragma: no cover


# ---------------------------------------------------------------------------
# One exchange
# ---------------------------------------------------------------------------


@dataclass
class _Answer:
    status: int
    reason: str
    headers: httpx.Headers
    body: bytes
    duration_ms: float


class _NoAnswer(Exception):
    """No answer to judge: ``retry`` when another attempt may get one (connection refused,
    reset, timed out), not when it would not (a body over the limit, too many redirects)."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retry = retry


class _Mask:
    """Replaces secret header values (and their JSON-escaped forms) by ``***``."""

    def __init__(self, values: Iterable[Any]) -> None:
        variants: set[str] = set()
        for value in values:
            if isinstance(value, str) and len(value) >= _MIN_MASKED_CHARS:
                variants.update({value, json.dumps(value)[1:-1]})
        self.secrets = sorted(variants, key=len, reverse=True)

    def text(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def data(self, value: Any) -> Any:
        """``value`` (parsed JSON) with every string masked, keys included."""
        if not self.secrets:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.data(item) for item in value]
        if isinstance(value, dict):
            return {self.text(key): self.data(item) for key, item in value.items()}
        return value

    def raw(self, content: bytes) -> bytes:
        for secret in self.secrets:
            content = content.replace(secret.encode(), b"***")
        return content


@lru_cache(maxsize=1)
def _tls_context() -> Any:
    # One verifying context (httpx's default CA bundle, SSL_CERT_FILE honoured), shared.
    return httpx.create_ssl_context()


async def _exchange(
    ctx: StepContext,
    client: httpx.AsyncClient,
    request: httpx.Request,
    config: dict[str, Any],
    seconds: float,
    mask: _Mask,
) -> _Answer:
    """Send ``request`` (following redirects if configured) and read the answer, bounded."""
    follow = bool(config.get("followRedirects", False))
    # The headers that may carry credentials: not sent on to another site.
    credentials = [name for name in config.get("headers") or {} if name.lower() not in _PLAIN_HEADERS]
    started = time.perf_counter()
    try:
        # One deadline for the whole attempt: httpx's timeouts are per read or write, so a
        # server trickling bytes would otherwise hold the step.
        async with asyncio.timeout(seconds):
            for hop in range(MAX_REDIRECTS + 1):
                response = await client.send(request, stream=True, follow_redirects=False)
                try:
                    following = response.next_request if follow else None
                    if following is None:
                        body = await _read_bounded(response)
                        duration_ms = round((time.perf_counter() - started) * 1000, 1)
                        return _Answer(
                            response.status_code, response.reason_phrase, response.headers, body, duration_ms
                        )
                    if hop == MAX_REDIRECTS:
                        raise _NoAnswer(f"more than {MAX_REDIRECTS} redirects", retry=False)
                    ctx.log(_one_line(mask.text(f"HTTP {response.status_code}, following to {following.url}"), 500))
                    request = _redirected(request, following, credentials)
                finally:
                    await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        raise _NoAnswer(f"no complete answer within {seconds:g}s", retry=True) from None
    except httpx.ConnectError as exc:
        raise _NoAnswer(f"could not connect: {_reason(exc)}", retry=True) from None
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise _NoAnswer(f"the connection failed: {_reason(exc)}", retry=True) from None
    except httpx.UnsupportedProtocol:
        raise _NoAnswer("redirected to a URL that is not http or https", retry=False) from None
    except httpx.HTTPError as exc:
        raise _NoAnswer(f"the request failed: {_reason(exc)}", retry=False) from None
    raise _NoAnswer(f"more than {MAX_REDIRECTS} redirects", retry=False)  # pragma: no cover - returned or raised


def _redirected(previous: httpx.Request, following: httpx.Request, credentials: list[str]) -> httpx.Request:
    """``following`` without the ``credentials`` headers when it leaves the site they were meant for."""
    if not _same_site(previous.url, following.url):
        for name in credentials:
            following.headers.pop(name, None)
    return following


def _same_site(a: httpx.URL, b: httpx.URL) -> bool:
    # Same scheme, host and port, or the upgrade of http://host to https://host.
    if a.host != b.host:
        return False
    if a.scheme == b.scheme:
        return a.port == b.port
    return a.scheme == "http" and b.scheme == "https" and a.port is None and b.port is None


async def _read_bounded(response: httpx.Response) -> bytes:
    received = bytearray()
    async for chunk in response.aiter_bytes():
        received += chunk
        if len(received) > MAX_BODY_BYTES:
            message = f"HTTP {response.status_code}: the response body is larger than 1 MiB ({MAX_BODY_BYTES} bytes)"
            raise _NoAnswer(message, retry=False)
    return bytes(received)


_T = TypeVar("_T")


async def _cancellable(ctx: StepContext, work: Awaitable[_T]) -> _T:
    """Await ``work``, checking ``ctx.is_cancelled()`` every half second meanwhile."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=_CANCEL_POLL_SECONDS)
            if done:
                return task.result()
            if ctx.is_cancelled():
                raise StepCancelled("http step cancelled")
    finally:
        if not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


async def _pause(ctx: StepContext, seconds: float) -> None:
    remaining = seconds
    while True:
        if ctx.is_cancelled():
            raise StepCancelled("http step cancelled")
        if remaining <= 0:
            return
        step = min(remaining, _CANCEL_POLL_SECONDS)
        await asyncio.sleep(step)
        remaining -= step


def _reason(exc: Exception) -> str:
    return _one_line(str(exc) or type(exc).__name__, _SHOWN_CHARS)


# ---------------------------------------------------------------------------
# Judging the answer
# ---------------------------------------------------------------------------


def _judge(
    ctx: StepContext,
    config: dict[str, Any],
    answer: _Answer,
    expected: list[int | str],
    attempts: int,
    request_line: str,
    mask: _Mask,
) -> StepResult:
    content_type = answer.headers.get("content-type") or "application/octet-stream"
    ctx.write_artifact(ARTIFACT, mask.raw(answer.body), content_type)
    parsed, document = _parse_json(answer.body)
    outputs: dict[str, Any] = {
        "status": answer.status,
        "headers": {
            name: mask.text(answer.headers[name])[:_HEADER_OUTPUT_CHARS]
            for name in _SELECTED_HEADERS
            if name in answer.headers
        },
        "bodyExcerpt": _excerpt(answer.body, mask),
        "durationMs": answer.duration_ms,
        "attempts": attempts,
    }
    if parsed and len(answer.body) <= MAX_JSON_OUTPUT_BYTES:
        try:
            outputs["json"] = mask.data(document)
        except RecursionError:
            pass

    if not _status_allowed(answer.status, expected):
        allowed = ", ".join(str(item) for item in expected)
        failure = f"status {answer.status}, expected {allowed}"
        location = answer.headers.get("location")
        if location and 300 <= answer.status < 400:
            failure += f" (a redirect to {_one_line(mask.text(location), _SHOWN_CHARS)}; set followRedirects to follow)"
        return _failed(ctx, outputs, request_line, [failure])

    failures: list[str] = []
    wanted = config.get("bodyContains")
    if wanted is not None and wanted.encode() not in answer.body:
        failures.append(
            f"the body does not contain {_show(wanted, mask)} (it starts with {_show(outputs['bodyExcerpt'], mask)})"
        )
    for assertion in config.get("assertions") or []:
        problem = _check(assertion, parsed, document, mask)
        if problem:
            failures.append(problem)
    if failures:
        return _failed(ctx, outputs, request_line, failures)
    checks = 1 + (wanted is not None) + len(config.get("assertions") or [])
    return StepResult(
        status="succeeded", outputs=outputs, message=f"{request_line}: HTTP {answer.status}, {checks} check(s) passed"
    )


def _failed(ctx: StepContext, outputs: dict[str, Any], request_line: str, failures: list[str]) -> StepResult:
    for failure in failures:
        ctx.log(f"failed: {failure}")
    message = f"{request_line}: " + "; ".join(failures)
    if len(message) > _MESSAGE_CHARS:
        message = message[: _MESSAGE_CHARS - 1] + "…"
    return StepResult(status="failed", outputs=outputs, message=message)


def _status_allowed(status: int, expected: list[int | str]) -> bool:
    for item in expected:
        if isinstance(item, int) and status == item:
            return True
        if isinstance(item, str) and status // 100 == int(item[0]):
            return True
    return False


def _check(assertion: dict[str, Any], parsed: bool, document: Any, mask: _Mask) -> str | None:
    """Why ``assertion`` fails on the answer, or ``None`` if it holds."""
    path = assertion["path"]
    shown_path = _one_line(path, 100)
    if not parsed:
        return f"{shown_path}: the body is not JSON"
    found, value = resolve_path(document, path)
    if "exists" in assertion:
        if found == bool(assertion["exists"]):
            return None
        return f"{shown_path} exists (it is {_show(value, mask)})" if found else f"{shown_path} does not exist"
    if not found:
        return f"{shown_path} does not exist"
    if "equals" in assertion:
        if _json_equal(value, assertion["equals"]):
            return None
        return f"{shown_path} is {_show(value, mask)}, expected {_show(assertion['equals'], mask)}"
    if "contains" in assertion:
        wanted = assertion["contains"]
        if isinstance(value, str) and isinstance(wanted, str):
            holds = wanted in value
        elif isinstance(value, list):
            holds = any(_json_equal(item, wanted) for item in value)
        elif isinstance(value, dict) and isinstance(wanted, str):
            holds = wanted in value
        else:
            return f"{shown_path} is {_show(value, mask)}, which cannot contain {_show(wanted, mask)}"
        if holds:
            return None
        return f"{shown_path} is {_show(value, mask)}, which does not contain {_show(wanted, mask)}"
    pattern = assertion["matches"]
    if not isinstance(value, str):
        return f"{shown_path} is {_show(value, mask)}, not a string to match {_show(pattern, mask)}"
    if compile_pattern(pattern).search(value):
        return None
    return f"{shown_path} is {_show(value, mask)}, which does not match {_show(pattern, mask)}"


def _json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: ``1 == 1.0``, but ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[key], b[key]) for key in a)
    return type(a) is type(b) and a == b


def _parse_json(body: bytes) -> tuple[bool, Any]:
    if not body.strip():
        return False, None
    try:
        return True, json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return False, None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_size(value: Any) -> int:
    try:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    except (TypeError, ValueError, RecursionError):
        return MAX_JSON_BODY_BYTES + 1


def _excerpt(body: bytes, mask: _Mask) -> str:
    # Masked over a window longer than any secret, then cut: a secret straddling the cut
    # is masked whole rather than shown in part.
    window = body[: EXCERPT_BYTES + _MAX_SECRET_CHARS].decode("utf-8", "replace")
    return mask.text(window).encode()[:EXCERPT_BYTES].decode("utf-8", "ignore")


def _show(value: Any, mask: _Mask) -> str:
    """``value`` as JSON on one line, secrets masked, at most ``_SHOWN_CHARS`` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = "(a value nested too deeply to show)"
    return _one_line(mask.text(text), _SHOWN_CHARS)


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
