"""A real HAProxy on loopback in front of three tiny HTTP servers, for the router's tests.

``CONFIG`` is the haproxy.cfg snippet docs/plugins/haproxy.md shows (rendered there
with ``DOC_VALUES``); the fixture renders it with loopback ports and a socket in a
temporary directory, adds test-only lines (an operator-level socket, a static-rr
backend) and runs ``haproxy -W -db`` in the foreground, stopped by its pid.
"""

from __future__ import annotations

import http.client
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
BACKEND = "shop"
CONTROL = ["control-1", "control-2"]
CANDIDATE = ["candidate-1"]
COOKIE = "SHIPLANE_SERVER"
VARIANT_HEADER = "X-Shiplane-Variant"

# The snippet of docs/plugins/haproxy.md, placeholders in braces.
GLOBAL_AND_DEFAULTS = """\
global
    stats socket {admin_socket} mode 600 level admin
    stats socket ipv4@{admin_tcp} level admin
    stats timeout 30s

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

"""
FRONTEND = """\
frontend www
    bind {bind}
    default_backend shop

"""
USE_SERVER = "    use-server candidate-1 if { req.hdr(X-Shiplane-Variant) -m str candidate }\n"
BACKEND_SHOP = (
    """\
backend shop
    balance roundrobin
    cookie SHIPLANE_SERVER insert indirect nocache
"""
    + USE_SERVER
    + """\
    server control-1 {control_1} check weight 100 cookie control-1
    server control-2 {control_2} check weight 100 cookie control-2
    server candidate-1 {candidate_1} check weight 0 cookie candidate-1
"""
)
CONFIG = GLOBAL_AND_DEFAULTS + FRONTEND + BACKEND_SHOP

# The alternative for header routing the docs show: the frontend picks a second backend
# holding the candidate servers (and backend shop has no use-server line).
CANDIDATE_BACKEND_FRONTEND = """\
frontend www
    bind {bind}
    use_backend shop_candidate if { req.hdr(X-Shiplane-Variant) -m str candidate }
    default_backend shop

backend shop_candidate
    server candidate-1 {candidate_1} check

"""
CANDIDATE_BACKEND_CONFIG = GLOBAL_AND_DEFAULTS + CANDIDATE_BACKEND_FRONTEND + BACKEND_SHOP.replace(USE_SERVER, "")

# What server-state-file needs (docs: "What survives a reload").
STATE_FILE_GLOBAL = "    server-state-file {state_file}\n"
STATE_FILE_DEFAULTS = "    load-server-state-from-file global\n"

# The values the docs render the snippets with.
DOC_VALUES = {
    "admin_socket": "/run/haproxy/admin.sock",
    "admin_tcp": "127.0.0.1:9999",
    "bind": ":80",
    "control_1": "10.0.1.11:8080",
    "control_2": "10.0.1.12:8080",
    "candidate_1": "10.0.2.11:8080",
    "state_file": "/var/lib/haproxy/server-state",
}

# Test-only: an operator-level socket (may read, may not set weights) and a static-rr
# backend, where HAProxy refuses any weight but 0 and the configured one.
TEST_GLOBAL = "    stats socket {operator_socket} mode 600 level operator\n"
TEST_SECTIONS = """
backend legacy
    balance static-rr
    server old-1 {control_1} weight 1
    server old-2 {control_2} weight 2
    server new-1 {candidate_1} weight 18
"""


def render(template: str, values: dict[str, str]) -> str:
    """``str.format`` would choke on HAProxy's own braces (``{ req.hdr(...) }``): replace only ours."""
    text = template
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def with_global(config: str, lines: str) -> str:
    return config.replace("global\n", "global\n" + lines, 1)


def with_defaults(config: str, lines: str) -> str:
    return config.replace("defaults\n", "defaults\n" + lines, 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------
# The application servers: each answers its version and name
# ---------------------------------------------------------------------------


class _VersionHandler(BaseHTTPRequestHandler):
    server: _VersionServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = self.server.version.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Server", self.server.name)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _VersionServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str, version: str) -> None:
        super().__init__(("127.0.0.1", 0), _VersionHandler)
        self.name = name
        self.version = version

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


@dataclass
class Answer:
    version: str
    server: str
    set_cookie: str | None

    @property
    def cookie(self) -> str:
        """The ``Cookie`` header a browser would send back."""
        assert self.set_cookie, "HAProxy set no cookie"
        return self.set_cookie.split(";", 1)[0]


# ---------------------------------------------------------------------------
# HAProxy
# ---------------------------------------------------------------------------


@dataclass
class Haproxy:
    """One HAProxy process (master-worker, foreground) and what it listens on."""

    root: Path
    config_text: str
    admin_socket: Path
    operator_socket: Path
    admin_tcp: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.root / "haproxy.log"

    def start(self) -> None:
        config = self.root / "haproxy.cfg"
        config.write_text(self.config_text)
        check = subprocess.run([HAPROXY, "-c", "-q", "-f", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, f"haproxy refused the test config: {check.stdout}{check.stderr}"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([HAPROXY, "-W", "-db", "-f", str(config)], stdout=log, stderr=log)
        self.wait_ready(previous_pid=None)

    def worker_pid(self) -> str | None:
        try:
            info = self.command("show info")
        except OSError:
            return None
        return next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("Pid:")), None)

    def wait_ready(self, previous_pid: str | None) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, f"haproxy exited: {self.log_text()}"
            pid = self.worker_pid()
            if pid is not None and pid != previous_pid:
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                        return
            time.sleep(0.02)
        raise AssertionError(f"haproxy did not become ready: {self.log_text()}")

    def reload(self) -> None:
        """What ``systemctl reload haproxy`` does: SIGUSR2 to the master, which starts a new worker."""
        assert self.process is not None
        previous = self.worker_pid()
        self._wait_master_unblocks_sigusr2()
        self.process.send_signal(signal.SIGUSR2)
        self.wait_ready(previous_pid=previous)

    def _wait_master_unblocks_sigusr2(self) -> None:
        """The master blocks signals while it starts (after the worker already answers), and a
        SIGUSR2 sent then is lost: wait until /proc shows it unblocked."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status")
        deadline = time.monotonic() + 20
        while status.exists() and time.monotonic() < deadline:
            blocked = next(
                (line.split()[1] for line in status.read_text().splitlines() if line.startswith("SigBlk:")), "0"
            )
            if not int(blocked, 16) & (1 << (signal.SIGUSR2 - 1)):
                return
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    def command(self, line: str, socket_path: Path | None = None) -> str:
        """A raw runtime API command (for arranging and checking state behind the router's back)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(socket_path or self.admin_socket))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def weights(self, backend: str = BACKEND) -> dict[str, int]:
        lines = self.command(f"show servers state {backend}").splitlines()
        header = lines[1][2:].split()
        rows = [dict(zip(header, line.split(), strict=False)) for line in lines[2:] if line.strip()]
        return {row["srv_name"]: int(row["srv_uweight"]) for row in rows}

    def admin_states(self, backend: str = BACKEND) -> dict[str, int]:
        lines = self.command(f"show servers state {backend}").splitlines()
        header = lines[1][2:].split()
        rows = [dict(zip(header, line.split(), strict=False)) for line in lines[2:] if line.strip()]
        return {row["srv_name"]: int(row["srv_admin_state"]) for row in rows}

    def get(self, headers: dict[str, str] | None = None) -> Answer:
        """One request on a new connection, so HAProxy balances it on its own."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", "/", headers={"Connection": "close", **(headers or {})})
            response = connection.getresponse()
            body = response.read().decode()
            assert response.status == 200, f"HAProxy answered {response.status}: {body}"
            return Answer(body, response.getheader("X-Server") or "", response.getheader("Set-Cookie"))
        finally:
            connection.close()


@dataclass
class Lab:
    """HAProxy with the snippet's backend, and the router config pointing at it."""

    haproxy: Haproxy
    servers: dict[str, _VersionServer]
    initial: dict[str, int] = field(default_factory=lambda: {"control-1": 100, "control-2": 100, "candidate-1": 0})

    def config(self, **extra: Any) -> dict[str, Any]:
        return {
            "runtimeApi": str(self.haproxy.admin_socket),
            "backend": BACKEND,
            "controlServers": list(CONTROL),
            "candidateServers": list(CANDIDATE),
            "timeoutSeconds": 5,
            **extra,
        }

    def reset(self) -> None:
        """Back to the weights and states haproxy.cfg gives (the router's tests change them)."""
        for name, weight in self.initial.items():
            assert self.haproxy.command(f"set server {BACKEND}/{name} state ready").strip() == ""
            assert self.haproxy.command(f"set server {BACKEND}/{name} weight {weight}").strip() == ""
        for name, weight in {"old-1": 1, "old-2": 2, "new-1": 18}.items():
            assert self.haproxy.command(f"set server legacy/{name} weight {weight}").strip() == ""


def _require_haproxy() -> None:
    if not Path(HAPROXY).exists():
        pytest.fail("the haproxy router's tests need Debian's haproxy package (apt-get install haproxy)")


@pytest.fixture(scope="session")
def version_servers() -> Iterator[dict[str, _VersionServer]]:
    servers = {
        "control-1": _VersionServer("control-1", "control"),
        "control-2": _VersionServer("control-2", "control"),
        "candidate-1": _VersionServer("candidate-1", "candidate"),
    }
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers.values()]
    for thread in threads:
        thread.start()
    try:
        yield servers
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()


def start_haproxy(
    root: Path, servers: dict[str, _VersionServer], template: str = CONFIG, *, test_only: bool = True
) -> Haproxy:
    """Render ``template`` for loopback and start HAProxy; the caller stops it."""
    _require_haproxy()
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    values = {
        "admin_socket": str(root / "admin.sock"),
        "operator_socket": str(root / "operator.sock"),
        "admin_tcp": f"127.0.0.1:{free_port()}",
        "bind": f"127.0.0.1:{port}",
        "control_1": servers["control-1"].address,
        "control_2": servers["control-2"].address,
        "candidate_1": servers["candidate-1"].address,
        "state_file": str(root / "server-state"),
    }
    if test_only:
        template = with_global(template, TEST_GLOBAL) + TEST_SECTIONS
    haproxy = Haproxy(
        root=root,
        config_text=render(template, values),
        admin_socket=Path(values["admin_socket"]),
        operator_socket=Path(values["operator_socket"]),
        admin_tcp=values["admin_tcp"],
        port=port,
    )
    try:
        haproxy.start()
    except BaseException:
        haproxy.stop()
        raise
    return haproxy


@pytest.fixture(scope="session")
def shared_lab(tmp_path_factory: pytest.TempPathFactory, version_servers: dict[str, _VersionServer]) -> Iterator[Lab]:
    haproxy = start_haproxy(tmp_path_factory.mktemp("haproxy"), version_servers)
    try:
        yield Lab(haproxy, version_servers)
    finally:
        haproxy.stop()


@pytest.fixture
def lab(shared_lab: Lab) -> Lab:
    """The shared HAProxy, with haproxy.cfg's weights and every server ready."""
    shared_lab.reset()
    return shared_lab


@pytest.fixture
def fresh_haproxy(tmp_path: Path, version_servers: dict[str, _VersionServer]) -> Iterator[Any]:
    """A factory of HAProxy processes with other configs, stopped after the test."""
    started: list[Haproxy] = []

    def start(template: str, *, test_only: bool = False) -> Haproxy:
        haproxy = start_haproxy(tmp_path / f"haproxy{len(started)}", version_servers, template, test_only=test_only)
        started.append(haproxy)
        return haproxy

    try:
        yield start
    finally:
        for haproxy in started:
            haproxy.stop()
