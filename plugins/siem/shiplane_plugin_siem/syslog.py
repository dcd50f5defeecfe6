"""The ``syslog`` SIEM sink: audit records as RFC 5424 messages over TCP (optionally TLS).

Each record is one message, framed by octet counting (RFC 6587 §3.4.1, the framing RFC
5425 uses over TLS): ``<length> <message>``, the length in bytes of the message::

    <37>1 2026-11-30T05:37:01.120Z shiplane-1 shiplane - environment.create
    [shiplane@32473 tenant="ten_acme" seq="42" id="aud_01" action="environment.create"
    outcome="success" hash="9f…" prevHash="3c…"] \\ufeff{"action":"environment.create",...}

(one line; wrapped here). A batch goes over one connection, in sequence order. Syslog over
TCP has no acknowledgment: the batch counts as accepted when every byte was written and
flushed to the socket without error (on plain TCP the plugin then half-closes and waits
briefly for the receiver to close, so a receiver that resets the connection is reported).
The receiver de-duplicates by tenant and ``seq``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

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
    ca_errors,
    check_batch,
    friendlier,
    rfc3339_millis,
    single_line,
    tls_context,
)

__all__ = [
    "APP_NAME",
    "DEFAULT_FACILITY",
    "DEFAULT_SD_ID",
    "FACILITIES",
    "Syslog",
    "escape_sd_value",
    "frame",
    "msgid_of",
    "severity_of",
    "syslog_message",
]

#: Facility names and their RFC 5424 codes (kern, 0, is the kernel's own).
FACILITIES: dict[str, int] = {
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "ntp": 12,
    "logaudit": 13,
    "logalert": 14,
    "clock": 15,
    **{f"local{n}": 16 + n for n in range(8)},
}
DEFAULT_FACILITY = "auth"
#: Severity codes (RFC 5424 table 2) by audit outcome; any other outcome is ``warning``.
SEVERITY_NOTICE = 5
SEVERITY_WARNING = 4
SEVERITY_ERROR = 3
OUTCOME_SEVERITIES: dict[str, int] = {
    "success": SEVERITY_NOTICE,
    "denied": SEVERITY_WARNING,
    "failure": SEVERITY_ERROR,
    "failed": SEVERITY_ERROR,
    "error": SEVERITY_ERROR,
}
APP_NAME = "shiplane"
#: The SD-ID of the structured-data element. 32473 is the Private Enterprise Number IANA
#: reserves for documentation and examples (RFC 5612): set your own with ``sdId``.
DEFAULT_SD_ID = "shiplane@32473"
DEFAULT_PORT = 514
DEFAULT_TLS_PORT = 6514
DEFAULT_MAX_MESSAGE_BYTES = 8192
MIN_MAX_MESSAGE_BYTES = 2048
MAX_MAX_MESSAGE_BYTES = 1024 * 1024
MSGID_LIMIT = 32
#: The most characters of one structured-data value (the full values are in the MSG).
SD_VALUE_LIMIT = 128
BOM = "\ufeff"
#: How long, at most, to wait for the receiver to close after a plain TCP half-close.
CLOSE_WAIT_SECONDS = 2.0
_DRAIN_LIMIT = 64 * 1024

_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
_IPV6 = r"[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*"
_PRINTUSASCII = "^[\\x21-\\x7e]+" + END

_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "host": {
            "type": "string",
            "title": "Receiver host",
            "description": "Host name, IPv4 or IPv6 address of the syslog receiver.",
            "minLength": 1,
            "maxLength": 253,
            "pattern": "^(?:" + _HOST + "|" + _IPV6 + ")" + END,
        },
        "port": {
            "type": "integer",
            "title": "Port",
            "description": f"TCP port (default {DEFAULT_PORT}, or {DEFAULT_TLS_PORT} with tls).",
            "minimum": 1,
            "maximum": 65535,
        },
        "facility": {
            "type": "string",
            "title": "Facility",
            "description": f"The syslog facility of every message (default {DEFAULT_FACILITY}).",
            "enum": list(FACILITIES),
            "default": DEFAULT_FACILITY,
        },
        "hostname": {
            "type": "string",
            "title": "HOSTNAME field",
            "description": "The HOSTNAME of the messages. Default: the host name of the Shiplane server.",
            "minLength": 1,
            "maxLength": 255,
            "pattern": _PRINTUSASCII,
        },
        "sdId": {
            "type": "string",
            "title": "Structured-data ID",
            "description": (
                f"The SD-ID of the structured-data element, name@<private enterprise number> (default "
                f"{DEFAULT_SD_ID}; 32473 is IANA's example number)."
            ),
            "minLength": 3,
            "maxLength": 32,
            "pattern": "^[A-Za-z0-9._-]+@[0-9]+(?:\\.[0-9]+)*" + END,
            "default": DEFAULT_SD_ID,
        },
        "tls": {
            "type": "boolean",
            "title": "TLS",
            "description": "Syslog over TLS (RFC 5425): the receiver's certificate and host name are verified.",
            "default": False,
        },
        "caCertificate": {
            "type": "string",
            "title": "CA certificate",
            "description": (
                "With tls: PEM certificate(s) of the authority that signed the receiver's certificate; when set, "
                "only it is trusted. Default: the system's trust store."
            ),
            "minLength": 1,
            "maxLength": 65536,
            "pattern": PEM_PATTERN,
        },
        "timeoutSeconds": {
            "type": "number",
            "title": "Timeout (seconds)",
            "description": "The deadline of one call, from connecting to the last byte written (default 10).",
            "minimum": 1,
            "maximum": 60,
            "default": 10,
        },
        "maxMessageBytes": {
            "type": "integer",
            "title": "Largest message (bytes)",
            "description": (
                f"The largest message sent, framing excluded (default {DEFAULT_MAX_MESSAGE_BYTES}, rsyslog's default "
                "limit); a longer record's MSG is cut and the message marked truncated. Raise it with the receiver's "
                "limit."
            ),
            "minimum": MIN_MAX_MESSAGE_BYTES,
            "maximum": MAX_MAX_MESSAGE_BYTES,
            "default": DEFAULT_MAX_MESSAGE_BYTES,
        },
        "utf8Bom": {
            "type": "boolean",
            "title": "UTF-8 BOM before the MSG",
            "description": "Start the MSG with a byte order mark, as RFC 5424 says for UTF-8 (default true).",
            "default": True,
        },
    },
    "required": ["host"],
    "dependentSchemas": {"caCertificate": {"properties": {"tls": {"const": True}}, "required": ["tls"]}},
    "additionalProperties": False,
}

_MESSAGES: list[tuple[str, tuple[str, ...], str]] = [
    (r"host", ("pattern",), "must be a host name, an IPv4 address or an IPv6 address"),
    (r"hostname", ("pattern",), "must be printable ASCII without spaces"),
    (r"sdId", ("pattern",), "must be name@number, for example shiplane@32473"),
    (r"caCertificate", ("pattern",), "must be PEM text: -----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----"),
    (r"tls", ("required", "const"), "caCertificate needs tls: true"),
]


# ---------------------------------------------------------------------------
# The message
# ---------------------------------------------------------------------------


def severity_of(outcome: str) -> int:
    """The syslog severity of an audit outcome: notice for success, warning for denied, error
    for failure/failed/error, warning for anything else."""
    return OUTCOME_SEVERITIES.get(outcome, SEVERITY_WARNING)


def msgid_of(action: str) -> str:
    """The MSGID of an action: PRINTUSASCII (other characters become ``_``), at most 32 characters."""
    text = "".join(c if 0x21 <= ord(c) <= 0x7E else "_" for c in action[:MSGID_LIMIT])
    return text or "-"


def escape_sd_value(value: str) -> str:
    """A PARAM-VALUE with ``\\``, ``"`` and ``]`` escaped by a backslash (RFC 5424 §6.3.3)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _printusascii(text: str, limit: int) -> str:
    cleaned = "".join(c for c in text if 0x21 <= ord(c) <= 0x7E)[:limit]
    return cleaned or "-"


def _local_hostname() -> str:
    return _printusascii(socket.gethostname(), 255)


def _sd_element(sd_id: str, params: Sequence[tuple[str, str]]) -> str:
    inner = " ".join(f'{name}="{escape_sd_value(value[:SD_VALUE_LIMIT])}"' for name, value in params)
    return f"[{sd_id} {inner}]"


def syslog_message(
    record: AuditRecord,
    *,
    facility: str = DEFAULT_FACILITY,
    hostname: str | None = None,
    sd_id: str = DEFAULT_SD_ID,
    utf8_bom: bool = True,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> bytes:
    """One record as an RFC 5424 message (without framing), UTF-8.

    ``<PRI>1 TIMESTAMP HOSTNAME shiplane - MSGID [SD] MSG``: PRI from ``facility`` and the
    outcome's severity, TIMESTAMP the record's ``occurred_at`` (UTC, milliseconds), MSGID the
    action, SD ``tenant``, ``seq``, ``id``, ``action``, ``outcome``, ``hash``, ``prevHash``,
    the MSG the record's canonical JSON (after a BOM if ``utf8_bom``). When the message would
    exceed ``max_bytes``, the MSG is cut (at a character boundary) and the SD gets
    ``truncated="<bytes of the whole canonical JSON>"``.
    """
    pri = FACILITIES[facility] * 8 + severity_of(record.outcome)
    host = _printusascii(hostname, 255) if hostname else _local_hostname()
    header = f"<{pri}>1 {rfc3339_millis(record.occurred_at)} {host} {APP_NAME} - {msgid_of(record.action)} "
    params = [
        ("tenant", record.tenant_id),
        ("seq", str(record.sequence)),
        ("id", record.id),
        ("action", record.action),
        ("outcome", record.outcome),
        ("hash", record.hash),
        ("prevHash", record.prev_hash),
    ]
    bom = BOM.encode("utf-8") if utf8_bom else b""
    canonical = record.canonical.encode("utf-8")
    head = (header + _sd_element(sd_id, params)).encode("utf-8")
    if len(head) + 1 + len(bom) + len(canonical) <= max_bytes:
        return head + b" " + bom + canonical
    head = (header + _sd_element(sd_id, [*params, ("truncated", str(len(canonical)))])).encode("utf-8")
    room = max_bytes - len(head) - 1 - len(bom)
    if room <= 0:
        return head[:max_bytes]
    # Cut at a character boundary: drop a partial UTF-8 sequence at the end.
    kept = canonical[:room].decode("utf-8", "ignore").encode("utf-8")
    return head + b" " + bom + kept


def frame(message: bytes) -> bytes:
    """Octet-counting framing (RFC 6587 §3.4.1, RFC 5425 §4.3): ``<length> <message>``."""
    return str(len(message)).encode("ascii") + b" " + message


# ---------------------------------------------------------------------------
# The integration type
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    tls: ssl.SSLContext | None
    timeout: float

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _target(config: Mapping[str, Any]) -> _Target:
    use_tls = config.get("tls") is True
    return _Target(
        host=str(config["host"]),
        port=int(config.get("port") or (DEFAULT_TLS_PORT if use_tls else DEFAULT_PORT)),
        tls=tls_context(True, config.get("caCertificate")) if use_tls else None,
        timeout=float(config.get("timeoutSeconds", 10)),
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        text = exc.verify_message
    elif isinstance(exc, ConnectionRefusedError):
        text = "connection refused"
    elif isinstance(exc, socket.gaierror) and exc.strerror:
        text = exc.strerror
    elif isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError) and exc.errno:
        text = os.strerror(exc.errno)
    else:
        text = str(exc) or type(exc).__name__
    return single_line(text, 200)


def _failure(target: _Target, exc: BaseException, stage: str, what: str) -> PluginError:
    """The PluginError of ``exc`` raised during ``stage`` (``connect``, ``send``, ``close``)."""
    details = {"host": target.host, "port": target.port, "tls": target.tls is not None, "stage": stage}
    receiver = f"the syslog receiver {target.address}"
    if isinstance(exc, TimeoutError):
        doing = {
            "connect": "accept a connection" + (" and complete the TLS handshake" if target.tls else ""),
            "send": f"take {what}",
            "close": f"close the connection after {what}",
        }[stage]
        text = f"{receiver} did not {doing} within {target.timeout:g}s"
    elif isinstance(exc, socket.gaierror):
        text = f"could not resolve the syslog host {target.host}: {_reason(exc)}"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        text = f"the TLS certificate of {target.address} was not accepted: {_reason(exc)}"
    elif isinstance(exc, ssl.SSLError):
        text = f"TLS with {target.address} failed during {stage}: {_reason(exc)}"
    elif stage == "connect":
        text = f"could not connect to {receiver}: {_reason(exc)}"
    elif stage == "send":
        text = f"{receiver} closed the connection while {what} was sent: {_reason(exc)}"
    else:
        text = f"{receiver} reset the connection after {what} was written, so it may not have read every record"
    return PluginError(text, details=details)


async def _open(target: _Target) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if target.tls is None:
        return await asyncio.open_connection(target.host, target.port)
    return await asyncio.open_connection(
        target.host, target.port, ssl=target.tls, server_hostname=target.host, ssl_handshake_timeout=target.timeout
    )


async def _until_eof(reader: asyncio.StreamReader, seconds: float) -> None:
    """Read (and drop) what the receiver sends until it closes, for at most ``seconds``."""
    if seconds <= 0:
        return
    received = 0
    with suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while received < _DRAIN_LIMIT:
                chunk = await reader.read(4096)
                if not chunk:
                    return
                received += len(chunk)


async def _close(writer: asyncio.StreamWriter, seconds: float) -> None:
    writer.close()
    if seconds > 0:
        with suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), seconds)


class Syslog(IntegrationType):
    """Stream the audit trail to a syslog receiver, RFC 5424 over TCP or TLS."""

    id = "syslog"
    category = "siem"
    display_name = "Syslog (RFC 5424 over TCP/TLS)"
    description = (
        "Streams the tenant's audit trail to a syslog receiver as RFC 5424 messages over TCP or TLS (octet-counting "
        "framing), with the chain hash in structured data and the canonical JSON as the message."
    )
    config_schema: dict[str, Any] = _CONFIG_SCHEMA
    secret_destinations = ["host", "port"]

    def validate_config(self, config: Any) -> list[ConfigError]:
        return friendlier(super().validate_config(config), _MESSAGES) + ca_errors(config)

    async def send_audit(self, config: dict[str, Any], records: list[AuditRecord]) -> None:
        """Write the batch, one message per record, over one connection; return once every byte
        was written and flushed (see the module's docstring); otherwise raise :class:`PluginError`."""
        self.require_valid_config(config)
        batch = check_batch(records)
        if not batch:
            return
        target = _target(config)
        options = {
            "facility": config.get("facility", DEFAULT_FACILITY),
            "hostname": config.get("hostname") or _local_hostname(),
            "sd_id": config.get("sdId", DEFAULT_SD_ID),
            "utf8_bom": config.get("utf8Bom", True) is not False,
            "max_bytes": int(config.get("maxMessageBytes", DEFAULT_MAX_MESSAGE_BYTES)),
        }
        payload = b"".join(frame(syslog_message(record, **options)) for record in batch)
        count = len(batch)
        what = f"the batch of {count} audit record{'s' if count != 1 else ''} {batch[0].sequence}-{batch[-1].sequence}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + target.timeout
        stage = "connect"
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout_at(deadline):
                reader, writer = await _open(target)
                stage = "send"
                # drain() then waits until everything is handed to the kernel, not only below 64 KiB.
                writer.transport.set_write_buffer_limits(high=0)
                writer.write(payload)
                await writer.drain()
                if writer.can_write_eof():
                    # Half-close: a receiver that read every byte closes too; a reset is reported.
                    stage = "close"
                    writer.write_eof()
                    await _until_eof(reader, min(CLOSE_WAIT_SECONDS, deadline - loop.time() - 0.05))
        except (TimeoutError, OSError) as exc:
            error = _failure(target, exc, stage, what)
            error.details.update(tenantId=batch[0].tenant_id, firstSequence=batch[0].sequence)
            error.details["lastSequence"] = batch[-1].sequence
            raise error from None
        finally:
            if writer is not None:
                await _close(writer, min(1.0, deadline - loop.time()))

    async def _connect(self, config: dict[str, Any]) -> tuple[_Target, float]:
        """Open a connection (and complete the TLS handshake) and close it; the elapsed ms."""
        target = _target(config)
        started = time.perf_counter()
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(target.timeout):
                _, writer = await _open(target)
        except (TimeoutError, OSError) as exc:
            raise _failure(target, exc, "connect", "") from None
        finally:
            if writer is not None:
                await _close(writer, 1.0)
        return target, round((time.perf_counter() - started) * 1000, 1)

    async def test(self, config: dict[str, Any]) -> ConnectionTestResult:
        """Open a connection to the receiver (with TLS: complete a verified handshake), send
        nothing, and close it."""
        errors = self.validate_config(config)
        if errors:
            described = "; ".join(f"{e.field or '<config>'}: {e.message}" for e in errors)
            return ConnectionTestResult(ok=False, message=f"invalid configuration: {described}")
        try:
            target, elapsed_ms = await self._connect(config)
        except PluginError as exc:
            return ConnectionTestResult(ok=False, message=exc.message, details=exc.details)
        what = "a TLS connection (certificate verified)" if target.tls else "a TCP connection"
        return ConnectionTestResult(
            ok=True,
            message=f"the syslog receiver {target.address} accepted {what}; nothing was sent",
            details={"host": target.host, "port": target.port, "tls": target.tls is not None, "elapsedMs": elapsed_ms},
        )

    async def health(self, config: dict[str, Any]) -> HealthReport:
        """As :meth:`test`, as a health report."""
        result = await self.test(config)
        return HealthReport(status="ok" if result.ok else "failing", message=result.message, details=result.details)
