"""A real nginx on a loopback port in front of two Python HTTP servers (``control`` and ``candidate``).

nginx runs as the current user with everything in a temporary directory: its prefix,
main configuration, pid file, error log and temporary paths; ``daemon off;`` keeps it a
child of the test process, stopped at the end. The main configuration is built from
the very snippets docs/plugins/nginx.md shows (``HTTP_SNIPPET`` and ``LOCATION_SNIPPET``;
``test_docs_show_the_tested_snippets`` checks the page still holds them).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from shiplane_plugin_nginx.router import bootstrap

NGINX = "/usr/sbin/nginx"
#: The include path the documentation uses; the fixture puts its own path in its place.
DOCS_INCLUDE_FILE = "/etc/nginx/shiplane/app.conf"
#: What docs/plugins/nginx.md tells the operator to add to the http block ...
HTTP_SNIPPET = "include /etc/nginx/shiplane/app.conf;"
#: ... and to the server block.
LOCATION_SNIPPET = """\
location / {
    proxy_pass http://$shiplane_app_upstream;
    proxy_set_header Host $host;
    add_header Set-Cookie $shiplane_app_set_cookie always;
}"""
HEADER_NAME = "X-Shiplane-Variant"
# Starts with "t": nginx's parser would read an unescaped "\t" as a tab (a regression test of the escaping).
HEADER_VALUE = "tester-7"

MAIN_TEMPLATE = """\
# The test fixture's main configuration (see tests/nginx_server.py).
daemon off;
master_process on;
worker_processes 2;
{user}pid {root}/nginx.pid;
error_log {root}/error.log notice;
events {{
    worker_connections 512;
}}
http {{
    access_log off;
    client_body_temp_path {root}/temp/body;
    proxy_temp_path {root}/temp/proxy;
    fastcgi_temp_path {root}/temp/fastcgi;
    uwsgi_temp_path {root}/temp/uwsgi;
    scgi_temp_path {root}/temp/scgi;
{extra}
    {http_snippet}

    server {{
        listen 127.0.0.1:{port};
{location}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Backend(ThreadingHTTPServer):
    daemon_threads = True
    answer = b""


class _Handler(BaseHTTPRequestHandler):
    server: _Backend

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = self.server.answer
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass


@dataclass
class Answer:
    side: str
    set_cookie: str | None


@dataclass
class NginxServer:
    """The running nginx, its files, and helpers to send requests through it."""

    root: Path
    port: int
    include_file: Path
    main_config: Path
    control_servers: list[str]
    candidate_servers: list[str]
    process: subprocess.Popen[bytes] | None = None
    threads: list[threading.Thread] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.root / "nginx.pid"

    def config(self, **extra: Any) -> dict[str, Any]:
        """A router configuration for this nginx."""
        config: dict[str, Any] = {
            "name": "app",
            "includeFile": str(self.include_file),
            "mainConfig": str(self.main_config),
            "prefix": str(self.root),
            "nginxBinary": NGINX,
            "pidFile": str(self.pid_file),
            "controlServers": list(self.control_servers),
            "candidateServers": list(self.candidate_servers),
            "headerRouting": {"name": HEADER_NAME, "value": HEADER_VALUE},
            "timeoutSeconds": 20,
        }
        config.update(extra)
        return config

    def write_main_config(self, extra: str = "") -> None:
        user = "user root;\n" if os.geteuid() == 0 else ""
        location = "\n".join(f"        {line}" for line in LOCATION_SNIPPET.splitlines())
        self.main_config.write_text(
            MAIN_TEMPLATE.format(
                user=user,
                root=self.root,
                port=self.port,
                extra=extra,
                http_snippet=HTTP_SNIPPET.replace(DOCS_INCLUDE_FILE, str(self.include_file)),
                location=location,
            )
        )

    def workers(self) -> set[int]:
        """The master's child processes that serve (not those of an earlier configuration shutting down)."""
        assert self.process is not None
        pid = self.process.pid
        found = set()
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            try:
                title = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if title and b"shutting down" not in title:
                found.add(int(child))
        return found

    # -- requests ---------------------------------------------------------------------------

    def ask(self, client: httpx.Client, cookie: str | None = None, header: str | None = None) -> Answer:
        """One GET through nginx with only the given cookie (``name=value``) and routing header."""
        client.cookies.clear()
        headers = {}
        if cookie is not None:
            headers["Cookie"] = cookie
        if header is not None:
            headers[HEADER_NAME] = header
        response = client.get("/", headers=headers)
        assert response.status_code == 200, f"nginx answered {response.status_code}: {response.text[:200]}"
        return Answer(side=response.text, set_cookie=response.headers.get("set-cookie"))

    def sides(self, count: int, **kwargs: Any) -> Counter[str]:
        """How many of ``count`` requests without cookies each side answered."""
        with self.client() as client:
            return Counter(self.ask(client, **kwargs).side for _ in range(count))

    def client(self) -> httpx.Client:
        """A new client: new connections, so none was opened with nginx's previous workers."""
        return httpx.Client(base_url=self.url, timeout=10)


def _serve(answer: str) -> tuple[_Backend, threading.Thread]:
    server = _Backend(("127.0.0.1", 0), _Handler)
    server.answer = answer.encode()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


def _wait_until_listening(server: NginxServer, deadline: float) -> None:
    assert server.process is not None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = (server.root / "nginx.log").read_text(errors="replace")
            pytest.fail(f"nginx exited with {server.process.returncode}: {log[-2000:]}")
        if server.pid_file.exists():
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", server.port)) == 0:
                    return
        time.sleep(0.02)
    pytest.fail("nginx did not start listening within 30 s")


@pytest.fixture(scope="session")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxServer]:
    if not Path(NGINX).exists():
        pytest.fail(f"the nginx router's tests need a real nginx at {NGINX} (Debian: apt-get install nginx-light)")
    root = tmp_path_factory.mktemp("nginx")
    (root / "temp").mkdir()
    (root / "shiplane").mkdir()
    backends = [_serve("control"), _serve("candidate")]
    control_server, candidate_server = (f"127.0.0.1:{backend.server_address[1]}" for backend, _ in backends)
    server = NginxServer(
        root=root,
        port=free_port(),
        include_file=root / "shiplane" / "app.conf",
        main_config=root / "nginx.conf",
        control_servers=[control_server],
        candidate_servers=[candidate_server],
    )
    server.write_main_config()
    # The include file must exist before nginx starts: what "python -m shiplane_plugin_nginx init" does.
    assert bootstrap(server.config()) is True
    log = open(root / "nginx.log", "wb")  # noqa: SIM115 - closed at the end
    server.process = subprocess.Popen(
        [NGINX, "-p", f"{root}/", "-c", str(server.main_config)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_listening(server, time.monotonic() + 30)
        yield server
    finally:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)
        log.close()
        for backend, thread in backends:
            backend.shutdown()
            backend.server_close()
            thread.join(timeout=5)
        shutil.rmtree(root / "temp", ignore_errors=True)
