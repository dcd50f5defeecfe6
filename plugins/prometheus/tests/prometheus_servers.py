"""Real servers on loopback ports for the prometheus plugin's tests.

- :class:`Exporter`: a tiny ``http.server`` exposing Prometheus text-format metrics the
  test controls (``http_requests_total{code="200"|"500"}`` counters, a gauge);
- :func:`start_prometheus`: Debian's ``prometheus`` as a subprocess, its own TSDB in a
  temporary directory, a generated config scraping the exporter every second, and
  optionally ``--web.config.file`` (basic auth); stopped by its pid;
- :class:`AuthProxy`: a reverse proxy in front of Prometheus that lets a request through
  only with ``Authorization: Bearer <token>`` (Prometheus itself has no bearer tokens);
- :class:`FakeServer`: answers what the test says (too many series, a huge body, HTML,
  a redirect, nothing at all) for what a real Prometheus never does.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
BEARER_TOKEN = "prom-bearer-0123456789abcdef-do-not-show"
BASIC_USER = "grafana"
BASIC_PASSWORD = "b4sic-Pa55word-do-not-show"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unavailable_reason() -> str | None:
    if not (os.path.isfile(PROMETHEUS) and os.access(PROMETHEUS, os.X_OK)):
        return "the prometheus binary is not installed (Debian package prometheus)"
    return None


def require_prometheus() -> None:
    reason = unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the prometheus tests need a Prometheus server in CI: {reason}")
        pytest.skip(reason)


def wait_for(what: str, check: Callable[[], Any], *, attempts: int = 300, pause: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy (and return it); fail after ``attempts``."""
    for _ in range(attempts):
        value = check()
        if value:
            return value
        time.sleep(pause)
    raise AssertionError(f"gave up waiting for {what}")


def _quiet_server(
    server: ThreadingHTTPServer, before_stop: Callable[[], None] | None = None
) -> Iterator[ThreadingHTTPServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        if before_stop:
            before_stop()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass

    def answer(self, status: int, body: bytes, content_type: str = "text/plain", **headers: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


# ---------------------------------------------------------------------------
# The scraped exporter
# ---------------------------------------------------------------------------


@dataclass
class Exporter:
    """Metrics the test controls, served at ``/metrics`` in the text exposition format."""

    port: int = 0
    ok_requests: int = 0
    error_requests: int = 0
    queue_depth: float = 0.0
    scrapes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def serve(self, ok: int, errors: int) -> None:
        """Count ``ok`` answered requests (code 200) and ``errors`` failed ones (code 500)."""
        with self.lock:
            self.ok_requests += ok
            self.error_requests += errors

    def set_queue_depth(self, value: float) -> None:
        with self.lock:
            self.queue_depth = value

    def exposition(self) -> bytes:
        with self.lock:
            self.scrapes += 1
            lines = [
                "# HELP http_requests_total Requests answered, by status code.",
                "# TYPE http_requests_total counter",
                f'http_requests_total{{code="200"}} {self.ok_requests}',
                f'http_requests_total{{code="500"}} {self.error_requests}',
                "# HELP shiplane_test_queue_depth Jobs waiting.",
                "# TYPE shiplane_test_queue_depth gauge",
                f"shiplane_test_queue_depth {self.queue_depth!r}",
                "",
            ]
        return "\n".join(lines).encode()


def running_exporter() -> Iterator[Exporter]:
    exporter = Exporter()

    class Handler(_Handler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.split("?")[0] != "/metrics":
                self.answer(404, b"not found")
                return
            self.answer(200, exporter.exposition(), "text/plain; version=0.0.4; charset=utf-8")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    exporter.port = server.server_address[1]
    for _ in _quiet_server(server):
        yield exporter


# ---------------------------------------------------------------------------
# Prometheus
# ---------------------------------------------------------------------------


@dataclass
class RunningPrometheus:
    port: int
    process: subprocess.Popen[bytes]
    directory: Path
    auth: tuple[str, str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self, **extra: Any) -> dict[str, Any]:
        return {"url": self.url, **extra}

    def log(self) -> str:
        path = self.directory / "prometheus.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _ready(url: str, auth: tuple[str, str] | None) -> bool:
    request = urllib.request.Request(url + "/-/ready")
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False


def start_prometheus(
    directory: Path,
    *,
    targets: Iterable[str] = (),
    basic_auth: tuple[str, str] | None = None,
) -> RunningPrometheus:
    """Start Prometheus on a free loopback port, scraping ``targets`` every second.

    With ``basic_auth`` (user, password) it requires HTTP basic authentication on every
    endpoint (``--web.config.file`` with a bcrypt hash of the password).
    """
    directory.mkdir(parents=True, exist_ok=True)
    scrape_configs = []
    if targets:
        scrape_configs.append({"job_name": "shiplane-test", "static_configs": [{"targets": list(targets)}]})
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": scrape_configs,
    }
    # JSON is YAML: no YAML library needed.
    (directory / "prometheus.yml").write_text(json.dumps(config))
    arguments = [
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        "--log.level=warn",
    ]
    if basic_auth:
        import bcrypt  # the test dependency group has it; rounds=4 keeps checks fast

        hashed = bcrypt.hashpw(basic_auth[1].encode(), bcrypt.gensalt(rounds=4)).decode()
        (directory / "web.yml").write_text(json.dumps({"basic_auth_users": {basic_auth[0]: hashed}}))
        arguments.append(f"--web.config.file={directory / 'web.yml'}")
    last_log = ""
    for _ in range(3):  # a free port may be taken between choosing and binding it
        port = free_port()
        log = (directory / "prometheus.log").open("wb")
        process = subprocess.Popen(
            [PROMETHEUS, *arguments, f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        running = RunningPrometheus(port, process, directory, basic_auth)
        for _ in range(300):
            if process.poll() is not None:
                break
            if _ready(running.url, basic_auth):
                return running
            time.sleep(0.1)
        last_log = running.log()
        running.stop()
    raise RuntimeError(f"prometheus did not start: {last_log}")


# ---------------------------------------------------------------------------
# A bearer-token proxy in front of Prometheus
# ---------------------------------------------------------------------------


@dataclass
class AuthProxy:
    """Forwards requests to ``upstream`` only with ``Authorization: Bearer <token>``.

    A refused request gets ``refusal_status`` (401) with a body that echoes the header it
    got, so a test can check that the plugin does not repeat it.
    """

    upstream: int
    token: str = BEARER_TOKEN
    port: int = 0
    refusal_status: int = 401
    seen: list[str | None] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self, **extra: Any) -> dict[str, Any]:
        return {"url": self.url, "bearerToken": self.token, **extra}


def running_auth_proxy(upstream: int) -> Iterator[AuthProxy]:
    proxy = AuthProxy(upstream)

    class Handler(_Handler):
        def _forward(self) -> None:
            received = self.headers.get("Authorization")
            proxy.seen.append(received)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if received != f"Bearer {proxy.token}":
                self.answer(proxy.refusal_status, f"invalid credentials: Authorization: {received}\n".encode())
                return
            connection = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=30)
            try:
                headers = {"Content-Type": self.headers.get("Content-Type") or "application/octet-stream"}
                connection.request(self.command, self.path, body=body or None, headers=headers)
                response = connection.getresponse()
                data = response.read()
                content_type = response.getheader("Content-Type") or "application/octet-stream"
                self.answer(response.status, data, content_type)
            finally:
                connection.close()

        do_GET = _forward  # noqa: N815 - http.server's naming
        do_POST = _forward  # noqa: N815 - http.server's naming

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    proxy.port = server.server_address[1]
    for _ in _quiet_server(server):
        yield proxy


# ---------------------------------------------------------------------------
# A fake server for what Prometheus never answers
# ---------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(payload: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(payload).encode())


@dataclass
class FakeServer:
    """Answers each request with ``respond(request)`` (default: 404) and records it."""

    port: int = 0
    respond: Callable[[Request], Reply] = lambda request: Reply(404, b"404 page not found\n", "text/plain")
    requests: list[Request] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self, **extra: Any) -> dict[str, Any]:
        return {"url": self.url, **extra}

    def hang(self, request: Request) -> Reply:
        """A ``respond`` that never answers (until the test ends)."""
        self.released.wait(30)
        return Reply(200, b"{}")


def running_fake_server() -> Iterator[FakeServer]:
    fake = FakeServer()

    class Handler(_Handler):
        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = Request(self.command, self.path, dict(self.headers.items()), body)
            fake.requests.append(request)
            reply = fake.respond(request)
            if isinstance(reply.body, bytes):
                self.answer(reply.status, reply.body, reply.content_type, **reply.headers)
                return
            # A streamed body without Content-Length: it ends when the connection closes.
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in reply.body:
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

        do_GET = _handle  # noqa: N815 - http.server's naming
        do_POST = _handle  # noqa: N815 - http.server's naming

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.port = server.server_address[1]
    for _ in _quiet_server(server, before_stop=fake.released.set):
        yield fake
