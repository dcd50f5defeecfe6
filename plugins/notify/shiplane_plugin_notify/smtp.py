"""The ``smtp`` notification type: events as plain-text e-mail through an SMTP server.

Built on the standard library (``smtplib``, ``email.message.EmailMessage``); the
methods are plain ``def`` and block, so the core runs them in its thread pool.
TLS (``starttls`` or ``tls``) always verifies the server's certificate and host name
against the system's trust store.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import lru_cache
from typing import Any

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

__all__ = ["DEFAULT_PORTS", "Smtp", "build_message"]

#: The port used when ``port`` is not set, per ``security``.
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
_HOST_PATTERN = (
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
# An ASCII address: the dot-atom characters of RFC 5322 before the @, a host name after.
_EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_EMAIL = {"type": "string", "format": "email", "maxLength": 254, "pattern": _EMAIL_PATTERN}
_MAX_RECIPIENTS = 20
_MESSAGES = [
    (r"host", ("pattern", "format"), "must be a host name or an IPv4 address"),
    (r"from|to\.\d+", ("pattern", "format"), "must be an e-mail address (name@example.com)"),
    (r"subjectPrefix", ("pattern",), "must be on one line"),
    (r"username|password", ("not",), "no login with security none: credentials are only sent over TLS"),
    *EVENTS_MESSAGES,
]
_SUBJECT_LIMIT = 250
_SERVER_TEXT_LIMIT = 200


def _tls_context() -> ssl.SSLContext:
    """The TLS client context: certificate and host name verified (system trust store)."""
    return ssl.create_default_context()


@lru_cache(maxsize=1)
def _local_hostname() -> str:
    # What EHLO announces (smtplib's default, looked up once instead of per connection).
    return socket.getfqdn() or "localhost"


class Smtp(IntegrationType):
    """Send each event as a plain-text e-mail."""

    id = "smtp"
    category = "notification"
    display_name = "E-mail (SMTP)"
    description = "Sends each matching event as a plain-text e-mail through an SMTP server (STARTTLS or TLS)."
    # Besides ``host`` (format hostname): the port also decides where the password goes.
    secret_destinations = ["port"]
    config_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "host": {
                "type": "string",
                "title": "SMTP server",
                "description": "Host name or IPv4 address of the SMTP server.",
                "format": "hostname",
                "minLength": 1,
                "maxLength": 253,
                "pattern": _HOST_PATTERN,
            },
            "port": {
                "type": "integer",
                "title": "Port",
                "description": "Default: 587 with starttls, 465 with tls, 25 with none.",
                "minimum": 1,
                "maximum": 65535,
            },
            "security": {
                "type": "string",
                "title": "Security",
                "description": (
                    "starttls: upgrade to TLS after connecting (port 587); tls: TLS from the start (port 465); "
                    "none: no encryption (no login allowed)."
                ),
                "enum": ["none", "starttls", "tls"],
                "default": "starttls",
            },
            "username": {"type": "string", "title": "User name", "minLength": 1, "maxLength": 256},
            "password": {"type": "string", "title": "Password", "writeOnly": True, "minLength": 1, "maxLength": 1024},
            "from": {**_EMAIL, "title": "From", "description": "The sender address."},
            "to": {
                "type": "array",
                "title": "To",
                "description": f"Recipient addresses (at most {_MAX_RECIPIENTS}).",
                "items": dict(_EMAIL),
                "minItems": 1,
                "maxItems": _MAX_RECIPIENTS,
                "uniqueItems": True,
            },
            "subjectPrefix": {
                "type": "string",
                "title": "Subject prefix",
                "description": 'Put before every subject (default "[Shiplane] ").',
                "maxLength": 64,
                "pattern": "^[^\\r\\n]*$",
                "default": "[Shiplane] ",
            },
            "events": events_property(),
            "timeoutSeconds": timeout_property(),
        },
        "required": ["host", "from", "to"],
        "dependentRequired": {"username": ["password"], "password": ["username"]},
        # No credentials over an unencrypted connection.
        "if": {"properties": {"security": {"const": "none"}}, "required": ["security"]},
        "then": {"properties": {"username": {"not": {}}, "password": {"not": {}}}},
        "additionalProperties": False,
    }

    def validate_config(self, config: Any) -> list[ConfigError]:
        return friendlier(super().validate_config(config), _MESSAGES)

    def notify(self, config: dict[str, Any], message: NotificationMessage) -> None:
        """Send ``message`` to every ``to``; raise :class:`PluginError` if the server did not take it.

        When the server accepts some recipients and refuses others, the message goes to
        those accepted and no error is raised (a retry would send it to them twice);
        ``test`` checks every recipient.
        """
        self.require_valid_config(config)
        email = build_message(config, message, envelope_of(message))
        with _session(config, "send") as smtp:
            smtp.send_message(email, from_addr=config["from"], to_addrs=list(config["to"]))

    def test(self, config: dict[str, Any]) -> ConnectionTestResult:
        """Connect, EHLO, STARTTLS and log in as configured, check sender and recipients, NOOP, QUIT."""
        errors = self.validate_config(config)
        if errors:
            described = "; ".join(f"{e.field or '<config>'}: {e.message}" for e in errors)
            return ConnectionTestResult(ok=False, message=f"invalid configuration: {described}")
        host, port, security = _address(config)
        refused: dict[str, str] = {}
        try:
            with _session(config, "test") as smtp:
                smtp.noop()
                # MAIL FROM and RCPT TO, then RSET: what the server would accept, nothing sent.
                code, text = smtp.mail(config["from"])
                if code != 250:
                    raise smtplib.SMTPSenderRefused(code, text, config["from"])
                for recipient in config["to"]:
                    code, text = smtp.rcpt(recipient)
                    if code not in (250, 251):
                        refused[recipient] = f"{code} {_server_text(text)}"
                smtp.rset()
                features = sorted(smtp.esmtp_features)
        except PluginError as exc:
            return ConnectionTestResult(ok=False, message=exc.message, details=exc.details)
        details = {
            "host": host,
            "port": port,
            "security": security,
            "authenticated": bool(config.get("username")),
            "extensions": features,
        }
        if refused:
            listed = ", ".join(f"{address} ({reason})" for address, reason in refused.items())
            return ConnectionTestResult(
                ok=False,
                message=masked(f"the SMTP server {host}:{port} refused recipients: {listed}", [config.get("password")]),
                details={**details, "refused": sorted(refused)},
            )
        return ConnectionTestResult(
            ok=True, message=f"connected to {host}:{port} and the sender and recipients were accepted", details=details
        )

    def health(self, config: dict[str, Any]) -> HealthReport:
        """Connect, EHLO, STARTTLS as configured, NOOP, QUIT: no login, nothing sent."""
        host, port, _ = _address(config)
        started = time.perf_counter()
        try:
            with _session(config, "health", login=False) as smtp:
                smtp.noop()
        except PluginError as exc:
            return HealthReport(status="failing", message=exc.message, details=exc.details)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        return HealthReport(
            status="ok",
            message=f"the SMTP server {host}:{port} answered in {elapsed_ms:g} ms",
            details={"host": host, "port": port, "elapsedMs": elapsed_ms},
        )


def build_message(config: dict[str, Any], message: NotificationMessage, envelope: Envelope) -> EmailMessage:
    """The e-mail ``notify`` sends for ``message``."""
    sender: str = config["from"]
    domain = sender.rpartition("@")[2] or "shiplane.invalid"
    email = EmailMessage()
    prefix = str(config.get("subjectPrefix", "[Shiplane] "))
    email["Subject"] = single_line(prefix + message.subject, _SUBJECT_LIMIT) or "(no subject)"
    email["From"] = sender
    email["To"] = ", ".join(config["to"])
    email["Date"] = formatdate(usegmt=True)
    # The same Message-ID on every attempt of a delivery, so a mail client can drop a repeat.
    delivery = re.sub(r"[^A-Za-z0-9._-]", "", envelope.delivery_id)[:128]
    email["Message-ID"] = f"<shiplane.{delivery}@{domain}>" if delivery else make_msgid("shiplane", domain)
    email["Auto-Submitted"] = "auto-generated"
    email["X-Shiplane-Event"] = header_value(envelope.type)
    email["X-Shiplane-Event-Id"] = header_value(envelope.id)
    email["X-Shiplane-Delivery"] = header_value(envelope.delivery_id)
    email["X-Shiplane-Severity"] = message.severity
    footer = f"-- \nShiplane event {envelope.type} ({envelope.id}), {envelope.occurred_at}\n"
    body = message.body.rstrip("\n")
    email.set_content(f"{body}\n\n{footer}" if body else footer)
    return email


def _address(config: dict[str, Any]) -> tuple[str, int, str]:
    security = str(config.get("security", "starttls"))
    port = config.get("port")
    return str(config["host"]), int(port) if port else DEFAULT_PORTS.get(security, 587), security


@contextmanager
def _session(config: dict[str, Any], purpose: str, *, login: bool = True) -> Iterator[smtplib.SMTP]:
    """An SMTP connection after EHLO, STARTTLS and (``login``) login as configured; every failure,
    including one in the ``with`` body, becomes a :class:`PluginError` without the password."""
    host, port, security = _address(config)
    username = config.get("username")
    password = config.get("password")
    timeout = float(config.get("timeoutSeconds", 10))
    where = f"{host}:{port}"
    stage = "connect"
    smtp: smtplib.SMTP | None = None

    def fail(text: str, **more: Any) -> PluginError:
        details = {"host": host, "port": port, "security": security, "stage": stage, **more}
        return PluginError(masked(text, [password]), details=details)

    try:
        if security == "tls":
            smtp = smtplib.SMTP_SSL(
                host, port, local_hostname=_local_hostname(), timeout=timeout, context=_tls_context()
            )
        else:
            smtp = smtplib.SMTP(host, port, local_hostname=_local_hostname(), timeout=timeout)
        stage = "ehlo"
        smtp.ehlo()
        if security == "starttls":
            stage = "starttls"
            if not smtp.has_extn("starttls"):
                raise fail(f"the SMTP server {where} does not offer STARTTLS (security is starttls)")
            smtp.starttls(context=_tls_context())
            smtp.ehlo()
        if username and login:
            stage = "login"
            if not smtp.has_extn("auth"):
                raise fail(f"the SMTP server {where} does not offer authentication (AUTH) but a username is set")
            smtp.login(str(username), str(password or ""))
        stage = purpose
        yield smtp
        stage = "quit"
    except PluginError:
        _close(smtp)
        raise
    except smtplib.SMTPAuthenticationError as exc:
        _close(smtp)
        raise fail(
            f"the SMTP server {where} refused the login of {username!r}: {_response(exc)}", code=exc.smtp_code
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        _close(smtp)
        listed = ", ".join(f"{address} ({_response(answer)})" for address, answer in exc.recipients.items())
        raise fail(f"the SMTP server {where} refused every recipient: {listed}") from None
    except smtplib.SMTPSenderRefused as exc:
        _close(smtp)
        raise fail(
            f"the SMTP server {where} refused the sender {config.get('from')}: {_response(exc)}", code=exc.smtp_code
        ) from None
    except smtplib.SMTPDataError as exc:
        _close(smtp)
        raise fail(f"the SMTP server {where} refused the message: {_response(exc)}", code=exc.smtp_code) from None
    except smtplib.SMTPServerDisconnected as exc:
        _close(smtp)
        raise fail(f"the SMTP server {where} closed the connection during {stage}: {_reason(exc)}") from None
    except smtplib.SMTPResponseException as exc:
        _close(smtp)
        raise fail(f"the SMTP server {where} answered {_response(exc)} during {stage}", code=exc.smtp_code) from None
    except smtplib.SMTPException as exc:
        _close(smtp)
        raise fail(f"SMTP with {where} failed during {stage}: {_reason(exc)}") from None
    except ssl.SSLCertVerificationError as exc:
        _close(smtp)
        reason = exc.verify_message or _reason(exc)
        raise fail(f"the TLS certificate of {where} was not accepted: {reason}") from None
    except ssl.SSLError as exc:
        _close(smtp)
        hint = " (tls is for implicit-TLS ports such as 465; use starttls for 587)" if stage == "connect" else ""
        raise fail(f"TLS with {where} failed during {stage}: {_reason(exc)}{hint}") from None
    except TimeoutError:
        _close(smtp)
        raise fail(f"the SMTP server {where} did not answer within {timeout:g}s (during {stage})") from None
    except ConnectionRefusedError:
        _close(smtp)
        raise fail(f"could not connect to the SMTP server {where}: connection refused") from None
    except socket.gaierror as exc:
        _close(smtp)
        raise fail(f"could not resolve the SMTP server host {host}: {_reason(exc)}") from None
    except OSError as exc:
        _close(smtp)
        raise fail(f"could not talk to the SMTP server {where} (during {stage}): {_reason(exc)}") from None
    else:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            # The work is done (the message was accepted); a failed goodbye changes nothing.
            _close(smtp)


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        try:
            smtp.close()
        except OSError:
            pass


def _server_text(text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return single_line(text, _SERVER_TEXT_LIMIT)


def _response(answer: Any) -> str:
    """``<code> <text>`` of an SMTP answer (an exception or a ``(code, text)`` pair)."""
    if isinstance(answer, smtplib.SMTPResponseException):
        code, text = answer.smtp_code, answer.smtp_error
    elif isinstance(answer, tuple) and len(answer) == 2:
        code, text = answer
    else:
        return single_line(str(answer), _SERVER_TEXT_LIMIT)
    return f"{code} {_server_text(text)}".strip()


def _reason(exc: BaseException) -> str:
    return single_line(str(exc) or type(exc).__name__, _SERVER_TEXT_LIMIT)
