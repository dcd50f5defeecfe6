"""The ``webhook`` notification type: events POSTed as signed JSON, and the receiver's side.

Every delivery is a ``POST`` of one compact JSON object (sorted keys) with
``X-Shiplane-Timestamp: <unix seconds>`` and
``X-Shiplane-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>``.
A receiver checks it with :func:`verify`::

    from shiplane_plugin_notify.webhook import verify

    if not verify(SECRET, request.headers, raw_body):
        return 401

:func:`verify` compares in constant time and refuses a timestamp more than
``tolerance_seconds`` (default 300) away from now, so a captured delivery cannot be
replayed later. Deliveries are at least once: deduplicate on ``deliveryId`` (one per
event and integration, the same on every retry) or on the event ``id``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

import httpx
from shiplane_sdk import (
    ConfigError,
    ConnectionTestResult,
    HealthReport,
    IntegrationType,
    NotificationMessage,
    PluginError,
)

from shiplane_plugin_notify.events import (
    EVENTS_MESSAGES,
    Envelope,
    envelope_of,
    events_property,
    friendlier,
    header_value,
    masked,
    single_line,
    timeout_property,
)

__all__ = [
    "HEADER_DELIVERY",
    "HEADER_EVENT",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "PING_EVENT_TYPE",
    "RESERVED_HEADERS",
    "USER_AGENT",
    "Webhook",
    "payload_bytes",
    "sign",
    "verify",
]

USER_AGENT = "Shiplane-Webhook/0.1"
HEADER_EVENT = "X-Shiplane-Event"
HEADER_DELIVERY = "X-Shiplane-Delivery"
HEADER_TIMESTAMP = "X-Shiplane-Timestamp"
HEADER_SIGNATURE = "X-Shiplane-Signature"
#: The ``type`` of the delivery :meth:`Webhook.test` sends.
PING_EVENT_TYPE = "shiplane.ping"
#: Headers ``headers`` may not set (case-insensitive), besides every ``X-Shiplane-*``.
RESERVED_HEADERS = frozenset(
    {"accept-encoding", "connection", "content-length", "content-type", "host", "transfer-encoding", "user-agent"}
)
_RESERVED_PREFIX = "x-shiplane-"
_SIGNATURE_SCHEME = "v1"
_MAX_TIMESTAMP_DIGITS = 12
_EXCERPT_BYTES = 1024
_EXCERPT_CHARS = 200


def _any_case(word: str) -> str:
    """An ECMA-262 and Python regex matching ``word`` in any letter case (letters, digits, ``-``)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


_RESERVED_HEADER_PATTERN = (
    "^(?:"
    + "|".join([_any_case(_RESERVED_PREFIX) + ".*", *(_any_case(name) for name in sorted(RESERVED_HEADERS))])
    + ")$(?!\\n)"
)
# An http or https URL with a host and no user info (credentials don't belong in a URL that is shown).
_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@]+(?:[/?#]\S*)?$(?!\n)"
_MESSAGES = [
    (
        r"url",
        ("pattern", "format", "minLength"),
        "must be an http:// or https:// URL with a host, without a user name or password",
    ),
    (r"secret", ("minLength",), "must be at least 16 characters"),
    (
        r"headers",
        ("pattern", "minLength", "maxLength"),
        "a header name is 1 to 64 letters, digits or !#$%&'*+.^_`|~- characters",
    ),
    (r"headers\..+", ("pattern",), "a header value is printable ASCII on one line"),
    *EVENTS_MESSAGES,
]


# ---------------------------------------------------------------------------
# Signing: both sides
# ---------------------------------------------------------------------------


class _Headers(Protocol):
    """Anything with ``items()``: a dict, ``http.server``'s message, Starlette's or httpx's headers."""

    def items(self) -> Iterable[tuple[Any, Any]]: ...


def _as_bytes(value: str | bytes, what: str) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def _timestamp_text(timestamp: int | str) -> str | None:
    """The canonical decimal text of a timestamp, or ``None`` if it is not one."""
    if isinstance(timestamp, bool):
        return None
    if isinstance(timestamp, int):
        return str(timestamp) if timestamp >= 0 else None
    if isinstance(timestamp, bytes):
        timestamp = timestamp.decode("ascii", "replace")
    if isinstance(timestamp, str):
        text = timestamp.strip()
        if text.isascii() and text.isdigit() and len(text) <= _MAX_TIMESTAMP_DIGITS:
            return text
    return None


def sign(secret: str | bytes, timestamp: int | str, body: str | bytes) -> str:
    """The ``X-Shiplane-Signature`` value of ``body`` sent at ``timestamp``.

    ``v1=`` followed by the lowercase hex HMAC-SHA256, keyed with ``secret`` (UTF-8),
    of ``f"{timestamp}.".encode() + body``. ``timestamp`` is Unix seconds (an int or
    its decimal text, as in ``X-Shiplane-Timestamp``); ``body`` the raw request body
    (a ``str`` is encoded as UTF-8; verify the bytes you received, not re-serialised
    JSON).
    """
    key = _as_bytes(secret, "secret")
    if not key:
        raise ValueError("the secret is empty")
    text = _timestamp_text(timestamp)
    if text is None:
        raise ValueError("timestamp must be a non-negative integer (Unix seconds)")
    digest = hmac.new(key, text.encode("ascii") + b"." + _as_bytes(body, "body"), hashlib.sha256).hexdigest()
    return f"{_SIGNATURE_SCHEME}={digest}"


def verify(
    secret: str | bytes,
    headers: _Headers | Iterable[tuple[Any, Any]] | tuple[int | str, str],
    body: str | bytes,
    *,
    tolerance_seconds: float = 300,
    now: float | datetime | None = None,
) -> bool:
    """Whether ``body`` is a genuine, fresh delivery signed with ``secret``.

    ``headers`` is the request's headers (any mapping, or ``(name, value)`` pairs;
    names are matched case-insensitively), or a ``(timestamp, signature)`` pair taken
    from ``X-Shiplane-Timestamp`` and ``X-Shiplane-Signature``. ``body`` is the raw
    body as received. False when a header is missing or malformed, when the timestamp
    is more than ``tolerance_seconds`` before or after ``now`` (default: the current
    time), or when no ``v1=`` signature in the header (comma-separated) matches;
    signatures are compared in constant time. Never raises on bad input from the
    request.
    """
    if tolerance_seconds < 0:
        raise ValueError("tolerance_seconds must not be negative")
    key = _as_bytes(secret, "secret")
    if not key:
        return False
    timestamp, signature = _timestamp_and_signature(headers)
    text = _timestamp_text(timestamp) if timestamp is not None else None
    if text is None or not isinstance(signature, str | bytes):
        return False
    if isinstance(now, datetime):
        current = now.timestamp()
    else:
        current = time.time() if now is None else float(now)
    if abs(current - int(text)) > tolerance_seconds:
        return False
    try:
        expected = sign(key, text, body).encode("ascii")
    except (TypeError, ValueError):
        return False
    if isinstance(signature, bytes):
        signature = signature.decode("latin-1")
    matched = False
    for candidate in signature.split(","):
        # Compare every candidate (no early exit), each in constant time.
        matched |= hmac.compare_digest(candidate.strip().encode("utf-8", "replace"), expected)
    return matched


def _timestamp_and_signature(headers: Any) -> tuple[Any, Any]:
    if isinstance(headers, tuple) and len(headers) == 2 and not any(isinstance(part, tuple | list) for part in headers):
        return headers[0], headers[1]
    if isinstance(headers, Mapping) or hasattr(headers, "items"):
        pairs: Iterable[Any] = headers.items()
    elif isinstance(headers, Iterable) and not isinstance(headers, str | bytes):
        pairs = headers
    else:
        return None, None
    found: dict[str, Any] = {}
    wanted = {HEADER_TIMESTAMP.lower(), HEADER_SIGNATURE.lower()}
    for pair in pairs:
        try:
            name, value = pair
        except (TypeError, ValueError):
            continue
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(name, str) and name.lower() in wanted:
            found.setdefault(name.lower(), value.decode("latin-1") if isinstance(value, bytes) else value)
    return found.get(HEADER_TIMESTAMP.lower()), found.get(HEADER_SIGNATURE.lower())


def payload_bytes(payload: Mapping[str, Any]) -> bytes:
    """The body of a delivery: compact JSON, sorted keys, UTF-8 (serialised once, then signed)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")


def is_reserved_header(name: str) -> bool:
    """Whether ``headers`` may not set ``name`` (Shiplane sets it)."""
    lowered = name.lower()
    return lowered.startswith(_RESERVED_PREFIX) or lowered in RESERVED_HEADERS


# ---------------------------------------------------------------------------
# The integration type
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    status: int
    elapsed_ms: float


@lru_cache(maxsize=1)
def _tls_context() -> Any:
    # One verifying context for every delivery (httpx's default CA bundle, SSL_CERT_FILE
    # honoured); contexts are safe to share between threads and event loops.
    return httpx.create_ssl_context()


class Webhook(IntegrationType):
    """POST each event as signed JSON to a URL."""

    id = "webhook"
    category = "notification"
    display_name = "Webhook"
    description = (
        "POSTs each matching event as JSON to an HTTP(S) URL, signed with HMAC-SHA256 "
        "(X-Shiplane-Signature) so the receiver can check it came from Shiplane."
    )
    config_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "url": {
                "type": "string",
                "title": "URL",
                "description": "The http(s) URL that receives the POSTs. Redirects are not followed.",
                "format": "uri",
                "minLength": 8,
                "maxLength": 2048,
                "pattern": _URL_PATTERN,
            },
            "secret": {
                "type": "string",
                "title": "Signing secret",
                "description": "HMAC-SHA256 key the receiver shares (at least 16 characters).",
                "writeOnly": True,
                "minLength": 16,
                "maxLength": 512,
            },
            "headers": {
                "type": "object",
                "title": "Extra headers",
                "description": (
                    "Up to 10 more request headers (for example Authorization). Values are secret. "
                    "X-Shiplane-*, Content-Type, User-Agent and other headers Shiplane sets can't be set."
                ),
                "maxProperties": 10,
                "propertyNames": {
                    "minLength": 1,
                    "maxLength": 64,
                    "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$(?!\\n)",
                    "not": {"pattern": _RESERVED_HEADER_PATTERN},
                },
                "additionalProperties": {
                    "type": "string",
                    "writeOnly": True,
                    "maxLength": 1024,
                    "pattern": "^[\\t\\x20-\\x7e]*$(?!\\n)",
                },
            },
            "events": events_property(),
            "timeoutSeconds": timeout_property(),
        },
        "required": ["url", "secret"],
        "additionalProperties": False,
    }

    def validate_config(self, config: Any) -> list[ConfigError]:
        errors = friendlier(super().validate_config(config), _MESSAGES)
        headers = config.get("headers") if isinstance(config, dict) else None
        if not isinstance(headers, dict):
            return errors
        reserved = [name for name in headers if isinstance(name, str) and is_reserved_header(name)]
        if reserved:
            # Name the header and say why, instead of the schema's "should not be valid under".
            errors = [e for e in errors if not (e.field == "headers" and e.code == "not")]
            errors += [
                ConfigError(
                    field=f"headers.{name}",
                    message=f"{single_line(name, 64)} is set by Shiplane and can't be overridden",
                    code="not",
                )
                for name in reserved
            ]
        return errors

    async def notify(self, config: dict[str, Any], message: NotificationMessage) -> None:
        """POST the event of ``message``; raise :class:`PluginError` unless the receiver answers 2xx."""
        self.require_valid_config(config)
        envelope = envelope_of(message)
        await self._deliver(config, envelope, _payload(envelope, message))

    async def test(self, config: dict[str, Any]) -> ConnectionTestResult:
        """Send a signed ``shiplane.ping`` delivery; ok if the receiver answers 2xx."""
        errors = self.validate_config(config)
        if errors:
            described = "; ".join(f"{e.field or '<config>'}: {e.message}" for e in errors)
            return ConnectionTestResult(ok=False, message=f"invalid configuration: {described}")
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        ping = NotificationMessage(
            subject="Shiplane webhook test",
            body="A test delivery from Shiplane: this receiver is configured as a webhook.",
            data={"event": {"type": PING_EVENT_TYPE, "occurredAt": now, "data": {"schemaVersion": 1}}},
        )
        envelope = envelope_of(ping)
        try:
            answer = await self._deliver(config, envelope, _payload(envelope, ping))
        except PluginError as exc:
            return ConnectionTestResult(ok=False, message=exc.message, details=exc.details)
        return ConnectionTestResult(
            ok=True,
            message=f"the receiver answered HTTP {answer.status} to a signed ping",
            details={"status": answer.status, "elapsedMs": round(answer.elapsed_ms, 1)},
        )

    async def health(self, config: dict[str, Any]) -> HealthReport:
        """Whether the receiver's host accepts a connection (and a verified TLS handshake for
        https); no request is sent, so a periodic check leaves no trace at the receiver."""
        try:
            url = _parse_url(config.get("url"))
        except PluginError as exc:
            return HealthReport(status="failing", message=exc.message)
        timeout = float(config.get("timeoutSeconds", 10))
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        origin = f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"
        tls = _tls_context() if url.scheme == "https" else None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(host, port, ssl=tls, server_hostname=host if tls else None)
                writer.close()
                try:
                    await writer.wait_closed()
                except OSError:
                    pass
        except TimeoutError:
            return HealthReport(status="failing", message=f"{origin} did not accept a connection within {timeout:g}s")
        except OSError as exc:
            return HealthReport(status="failing", message=f"could not connect to {origin}: {_reason(exc)}")
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        what = "TLS connection" if tls else "connection"
        return HealthReport(
            status="ok",
            message=f"{origin} accepted a {what} in {elapsed_ms:g} ms",
            details={"origin": origin, "elapsedMs": elapsed_ms},
        )

    async def _deliver(self, config: dict[str, Any], envelope: Envelope, payload: dict[str, Any]) -> _Answer:
        secret: str = config["secret"]
        extra: dict[str, str] = dict(config.get("headers") or {})
        timeout = float(config.get("timeoutSeconds", 10))
        url = _parse_url(config["url"])
        origin = f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"
        # What must never appear in a message: the secret and the extra headers' values.
        hidden = [secret, *extra.values()]
        details: dict[str, Any] = {"origin": origin, "deliveryId": envelope.delivery_id}

        def fail(text: str, **more: Any) -> PluginError:
            return PluginError(masked(text, hidden), details={**details, **more})

        body = payload_bytes(payload)
        timestamp = str(int(time.time()))
        headers = {name: value for name, value in extra.items() if not is_reserved_header(name)}
        headers.update(
            {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Accept-Encoding": "identity",
                HEADER_EVENT: header_value(envelope.type),
                HEADER_DELIVERY: header_value(envelope.delivery_id),
                HEADER_TIMESTAMP: timestamp,
                HEADER_SIGNATURE: sign(secret, timestamp, body),
            }
        )
        started = time.perf_counter()
        try:
            # One deadline for the whole attempt: httpx's timeouts are per read/write,
            # so a receiver trickling bytes would otherwise hold the call.
            async with asyncio.timeout(timeout):
                async with httpx.AsyncClient(
                    follow_redirects=False, timeout=httpx.Timeout(timeout), verify=_tls_context()
                ) as client:
                    async with client.stream("POST", url, content=body, headers=headers) as response:
                        elapsed_ms = (time.perf_counter() - started) * 1000
                        status = response.status_code
                        if 200 <= status < 300:
                            return _Answer(status, elapsed_ms)
                        reason = response.reason_phrase
                        location = response.headers.get("location")
                        excerpt = await _excerpt(response)
        except TimeoutError:
            raise fail(f"webhook delivery to {origin} timed out after {timeout:g}s") from None
        except httpx.TimeoutException:
            raise fail(f"webhook delivery to {origin} timed out after {timeout:g}s") from None
        except httpx.ConnectError as exc:
            raise fail(f"could not connect to {origin}: {_reason(exc)}") from None
        except httpx.HTTPError as exc:
            raise fail(f"webhook delivery to {origin} failed: {_reason(exc)}") from None
        status_text = f"HTTP {status}" + (f" {single_line(reason, 60)}" if reason else "")
        if 300 <= status < 400:
            target = f" to {single_line(location, _EXCERPT_CHARS)}" if location else ""
            raise fail(
                f"the receiver at {origin} answered {status_text}, a redirect{target}: redirects are not "
                "followed, set the final URL",
                status=status,
            )
        raise fail(
            f"the receiver at {origin} answered {status_text}" + (f": {excerpt}" if excerpt else ""), status=status
        )


def _payload(envelope: Envelope, message: NotificationMessage) -> dict[str, Any]:
    return {
        "id": envelope.id,
        "type": envelope.type,
        "tenantId": envelope.tenant_id,
        "occurredAt": envelope.occurred_at,
        "resourceType": envelope.resource_type,
        "resourceId": envelope.resource_id,
        "data": envelope.data,
        "subject": message.subject,
        "body": message.body,
        "severity": message.severity,
        "deliveryId": envelope.delivery_id,
        "attempt": envelope.attempt,
    }


def _parse_url(raw: Any) -> httpx.URL:
    try:
        url = httpx.URL(str(raw))
    except (httpx.InvalidURL, ValueError, TypeError):
        raise PluginError("the webhook url is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise PluginError("the webhook url must be an http:// or https:// URL with a host")
    if url.userinfo:
        raise PluginError("the webhook url must not contain a user name or password")
    return url


async def _excerpt(response: httpx.Response) -> str:
    """The start of the response body, on one line and bounded ("" if compressed or empty)."""
    if response.headers.get("content-encoding", "identity").lower() not in ("identity", ""):
        return ""
    received = bytearray()
    async for chunk in response.aiter_raw():
        received += chunk
        if len(received) >= _EXCERPT_BYTES:
            break
    return single_line(bytes(received[:_EXCERPT_BYTES]).decode("utf-8", "replace"), _EXCERPT_CHARS)


def _reason(exc: Exception) -> str:
    return single_line(str(exc) or type(exc).__name__, 200)
