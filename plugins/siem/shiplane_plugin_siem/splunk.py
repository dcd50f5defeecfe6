"""The ``splunk-hec`` SIEM sink: audit records POSTed to Splunk's HTTP Event Collector.

One ``POST {url}/services/collector/event`` per batch, ``Authorization: Splunk <token>``,
the body one JSON event object per record, concatenated (no array, no separator)::

    {"time":1796016421.120,"host":"shiplane-1","source":"shiplane","sourcetype":"shiplane:audit",
     "index":"audit","event":{"id":...,"tenantId":...,"sequence":42,...,"prevHash":...,"hash":...,
     "canonical":...}}

The batch is accepted when HEC answers ``200 {"text":"Success","code":0}``; when the token
has indexer acknowledgment on, the answer carries an ``ackId`` and the batch is accepted
once ``POST /services/collector/ack`` reports it indexed. Anything else raises
:class:`~shiplane_sdk.PluginError` quoting HEC's ``text`` and ``code``. Redirects are not
followed (the token would go along), and no message holds the token.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from shiplane_sdk import (
    AuditRecord,
    ConfigError,
    ConnectionTestResult,
    HealthReport,
    IntegrationType,
    PluginError,
)

from shiplane_plugin_siem.common import (
    END,
    PEM_PATTERN,
    USER_AGENT,
    ca_errors,
    check_batch,
    epoch_millis,
    friendlier,
    masked,
    record_json,
    single_line,
    tls_context,
)

__all__ = [
    "ACK_PATH",
    "EVENT_PATH",
    "HEALTH_PATH",
    "SOURCE",
    "SOURCETYPE",
    "SplunkHec",
    "hec_body",
    "hec_event",
]

EVENT_PATH = "/services/collector/event"
HEALTH_PATH = "/services/collector/health"
ACK_PATH = "/services/collector/ack"
SOURCE = "shiplane"
SOURCETYPE = "shiplane:audit"
#: HEC's codes (Splunk's "Troubleshoot HTTP Event Collector" table) the plugin acts on.
CODE_SUCCESS = 0
CODE_NO_DATA = 5
CODE_INCORRECT_INDEX = 7
CODE_HEALTHY = 17
_TOKEN_CODES = frozenset({1, 2, 3, 4})  # token disabled, required, invalid authorization, invalid token
_UNHEALTHY_CODES = frozenset({18, 19, 20})
#: The most bytes read of an answer (HEC's are a few dozen).
_ANSWER_BYTES = 64 * 1024
_EXCERPT_CHARS = 200
_TEXT_CHARS = 200

# http(s), a host (and port), an optional path prefix; no user info, query or fragment.
_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@]+(?:/[^\s?#]*)?" + END

_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {
            "type": "string",
            "title": "HEC URL",
            "description": (
                "Base URL of the HTTP Event Collector, https://splunk.example.com:8088 (with a path prefix if a "
                "proxy serves it under one), without /services/collector. Redirects are not followed."
            ),
            "format": "uri",
            "minLength": 8,
            "maxLength": 2048,
            "pattern": _URL_PATTERN,
            "not": {"pattern": "/services/collector"},
        },
        "token": {
            "type": "string",
            "title": "HEC token",
            "description": "The HEC token, sent as Authorization: Splunk <token>.",
            "writeOnly": True,
            "minLength": 1,
            "maxLength": 512,
            "pattern": "^[\\x21-\\x7e]+" + END,
        },
        "index": {
            "type": "string",
            "title": "Index",
            "description": "The index the events go to (the token must allow it). Default: the token's default index.",
            "minLength": 1,
            "maxLength": 80,
            "pattern": "^[a-z0-9][a-z0-9_-]*" + END,
        },
        "host": {
            "type": "string",
            "title": "Host",
            "description": "The host field of the events. Default: the host name of the Shiplane server.",
            "minLength": 1,
            "maxLength": 255,
            "pattern": "^[\\x21-\\x7e]+" + END,
        },
        "timeoutSeconds": {
            "type": "number",
            "title": "Timeout (seconds)",
            "description": "The deadline of one call, from connecting to the last answer (default 10).",
            "minimum": 1,
            "maximum": 60,
            "default": 10,
        },
        "verifyTls": {
            "type": "boolean",
            "title": "Verify TLS",
            "description": (
                "Verify the certificate and host name of an https URL (default true). Prefer caCertificate to "
                "turning it off."
            ),
            "default": True,
        },
        "caCertificate": {
            "type": "string",
            "title": "CA certificate",
            "description": (
                "PEM certificate(s) of the authority that signed the HEC certificate (for example Splunk's own "
                "CA); when set, only it is trusted. Default: the system's trust store."
            ),
            "minLength": 1,
            "maxLength": 65536,
            "pattern": PEM_PATTERN,
        },
    },
    "required": ["url", "token"],
    # No CA certificate when nothing is verified: one of the two settings would be a mistake.
    "if": {"properties": {"verifyTls": {"const": False}}, "required": ["verifyTls"]},
    "then": {"properties": {"caCertificate": {"not": {}}}},
    "additionalProperties": False,
}

_MESSAGES: list[tuple[str, tuple[str, ...], str]] = [
    (
        r"url",
        ("pattern", "format", "minLength"),
        "must be an http:// or https:// URL with a host and an optional path, without a user name, password, "
        "query or fragment",
    ),
    (r"url", ("not",), "give the base URL of the HTTP Event Collector, without /services/collector"),
    (r"token", ("pattern",), "must be printable ASCII without spaces"),
    (
        r"index",
        ("pattern",),
        "a Splunk index name is lowercase letters, digits, _ and -, not starting with _ or -",
    ),
    (r"host", ("pattern",), "must be printable ASCII without spaces"),
    (r"caCertificate", ("pattern",), "must be PEM text: -----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----"),
    (r"caCertificate", ("not",), "no CA certificate when verifyTls is false"),
]


def _local_host() -> str:
    name = "".join(c for c in socket.gethostname() if 0x21 <= ord(c) <= 0x7E)[:255]
    return name or "shiplane"


def hec_event(record: AuditRecord, *, host: str, index: str | None = None) -> str:
    """One record as HEC's JSON event object (compact, UTF-8 text, ``time`` with exactly three decimals)."""
    meta: dict[str, Any] = {"host": host, "source": SOURCE, "sourcetype": SOURCETYPE}
    if index:
        meta["index"] = index
    rest = json.dumps({**meta, "event": record_json(record)}, ensure_ascii=False, separators=(",", ":"))
    return '{"time":' + epoch_millis(record.occurred_at) + "," + rest[1:]


def hec_body(records: Sequence[AuditRecord], *, host: str, index: str | None = None) -> bytes:
    """The body of one POST: the records' event objects concatenated, UTF-8."""
    return "".join(hec_event(record, host=host, index=index) for record in records).encode("utf-8")


@dataclass(frozen=True)
class _Target:
    base: str
    origin: str
    token: str
    timeout: float
    tls: ssl.SSLContext
    host: str
    index: str | None

    def headers(self, *, channel: str | None = None, auth: bool = True) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "identity"}
        if auth:
            headers["Authorization"] = f"Splunk {self.token}"
        if channel:
            headers["X-Splunk-Request-Channel"] = channel
        return headers

    def hide(self, text: str) -> str:
        return masked(text, [self.token])


@dataclass
class _Answer:
    status: int
    body: dict[str, Any] | None = None
    excerpt: str = ""
    location: str | None = None
    reason: str = ""

    @property
    def code(self) -> int | None:
        code = self.body.get("code") if self.body else None
        return code if isinstance(code, int) and not isinstance(code, bool) else None

    @property
    def text(self) -> str | None:
        text = self.body.get("text") if self.body else None
        return text if isinstance(text, str) else None

    @property
    def is_hec(self) -> bool:
        """Whether the answer is HEC's ``{"text": ..., "code": ...}``."""
        return self.code is not None and self.text is not None


@dataclass
class _Progress:
    stage: str = "connect"
    ack_id: int | None = None


def _target(config: Mapping[str, Any]) -> _Target:
    try:
        url = httpx.URL(str(config["url"]))
    except (httpx.InvalidURL, ValueError, TypeError):
        raise PluginError("the HEC url is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise PluginError("the HEC url must be an http:// or https:// URL with a host")
    origin = f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"
    base = origin + url.path.rstrip("/")
    verify = config.get("verifyTls", True) is not False
    return _Target(
        base=base,
        origin=origin,
        token=str(config.get("token") or ""),
        timeout=float(config.get("timeoutSeconds", 10)),
        tls=tls_context(verify, config.get("caCertificate") if verify else None),
        host=str(config.get("host") or _local_host()),
        index=config.get("index") or None,
    )


def _client(target: _Target) -> httpx.AsyncClient:
    # No redirects: the token would go along to wherever they point. HTTP proxy settings of
    # the environment (HTTPS_PROXY, NO_PROXY) apply, as for every outgoing call of the server.
    return httpx.AsyncClient(follow_redirects=False, timeout=httpx.Timeout(target.timeout), verify=target.tls)


async def _request(
    client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], content: bytes | None = None
) -> _Answer:
    async with client.stream(method, url, headers=headers, content=content) as response:
        received = bytearray()
        async for chunk in response.aiter_raw():
            received += chunk
            if len(received) >= _ANSWER_BYTES:
                break
        raw = bytes(received[:_ANSWER_BYTES])
        answer = _Answer(
            status=response.status_code,
            location=response.headers.get("location"),
            reason=response.reason_phrase or "",
        )
    text = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    answer.body = parsed if isinstance(parsed, dict) else None
    answer.excerpt = single_line(text, _EXCERPT_CHARS)
    return answer


def _hec_status(answer: _Answer) -> str:
    """``HTTP 403, code 4 "Invalid token"`` (HEC's text, bounded), or the status and an excerpt."""
    if answer.is_hec:
        return f'HTTP {answer.status}, code {answer.code} "{single_line(answer.text or "", _TEXT_CHARS)}"'
    status = f"HTTP {answer.status}" + (f" {single_line(answer.reason, 60)}" if answer.reason else "")
    return status + (f" ({answer.excerpt})" if answer.excerpt else " (an empty answer)")


def _redirect(target: _Target, answer: _Answer, what: str) -> PluginError:
    where = f" to {single_line(answer.location, _EXCERPT_CHARS)}" if answer.location else ""
    return PluginError(
        target.hide(
            f"Splunk HEC at {target.origin} answered {what} with HTTP {answer.status}, a redirect{where}: "
            "redirects are not followed (the token would go along), set the final URL"
        ),
        details={"origin": target.origin, "status": answer.status},
    )


def _reason(exc: BaseException) -> str:
    return single_line(str(exc) or type(exc).__name__, 200)


def _transport_error(target: _Target, exc: BaseException, what: str) -> PluginError:
    """The PluginError of a call that got no HTTP answer (connection, TLS, timeout)."""
    details = {"origin": target.origin}
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        text = f"Splunk HEC at {target.origin} did not answer {what} within {target.timeout:g}s"
    elif isinstance(exc, httpx.ConnectError):
        text = f"could not connect to Splunk HEC at {target.origin}: {_reason(exc)}"
    else:
        text = f"{what} to Splunk HEC at {target.origin} failed: {_reason(exc)}"
    return PluginError(target.hide(text), details=details)


class SplunkHec(IntegrationType):
    """Stream the audit trail to Splunk's HTTP Event Collector."""

    id = "splunk-hec"
    category = "siem"
    display_name = "Splunk HTTP Event Collector"
    description = (
        "Streams the tenant's audit trail to Splunk through the HTTP Event Collector (sourcetype shiplane:audit), "
        "in order, with each record's chain hash so Splunk searches can verify it."
    )
    config_schema: dict[str, Any] = _CONFIG_SCHEMA
    # Besides url: settings that decide whether the token could reach another server.
    secret_destinations = ["verifyTls", "caCertificate"]

    def validate_config(self, config: Any) -> list[ConfigError]:
        return friendlier(super().validate_config(config), _MESSAGES) + ca_errors(config)

    async def send_audit(self, config: dict[str, Any], records: list[AuditRecord]) -> None:
        """POST the batch; return once HEC answered ``Success`` (and, with indexer acknowledgment,
        reported it indexed); otherwise raise :class:`PluginError`."""
        self.require_valid_config(config)
        batch = check_batch(records)
        if not batch:
            return
        target = _target(config)
        first, last = batch[0].sequence, batch[-1].sequence
        count = len(batch)
        what = f"the batch of {count} audit record{'s' if count != 1 else ''} {first}-{last}"
        details: dict[str, Any] = {
            "origin": target.origin,
            "tenantId": batch[0].tenant_id,
            "firstSequence": first,
            "lastSequence": last,
        }
        body = hec_body(batch, host=target.host, index=target.index)
        channel = str(uuid.uuid4())
        progress = _Progress(stage="send")
        try:
            async with asyncio.timeout(target.timeout):
                async with _client(target) as client:
                    headers = {**target.headers(channel=channel), "Content-Type": "application/json"}
                    answer = await _request(client, "POST", target.base + EVENT_PATH, headers, body)
                    if 300 <= answer.status < 400:
                        raise _redirect(target, answer, what)
                    if answer.status != 200 or answer.code != CODE_SUCCESS:
                        raise self._refused(target, answer, what, details)
                    ack_id = answer.body.get("ackId") if answer.body else None
                    if isinstance(ack_id, int) and not isinstance(ack_id, bool):
                        progress.stage, progress.ack_id = "ack", ack_id
                        await self._await_ack(client, target, channel, ack_id, what, details)
        except PluginError:
            raise
        except (TimeoutError, httpx.TimeoutException) as exc:
            if progress.stage == "ack":
                raise PluginError(
                    f"Splunk HEC at {target.origin} took {what} but did not confirm it indexed (indexer "
                    f"acknowledgment, ackId {progress.ack_id}) within {target.timeout:g}s",
                    details={**details, "ackId": progress.ack_id},
                ) from None
            raise _transport_error(target, exc, what) from None
        except (httpx.HTTPError, OSError) as exc:
            raise _transport_error(target, exc, what) from None

    def _refused(self, target: _Target, answer: _Answer, what: str, details: dict[str, Any]) -> PluginError:
        more: dict[str, Any] = {"status": answer.status}
        if answer.is_hec:
            more["code"] = answer.code
            more["text"] = target.hide(single_line(answer.text or "", _TEXT_CHARS))
        invalid = answer.body.get("invalid-event-number") if answer.body else None
        where = ""
        if isinstance(invalid, int) and not isinstance(invalid, bool):
            more["invalidEventNumber"] = invalid
            where = f" (invalid-event-number {invalid})"
        index = f' (index "{target.index}")' if answer.code == CODE_INCORRECT_INDEX and target.index else ""
        if answer.is_hec:
            text = f"Splunk HEC at {target.origin} refused {what}{where}: {_hec_status(answer)}{index}"
        else:
            text = f"{target.origin} answered {what} with {_hec_status(answer)}, not with a Splunk HEC status"
        return PluginError(target.hide(text), details={**details, **more})

    async def _await_ack(
        self,
        client: httpx.AsyncClient,
        target: _Target,
        channel: str,
        ack_id: int,
        what: str,
        details: dict[str, Any],
    ) -> None:
        """Poll ``/services/collector/ack`` until HEC reports ``ack_id`` indexed (the caller's
        deadline bounds it)."""
        headers = {**target.headers(channel=channel), "Content-Type": "application/json"}
        query = json.dumps({"acks": [ack_id]}).encode()
        delay = 0.1
        while True:
            answer = await _request(client, "POST", target.base + ACK_PATH, headers, query)
            if answer.status != 200 or answer.body is None:
                if 300 <= answer.status < 400:
                    raise _redirect(target, answer, "the indexer acknowledgment query")
                error = self._refused(target, answer, f"the acknowledgment query for {what}", details)
                error.details["ackId"] = ack_id
                raise error
            acks = answer.body.get("acks")
            if isinstance(acks, dict) and acks.get(str(ack_id)) is True:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def test(self, config: dict[str, Any]) -> ConnectionTestResult:
        """``GET /services/collector/health`` (HEC answers code 17 when healthy), then a POST
        without events with the token: HEC answers ``No data`` (code 5) to a token it accepts and
        ``Invalid token`` (4) or another token code otherwise. Nothing is indexed; the index is
        checked by the first batch."""
        errors = self.validate_config(config)
        if errors:
            described = "; ".join(f"{e.field or '<config>'}: {e.message}" for e in errors)
            return ConnectionTestResult(ok=False, message=f"invalid configuration: {described}")
        try:
            target = _target(config)
        except PluginError as exc:
            return ConnectionTestResult(ok=False, message=exc.message)
        started = time.perf_counter()
        details: dict[str, Any] = {"origin": target.origin}
        try:
            async with asyncio.timeout(target.timeout):
                async with _client(target) as client:
                    health = await _request(client, "GET", target.base + HEALTH_PATH, target.headers(auth=False))
                    details["healthStatus"] = health.status
                    if health.code is not None:
                        details["healthCode"] = health.code
                    if 300 <= health.status < 400:
                        raise _redirect(target, health, "the health check")
                    # 200: healthy (Splunk says code 17; an HEC-compatible receiver may say otherwise).
                    # 404: no health endpoint (an older HEC, or a proxy): the token check decides.
                    if health.status not in (200, 404):
                        return ConnectionTestResult(
                            ok=False,
                            message=target.hide(
                                f"Splunk HEC at {target.origin} is not healthy: {_hec_status(health)}"
                                if health.is_hec
                                else f"{target.origin} answered the HEC health check with {_hec_status(health)}, "
                                "not with a Splunk HEC status"
                            ),
                            details=details,
                        )
                    headers = {**target.headers(channel=str(uuid.uuid4())), "Content-Type": "application/json"}
                    check = await _request(client, "POST", target.base + EVENT_PATH, headers, b"")
        except PluginError as exc:
            return ConnectionTestResult(ok=False, message=exc.message, details={**details, **exc.details})
        except (TimeoutError, httpx.HTTPError, OSError) as exc:
            error = _transport_error(target, exc, "the connection test")
            return ConnectionTestResult(ok=False, message=error.message, details={**details, **error.details})
        details["tokenCheckStatus"] = check.status
        if check.code is not None:
            details["tokenCheckCode"] = check.code
        if 300 <= check.status < 400:
            error = _redirect(target, check, "the token check")
            return ConnectionTestResult(ok=False, message=error.message, details=details)
        accepted = check.code == CODE_NO_DATA or (check.status == 200 and check.code == CODE_SUCCESS)
        if not accepted:
            if check.is_hec and check.code in _TOKEN_CODES:
                message = f"Splunk HEC at {target.origin} refused the token: {_hec_status(check)}"
            elif check.is_hec:
                message = f"Splunk HEC at {target.origin} answered the token check with {_hec_status(check)}"
            else:
                message = (
                    f"{target.origin} answered the token check with {_hec_status(check)}, not with a Splunk HEC status"
                )
            return ConnectionTestResult(ok=False, message=target.hide(message), details=details)
        details["elapsedMs"] = round((time.perf_counter() - started) * 1000, 1)
        health_note = "healthy" if details.get("healthStatus") == 200 else "reachable (no health endpoint)"
        return ConnectionTestResult(
            ok=True,
            message=(
                f"Splunk HEC at {target.origin} is {health_note} and accepts the token "
                "(the index is checked by the first batch)"
            ),
            details=details,
        )

    async def health(self, config: dict[str, Any]) -> HealthReport:
        """``GET /services/collector/health`` only (no token sent): ``ok`` on code 17, else ``failing``."""
        try:
            target = _target(config)
        except (PluginError, KeyError) as exc:
            message = exc.message if isinstance(exc, PluginError) else "the configuration has no url"
            return HealthReport(status="failing", message=message)
        try:
            async with asyncio.timeout(target.timeout):
                async with _client(target) as client:
                    answer = await _request(client, "GET", target.base + HEALTH_PATH, target.headers(auth=False))
        except (TimeoutError, httpx.HTTPError, OSError) as exc:
            return HealthReport(status="failing", message=_transport_error(target, exc, "the health check").message)
        details = {"origin": target.origin, "status": answer.status, "code": answer.code}
        if answer.status == 200 and answer.code == CODE_HEALTHY:
            return HealthReport(status="ok", message=f"Splunk HEC at {target.origin} is healthy", details=details)
        if answer.is_hec:
            message = f"Splunk HEC at {target.origin} is not healthy: {_hec_status(answer)}"
        else:
            message = f"{target.origin} answered the HEC health check with {_hec_status(answer)}"
        return HealthReport(status="failing", message=target.hide(message), details=details)
