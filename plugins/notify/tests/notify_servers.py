"""Real receivers on loopback ports: a webhook receiver (``http.server`` in a thread) that
checks every delivery with the exported ``verify``, and SMTP servers (``aiosmtpd``), plain,
STARTTLS, implicit TLS and with authentication, behind a test certificate authority."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from shiplane_plugin_notify.webhook import verify

WEBHOOK_SECRET = "whsec-0123456789abcdef-not-a-real-one"
SMTP_USER = "shiplane"
SMTP_PASSWORD = "correct-horse-battery-staple"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------
# Webhook receiver
# ---------------------------------------------------------------------------


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool


@dataclass
class WebhookReceiver:
    """What the receiver answers (``status``, ``delay``, ``redirect``, ``echo_header``) and what it got."""

    port: int
    secret: str = WEBHOOK_SECRET
    status: int = 204
    response_body: bytes = b""
    delay: float = 0.0
    redirect: str | None = None
    echo_header: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/shiplane"

    def config(self, **extra: Any) -> dict[str, Any]:
        return {"url": self.url, "secret": self.secret, **extra}


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            verified = verify(receiver.secret, self.headers, body)
            receiver.deliveries.append(Delivery(self.path, dict(self.headers.items()), body, verified))
            if receiver.delay:
                receiver.released.wait(receiver.delay)
            if not verified:
                self._answer(401, b"bad signature")
            elif receiver.redirect:
                self.send_response(302)
                self.send_header("Location", receiver.redirect)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif receiver.echo_header:
                self._answer(receiver.status, f"you sent {self.headers.get(receiver.echo_header)}".encode())
            else:
                self._answer(receiver.status, receiver.response_body)

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    state = WebhookReceiver(port=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------------------
# TLS: a test CA and a certificate for 127.0.0.1 / localhost
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    root = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Shiplane test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (root / "ca.pem").write_bytes(ca.public_bytes(pem))
    (root / "cert.pem").write_bytes(cert.public_bytes(pem))
    (root / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Tls(root / "ca.pem", root / "cert.pem", root / "key.pem")


@pytest.fixture
def trust_test_ca(tls: Tls, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the smtp type trust the test CA (instead of the system's store)."""
    import shiplane_plugin_notify.smtp

    monkeypatch.setattr(shiplane_plugin_notify.smtp, "_tls_context", tls.client_context)


# ---------------------------------------------------------------------------
# SMTP servers
# ---------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class RecordingHandler:
    """Records every message; refuses recipients whose local part starts with ``nobody``."""

    def __init__(self) -> None:
        self.received: list[Received] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if address.startswith("nobody"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    port: int
    handler: RecordingHandler
    security: str

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def config(self, **extra: Any) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "security": self.security,
            "from": "shiplane@example.com",
            "to": ["ops@example.com", "oncall@example.com"],
            **extra,
        }


@pytest.fixture
def smtp_server(tls: Tls) -> Iterator[Callable[..., SmtpServer]]:
    """Start SMTP servers: ``smtp_server("none" | "starttls" | "tls", auth=False)``."""
    controllers: list[Controller] = []

    def start(security: str = "none", *, auth: bool = False) -> SmtpServer:
        handler = RecordingHandler()
        port = free_port()
        kwargs: dict[str, Any] = {}
        if security == "starttls":
            kwargs.update(tls_context=tls.server_context(), require_starttls=True)
        elif security == "tls":
            kwargs.update(ssl_context=tls.server_context())
        if auth:
            # With STARTTLS the server refuses AUTH before TLS (aiosmtpd can't tell implicit TLS).
            kwargs.update(authenticator=_authenticator, auth_required=True, auth_require_tls=security == "starttls")
        controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="localhost", **kwargs)
        controller.start()
        controllers.append(controller)
        return SmtpServer(port, handler, security)

    try:
        yield start
    finally:
        for controller in controllers:
            controller.stop()
