"""What the siem plugin's tests send to and read from.

- :func:`make_records`: audit records chained as the core chains them (the same canonical
  JSON and ``sha256(prev_hash + canonical)``).
- :class:`FakeHec`: a local fake of Splunk's HTTP Event Collector API in a thread, following
  Splunk's public documentation ("Format events for HTTP Event Collector", "Troubleshoot HTTP
  Event Collector", "About HTTP Event Collector Indexer Acknowledgment"): the endpoints, the
  ``Authorization: Splunk <token>`` scheme, concatenated JSON events, the ``{"text", "code"}``
  answers and indexer acknowledgment.
- :class:`Rsyslog`: a real rsyslogd (Debian's ``rsyslog``; ``rsyslog-openssl`` for TLS) as a
  foreground process on a loopback port, writing every message it parsed to a file as JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from shiplane_sdk import AuditRecord

GENESIS = "0" * 64
HEC_TOKEN = "7f3c2a9e-51b4-4c1d-9a8e-2b6f0d4e8c11"
ACK_TOKEN = "0b9d6e2f-8c3a-4f7e-a1d5-93c4e7b2f6a0"
DISABLED_TOKEN = "5e1a7c3b-2d9f-4b8e-8f6a-c0d2e4b6a8f9"
RSYSLOGD = "/usr/sbin/rsyslogd"
T0 = datetime(2026, 11, 30, 5, 37, 1, 120000, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], bool], what: str, limit: float = 20.0) -> None:
    """Poll ``condition`` until true; fail the test after ``limit`` seconds (a bound, not a measure)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# Audit records, chained as the core chains them
# ---------------------------------------------------------------------------


def canonical(record: dict[str, Any]) -> str:
    """The core's canonical JSON of an audit event (core/shiplane/platform/audit.py)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_records(
    tenant: str,
    count: int,
    *,
    start: int = 1,
    prev_hash: str = GENESIS,
    action: str | Callable[[int], str] = "environment.update",
    outcome: str | Callable[[int], str] = "success",
    changes: Callable[[int], dict[str, Any] | None] | None = None,
) -> list[AuditRecord]:
    """``count`` chained records of ``tenant`` from sequence ``start``."""
    records: list[AuditRecord] = []
    prev = prev_hash
    for sequence in range(start, start + count):
        occurred = T0 + timedelta(seconds=sequence, milliseconds=sequence % 1000)
        body: dict[str, Any] = {
            "tenantId": tenant,
            "sequence": sequence,
            "id": f"aud_{uuid.uuid4().hex[:16]}",
            "occurredAt": occurred.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "actorType": "user",
            "actorId": "usr_alice",
            "action": action(sequence) if callable(action) else action,
            "resourceType": "environment",
            "resourceId": f"env_{sequence}",
            "requestId": f"req_{sequence}",
            "outcome": outcome(sequence) if callable(outcome) else outcome,
            "changes": changes(sequence)
            if changes
            else {"after": {"name": f"prod-{sequence}", "note": "ünïcode ✓"}, "before": {"name": "prod"}},
        }
        text = canonical(body)
        digest = sha256_hex(prev + text)
        records.append(
            AuditRecord(
                id=body["id"],
                tenant_id=tenant,
                sequence=sequence,
                occurred_at=occurred,
                actor_type=body["actorType"],
                actor_id=body["actorId"],
                action=body["action"],
                resource_type=body["resourceType"],
                resource_id=body["resourceId"],
                outcome=body["outcome"],
                request_id=body["requestId"],
                changes=body["changes"],
                prev_hash=prev,
                hash=digest,
                canonical=text,
            )
        )
        prev = digest
    return records


def unique_tenant(name: str) -> str:
    return f"ten_{name}_{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------------------
# A fake Splunk HTTP Event Collector
# ---------------------------------------------------------------------------

# The answers Splunk documents ("Troubleshoot HTTP Event Collector": status, text, code).
SUCCESS = (200, "Success", 0)
TOKEN_DISABLED = (403, "Token disabled", 1)
TOKEN_REQUIRED = (401, "Token is required", 2)
INVALID_AUTHORIZATION = (401, "Invalid authorization", 3)
INVALID_TOKEN = (403, "Invalid token", 4)
NO_DATA = (400, "No data", 5)
INVALID_DATA_FORMAT = (400, "Invalid data format", 6)
INCORRECT_INDEX = (400, "Incorrect index", 7)
SERVER_BUSY = (503, "Server is busy", 9)
CHANNEL_MISSING = (400, "Data channel is missing", 10)
EVENT_REQUIRED = (400, "Event field is required", 12)
EVENT_BLANK = (400, "Event field cannot be blank", 13)
ACK_DISABLED = (400, "ACK is disabled", 14)
HEALTHY = (200, "HEC is healthy", 17)
UNHEALTHY = (503, "HEC is unhealthy, queues are full", 18)

EVENT_PATHS = {"/services/collector", "/services/collector/event", "/services/collector/event/1.0"}
HEALTH_PATHS = {"/services/collector/health", "/services/collector/health/1.0"}
ACK_PATHS = {"/services/collector/ack"}


@dataclass
class HecToken:
    """A token: the indexes it may write to (``None``: any), its default index, indexer acknowledgment."""

    indexes: set[str] | None = None
    default_index: str = "main"
    ack: bool = False
    disabled: bool = False


@dataclass
class HecRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def parse_concatenated(body: str) -> list[Any]:
    """The JSON values of a body of concatenated JSON values (whitespace between them allowed),
    numbers with a fraction kept exact (``Decimal``). Raises ``ValueError`` with ``.index`` (0-based)."""
    decoder = json.JSONDecoder(parse_float=Decimal)
    values: list[Any] = []
    position = 0
    while True:
        while position < len(body) and body[position] in " \t\r\n":
            position += 1
        if position >= len(body):
            return values
        try:
            value, position = decoder.raw_decode(body, position)
        except ValueError as exc:
            error = ValueError(str(exc))
            error.index = len(values)  # type: ignore[attr-defined]
            raise error from None
        values.append(value)


class FakeHec:
    """Splunk's HEC API on a loopback port. ``mode``: ``normal``, ``busy`` (503 code 9 to events),
    ``unhealthy`` (the health endpoint answers 503 code 18), ``hang`` (events get no answer),
    ``redirect`` (302 to another URL), ``proxy-error`` (a 502 HTML page, not HEC), ``no-health``
    (no health endpoint, as before Splunk 6.6 or behind some proxies)."""

    def __init__(self, tokens: dict[str, HecToken] | None = None, tls: Tls | None = None) -> None:
        self.tokens = (
            tokens
            if tokens is not None
            else {HEC_TOKEN: HecToken(indexes={"main", "audit"}), DISABLED_TOKEN: HecToken(disabled=True)}
        )
        self.mode = "normal"
        #: How many ack queries an ackId needs before it is reported indexed.
        self.ack_after = 2
        self.indexed: list[dict[str, Any]] = []
        self.requests: list[HecRequest] = []
        self._acks: dict[tuple[str, str], dict[int, int]] = {}
        self._next_ack: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert, tls.key)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def config(self, **more: Any) -> dict[str, Any]:
        return {"url": self.url, "token": HEC_TOKEN, "timeoutSeconds": 5, **more}

    def start(self) -> FakeHec:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    # -- handling ----------------------------------------------------------

    def _answer(self, handler: BaseHTTPRequestHandler, answer: tuple[int, str, int], **more: Any) -> None:
        status, text, code = answer
        self._send(handler, status, json.dumps({"text": text, "code": code, **more}).encode())

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", headers.pop("content_type", "application/json; charset=UTF-8"))
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    def _token(self, handler: BaseHTTPRequestHandler) -> tuple[str | None, tuple[int, str, int] | None]:
        authorization = handler.headers.get("Authorization")
        if authorization is None:
            return None, TOKEN_REQUIRED
        scheme, _, token = authorization.partition(" ")
        if scheme != "Splunk" or not token:
            return None, INVALID_AUTHORIZATION
        known = self.tokens.get(token)
        if known is None:
            return None, INVALID_TOKEN
        if known.disabled:
            return None, TOKEN_DISABLED
        return token, None

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        path = split.path.rstrip("/") or "/"
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append(HecRequest(method, path, dict(handler.headers.items()), body))
        if method == "GET" and path in HEALTH_PATHS and self.mode != "no-health":
            self._answer(handler, UNHEALTHY if self.mode == "unhealthy" else HEALTHY)
            return
        if method != "POST" or path not in EVENT_PATHS | ACK_PATHS:
            self._send(handler, 404, b'{"text":"The requested URL was not found on this server.","code":404}')
            return
        if self.mode == "redirect":
            self._send(handler, 302, b"", Location=f"http://127.0.0.1:1{path}")
            return
        if self.mode == "hang" and path in EVENT_PATHS:
            self._release.wait(30)
            return
        if self.mode == "proxy-error":
            page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            self._send(handler, 502, page, content_type="text/html")
            return
        token, refused = self._token(handler)
        if refused or token is None:
            self._answer(handler, refused or INVALID_TOKEN)
            return
        settings = self.tokens[token]
        channel = handler.headers.get("X-Splunk-Request-Channel") or (parse_qs(split.query).get("channel") or [""])[0]
        if path in ACK_PATHS:
            self._ack_query(handler, token, settings, channel, body)
            return
        if self.mode == "busy":
            self._answer(handler, SERVER_BUSY)
            return
        if settings.ack and not channel:
            self._answer(handler, CHANNEL_MISSING)
            return
        if not body.strip():
            self._answer(handler, NO_DATA)
            return
        try:
            events = parse_concatenated(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            self._answer(handler, INVALID_DATA_FORMAT, **{"invalid-event-number": getattr(exc, "index", 0)})
            return
        accepted: list[dict[str, Any]] = []
        # "invalid-event-number": the position of the first bad event in the request, from 0.
        for number, event in enumerate(events):
            if not isinstance(event, dict):
                self._answer(handler, INVALID_DATA_FORMAT, **{"invalid-event-number": number})
                return
            if "event" not in event:
                self._answer(handler, EVENT_REQUIRED, **{"invalid-event-number": number})
                return
            if event["event"] in ("", None):
                self._answer(handler, EVENT_BLANK, **{"invalid-event-number": number})
                return
            index = event.get("index", settings.default_index)
            if settings.indexes is not None and index not in settings.indexes:
                self._answer(handler, INCORRECT_INDEX, **{"invalid-event-number": number})
                return
            accepted.append({**event, "index": index})
        with self._lock:
            self.indexed.extend(accepted)
            if settings.ack:
                key = (token, channel)
                ack_id = self._next_ack.get(key, 0)
                self._next_ack[key] = ack_id + 1
                self._acks.setdefault(key, {})[ack_id] = self.ack_after
        if settings.ack:
            self._answer(handler, SUCCESS, ackId=ack_id)
        else:
            self._answer(handler, SUCCESS)

    def _ack_query(
        self, handler: BaseHTTPRequestHandler, token: str, settings: HecToken, channel: str, body: bytes
    ) -> None:
        if not settings.ack:
            self._answer(handler, ACK_DISABLED)
            return
        if not channel:
            self._answer(handler, CHANNEL_MISSING)
            return
        try:
            wanted = json.loads(body)["acks"]
        except (ValueError, KeyError, TypeError):
            self._answer(handler, INVALID_DATA_FORMAT)
            return
        statuses: dict[str, bool] = {}
        with self._lock:
            pending = self._acks.setdefault((token, channel), {})
            for ack_id in wanted:
                left = pending.get(ack_id)
                if left is not None and left > 0:
                    pending[ack_id] = left - 1
                statuses[str(ack_id)] = pending.get(ack_id) == 0
        self._send(handler, 200, json.dumps({"acks": statuses}).encode())

    def events_of(self, tenant: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.indexed if e["event"].get("tenantId") == tenant]


@pytest.fixture
def hec() -> Iterator[FakeHec]:
    fake = FakeHec().start()
    try:
        yield fake
    finally:
        fake.stop()


# ---------------------------------------------------------------------------
# A real rsyslog
# ---------------------------------------------------------------------------

# Every parsed message as one JSON line: the RFC 5424 fields as rsyslog parsed them, the
# structured data as mmpstrucdata parsed it (unescaped), the MSG and the raw message.
_RSYSLOG_CONF = """\
global(
  workDirectory="{work}"
  maxMessageSize="1m"
  net.enableDNS="off"
  parser.escapeControlCharactersOnReceive="off"{tls_global}
)
module(load="imtcp"{tls_module})
module(load="mmpstrucdata")
template(name="shiplaneJson" type="list" option.jsonf="on") {{
  property(outname="facility" name="syslogfacility" format="jsonf")
  property(outname="severity" name="syslogseverity" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="appName" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="structuredData" name="structured-data" format="jsonf")
  property(outname="sd" name="$!rfc5424-sd" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="raw" name="rawmsg" format="jsonf")
}}
ruleset(name="shiplane") {{
  action(type="mmpstrucdata" sd_name.lowercase="off")
  action(type="omfile" file="{out}" template="shiplaneJson")
}}
input(type="imtcp" port="{port}" address="127.0.0.1" ruleset="shiplane")
"""


@dataclass
class Tls:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path

    @property
    def ca_pem(self) -> str:
        return self.ca.read_text()


@dataclass
class Rsyslog:
    """rsyslogd -n on a free loopback port; :meth:`messages` reads what it wrote."""

    work: Path
    tls: Tls | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    out: Path = field(init=False)

    def __post_init__(self) -> None:
        self.out = self.work / "messages.jsonl"

    def config(self, **more: Any) -> dict[str, Any]:
        base: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "timeoutSeconds": 5}
        if self.tls is not None:
            base.update(tls=True, caCertificate=self.tls.ca_pem)
        return {**base, **more}

    def start(self) -> Rsyslog:
        # With TLS, ready means a real TLS handshake succeeds: a port that merely listens
        # may, under a loaded test run, belong to another process that took it first
        # (then this rsyslogd starts again on another port).
        for _attempt in range(3):
            self._start_once()
            if self.tls is None or self._handshakes():
                return self
            self.stop()
        raise AssertionError(
            f"rsyslogd with TLS never completed a handshake: {(self.work / 'rsyslogd.log').read_text()}"
        )

    def _handshakes(self, limit: float = 10.0) -> bool:
        assert self.tls is not None
        context = ssl.create_default_context(cadata=self.tls.ca_pem)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as raw:
                    with context.wrap_socket(raw, server_hostname="127.0.0.1"):
                        return True
            except (OSError, ssl.SSLError):
                time.sleep(0.2)
        return False

    def _start_once(self) -> None:
        self.port = free_port()
        tls_global = tls_module = ""
        if self.tls is not None:
            tls_global = (
                '\n  defaultNetstreamDriver="ossl"'
                f'\n  defaultNetstreamDriverCAFile="{self.tls.ca}"'
                f'\n  defaultNetstreamDriverCertFile="{self.tls.cert}"'
                f'\n  defaultNetstreamDriverKeyFile="{self.tls.key}"'
            )
            tls_module = ' streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon"'
        conf = self.work / "rsyslog.conf"
        conf.write_text(
            _RSYSLOG_CONF.format(
                work=self.work, out=self.out, port=self.port, tls_global=tls_global, tls_module=tls_module
            )
        )
        log = (self.work / "rsyslogd.log").open("wb")
        self.process = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(conf), "-i", str(self.work / "rsyslogd.pid")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

        def listening() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"rsyslogd exited: {(self.work / 'rsyslogd.log').read_text()}")
            return is_listening(self.port)

        wait_until(listening, "rsyslogd to listen")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def messages(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        parsed = []
        text = self.out.read_bytes().decode("utf-8")
        # Only whole lines: rsyslog may be writing the last one.
        for line in text[: text.rfind("\n") + 1].splitlines():
            if line.strip():
                message = json.loads(line)
                message["sd"] = json.loads(message["sd"]) if message.get("sd") else {}
                parsed.append(message)
        return parsed

    def messages_of(self, tenant: str, count: int, sd_id: str = "shiplane@32473") -> list[dict[str, Any]]:
        """The messages of ``tenant`` once at least ``count`` arrived (rsyslog writes asynchronously)."""

        def of_tenant() -> list[dict[str, Any]]:
            return [m for m in self.messages() if m["sd"].get(sd_id, {}).get("tenant") == tenant]

        wait_until(lambda: len(of_tenant()) >= count, f"{count} messages of {tenant} in rsyslog's file")
        return of_tenant()


def is_listening(port: int) -> bool:
    """Whether a socket listens on ``port`` of 127.0.0.1, read from /proc/net/tcp: no probe
    connection, which rsyslog would log (and its TLS driver copes badly with one that closes
    before the handshake: the next connection may fail)."""
    wanted = f"0100007F:{port:04X}"
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0
    return any(fields[1] == wanted and fields[3] == "0A" for fields in (line.split() for line in lines))


def require_rsyslog(tls: bool = False) -> None:
    if not os.access(RSYSLOGD, os.X_OK):
        pytest.fail(f"{RSYSLOGD} is missing: install Debian's rsyslog package (apt-get install -y rsyslog)")
    if (
        tls
        and not Path("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so").exists()
        and not any(Path("/usr/lib").glob("*/rsyslog/lmnsd_ossl.so"))
    ):
        pytest.fail("rsyslog's OpenSSL driver is missing: install Debian's rsyslog-openssl package")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_tls(root: Path) -> Tls:
    """A test CA and a server certificate for localhost and 127.0.0.1 signed by it (openssl
    command), plus an unrelated CA."""
    if shutil.which("openssl") is None:
        pytest.fail("the TLS tests make their certificates with the openssl command")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    for name, subject in (("ca", "/CN=Shiplane test CA"), ("other", "/CN=Other CA")):
        files = ["-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", subject]
        _openssl("req", "-x509", *ec, *files, *ca_ext, cwd=root)
    _openssl("req", *ec, "-keyout", "key.pem", "-out", "server.csr", "-subj", "/CN=localhost", cwd=root)
    (root / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    sign = ["-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "server.ext"]
    _openssl("x509", "-req", "-in", "server.csr", "-out", "cert.pem", *sign, cwd=root)
    return Tls(root / "ca.pem", root / "cert.pem", root / "key.pem", root / "other.pem")


@pytest.fixture(scope="session")
def rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    require_rsyslog()
    server = Rsyslog(tmp_path_factory.mktemp("rsyslog"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def rsyslog_tls(tmp_path_factory: pytest.TempPathFactory, tls_files: Tls) -> Iterator[Rsyslog]:
    require_rsyslog(tls=True)
    server = Rsyslog(tmp_path_factory.mktemp("rsyslog-tls"), tls=tls_files)
    try:
        yield server.start()
    finally:
        server.stop()
