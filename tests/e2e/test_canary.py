"""Progressive delivery end to end: a real nginx, or a real HAProxy (Debian's packages),
in front of two versions of a small HTTP service, a real Prometheus scraping them, and
Shiplane's A/B release moving the traffic through the ``nginx`` or ``haproxy`` router
plugin (HAProxy's weights through its runtime API) and analysing the candidate through
the ``prometheus`` integration. Every test runs once per router.

- A canary at 10%, 50%, then promoted: at each step the share of real requests the
  candidate answered matches its weight (±7 points over 600 requests: the binomial
  standard deviation is at most 2.1 points, so a correct split fails less than once in
  10,000 runs); promote ends at 100% candidate.
- A candidate that answers errors: the analysis (a 5xx-ratio query on Prometheus) fails,
  the release rolls back by itself, the measurements are in ``health``, and all the
  traffic is back on the control version.
"""

from __future__ import annotations

import json
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

from tests.api.plugins import enable
from tests.api.promotions import environment, sealed_release
from tests.conftest import Caller, once_on_sqlite

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
AB = "/api/v1/ab-releases"
TOLERANCE = 7  # percentage points over 600 requests (see the module docstring)

pytestmark = [
    pytest.mark.skipif(
        not (Path(NGINX).exists() and Path(HAPROXY).exists() and Path(PROMETHEUS).exists()),
        reason="needs Debian's nginx-light, haproxy and prometheus packages (.ci/run installs them)",
    ),
    # Real routers and metrics are the subject; the A/B releases' storage is tested on both
    # databases by tests/api/progressive.
    once_on_sqlite("real traffic through nginx and HAProxy"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Version:
    """One version of the service: answers its name, counts requests by status for /metrics."""

    name: str
    failing: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def serve(self) -> ThreadingHTTPServer:
        version = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/metrics":
                    with version.lock:
                        lines = [
                            f'http_requests_total{{code="{code}"}} {count}' for code, count in version.counts.items()
                        ]
                    body = ("# TYPE http_requests_total counter\n" + "\n".join(lines) + "\n").encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; version=0.0.4")
                else:
                    code = 500 if version.failing else 200
                    with version.lock:
                        version.counts[str(code)] += 1
                    body = version.name.encode()
                    self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@dataclass
class Stack:
    root: Path
    port: int
    control: Version
    candidate: Version
    prometheus_url: str
    router: str
    router_config: dict[str, Any]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def share(self, requests: int = 600) -> float:
        """The percentage of fresh clients (no cookie) the candidate answered."""
        seen: Counter[str] = Counter()
        with httpx.Client(timeout=10) as client:
            for _ in range(requests):
                seen[client.get(self.url, headers={"Connection": "close"}).text] += 1
                client.cookies.clear()
        return 100.0 * seen["v2"] / requests


HAPROXY_CONFIG = """global
    stats socket {root}/admin.sock mode 600 level admin
    stats timeout 30s

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend www
    bind 127.0.0.1:{port}
    default_backend shop

backend shop
    balance roundrobin
    cookie SHIPLANE_SERVER insert indirect nocache
    server control-1 127.0.0.1:{control} weight 100 cookie control-1
    server candidate-1 127.0.0.1:{candidate} weight 0 cookie candidate-1
"""


def _start_haproxy(root: Path, port: int, control: Version, candidate: Version) -> subprocess.Popen[bytes]:
    config = root / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(root=root, port=port, control=control.port, candidate=candidate.port))
    return subprocess.Popen(
        [HAPROXY, "-W", "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


MAIN = """daemon off;
master_process on;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log notice;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/temp/body;
    proxy_temp_path {root}/temp/proxy;
    fastcgi_temp_path {root}/temp/fastcgi;
    uwsgi_temp_path {root}/temp/uwsgi;
    scgi_temp_path {root}/temp/scgi;
    include {include};
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://$shiplane_app_upstream;
            proxy_set_header Host $host;
            add_header Set-Cookie $shiplane_app_set_cookie always;
        }}
    }}
}}
"""


def _wait(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except (httpx.HTTPError, OSError):
            pass
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.1)


@pytest.fixture(params=["nginx", "haproxy"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    from shiplane_plugin_nginx.router import bootstrap

    control, candidate = Version("v1"), Version("v2")
    servers = [control.serve(), candidate.serve()]
    root = tmp_path / "proxy"
    (root / "temp").mkdir(parents=True)
    port = free_port()
    include, main = root / "app.conf", root / "nginx.conf"
    if request.param == "nginx":
        main.write_text(MAIN.format(root=root, include=include, port=port))
        router_config: dict[str, Any] = {
            "name": "app",
            "includeFile": str(include),
            "mainConfig": str(main),
            "prefix": str(root),
            "nginxBinary": NGINX,
            "pidFile": str(root / "nginx.pid"),
            "controlServers": [f"127.0.0.1:{control.port}"],
            "candidateServers": [f"127.0.0.1:{candidate.port}"],
        }
        assert bootstrap(router_config)
        proxy = subprocess.Popen([NGINX, "-p", str(root), "-c", str(main)], stderr=subprocess.DEVNULL)
    else:
        router_config = {
            "runtimeApi": str(root / "admin.sock"),
            "backend": "shop",
            "controlServers": ["control-1"],
            "candidateServers": ["candidate-1"],
            "zeroShareMode": "maintenance",
        }
        proxy = _start_haproxy(root, port, control, candidate)
    prom_dir = tmp_path / "prometheus"
    prom_dir.mkdir()
    prom_port = free_port()
    scrape = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "control", "static_configs": [{"targets": [f"127.0.0.1:{control.port}"]}]},
            {"job_name": "candidate", "static_configs": [{"targets": [f"127.0.0.1:{candidate.port}"]}]},
        ],
    }
    (prom_dir / "prometheus.yml").write_text(json.dumps(scrape))  # YAML is a superset of JSON
    prometheus = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={prom_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={prom_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack = Stack(root, port, control, candidate, f"http://127.0.0.1:{prom_port}", request.param, router_config)
    try:
        _wait("the proxy answers", lambda: httpx.get(stack.url, timeout=2).text == "v1")
        _wait("prometheus is ready", lambda: httpx.get(f"{stack.prometheus_url}/-/ready", timeout=2).is_success)
        yield stack
    finally:
        for process in (proxy, prometheus):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        for server in servers:
            server.shutdown()


def _setup(caller: Caller, stack: Stack, tmp_path: Path, name: str) -> dict[str, Any]:
    for plugin in (stack.router, "prometheus"):
        enable(caller, plugin)
    env = environment(caller, f"shop-{name}", 1)
    control, candidate = sealed_release(caller, tmp_path, f"{name}-a"), sealed_release(caller, tmp_path, f"{name}-b")
    router = caller.post(
        "/api/v1/plugin-instances",
        json={
            "name": f"edge-{name}",
            "pluginId": stack.router,
            "capabilityKind": "traffic_router",
            "capabilityId": stack.router,
            "config": stack.router_config,
        },
    )
    assert router.status_code == 201, router.text
    metrics = caller.post(
        "/api/v1/integrations",
        json={"name": f"prom-{name}", "typeId": "prometheus", "config": {"url": stack.prometheus_url}},
    )
    assert metrics.status_code == 201, metrics.text
    return {
        "env": env,
        "control": control,
        "candidate": candidate,
        "router": router.json()["data"],
        "metrics": metrics.json()["data"],
    }


ERROR_RATIO = (
    '(sum(rate(http_requests_total{job="candidate",code=~"5.."}[5s])) or vector(0))'
    ' / sum(rate(http_requests_total{job="candidate"}[5s]))'
)


def _load(stack: Stack, stop: threading.Event) -> threading.Thread:
    """Steady traffic through nginx, so the candidate's rates are defined."""

    def run() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                try:
                    client.get(stack.url, headers={"Connection": "close"})
                except httpx.HTTPError:
                    pass
                client.cookies.clear()
                time.sleep(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _until(caller: Caller, ab_id: str, check: Any, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown: dict[str, Any] = caller.get(f"{AB}/{ab_id}").json()["data"]
        if check(shown):
            return shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)


def test_a_canary_through_a_real_proxy_shifts_real_traffic_and_promotes(
    admin: Caller, stack: Stack, tmp_path: Path
) -> None:
    world = _setup(admin, stack, tmp_path, "ok")
    check = {"name": "error-ratio", "integrationId": world["metrics"]["id"], "query": ERROR_RATIO, "max": 0.05}
    body = {
        "name": "shop-canary",
        "environmentId": world["env"]["id"],
        "controlReleaseId": world["control"]["id"],
        "candidateReleaseId": world["candidate"]["id"],
        "strategy": "canary",
        "strategyConfig": {"steps": [{"weight": 10, "manual": True}, {"weight": 50, "manual": True}, {"weight": 100}]},
        "routerInstanceId": world["router"]["id"],
        "analysis": {"intervalSeconds": 1, "inconclusiveLimit": 100, "metrics": [check]},
    }
    created = admin.post(AB, json=body)
    assert created.status_code == 201, created.text
    ab_id = created.json()["data"]["id"]
    assert stack.share(100) == 0.0  # before the start: all control
    stop = threading.Event()
    loader = _load(stack, stop)
    try:
        started = admin.post(f"{AB}/{ab_id}/start").json()["data"]
        assert started["appliedWeights"] == {"control": 90, "candidate": 10}, started
        assert abs(stack.share() - 10) <= TOLERANCE
        traffic = admin.get(f"{AB}/{ab_id}/traffic").json()["data"]
        assert traffic["weights"] == {"control": 90, "candidate": 10} and traffic["inSync"] is True
        # The analysis sees the candidate healthy (a passing measurement) before we go on.
        _until(admin, ab_id, lambda a: a["state"] == "running" and _passed(admin, ab_id))
        advanced = admin.post(f"{AB}/{ab_id}/advance").json()["data"]
        assert advanced["currentStep"] == 1 and advanced["appliedWeights"] == {"control": 50, "candidate": 50}
        assert abs(stack.share() - 50) <= TOLERANCE
        promoted = admin.post(f"{AB}/{ab_id}/promote").json()["data"]
        assert promoted["state"] == "promoted" and promoted["appliedWeights"] == {"control": 0, "candidate": 100}
        assert stack.share(200) == 100.0
    finally:
        stop.set()
        loader.join(timeout=10)
    health = admin.get(f"{AB}/{ab_id}/health").json()["data"]
    passing = [m for m in health["measurements"] if m["verdict"] == "pass"]
    assert passing and passing[0]["query"] == ERROR_RATIO and passing[0]["threshold"] == {"max": 0.05}
    env = admin.get(f"/api/v1/environments/{world['env']['id']}").json()["data"]
    assert env["currentReleaseId"] == world["candidate"]["id"]


def _passed(caller: Caller, ab_id: str) -> bool:
    measurements = caller.get(f"{AB}/{ab_id}/health").json()["data"]["measurements"]
    return any(m["verdict"] == "pass" for m in measurements)


def test_a_failing_candidate_is_caught_by_prometheus_and_rolled_back(
    admin: Caller, stack: Stack, tmp_path: Path
) -> None:
    world = _setup(admin, stack, tmp_path, "bad")
    check = {"name": "error-ratio", "integrationId": world["metrics"]["id"], "query": ERROR_RATIO, "max": 0.05}
    body = {
        "name": "shop-canary-bad",
        "environmentId": world["env"]["id"],
        "controlReleaseId": world["control"]["id"],
        "candidateReleaseId": world["candidate"]["id"],
        "strategy": "canary",
        "strategyConfig": {"steps": [{"weight": 30, "pauseSeconds": 3600}, {"weight": 100}]},
        "routerInstanceId": world["router"]["id"],
        "analysis": {"intervalSeconds": 1, "inconclusiveLimit": 100, "metrics": [check]},
    }
    ab_id = admin.post(AB, json=body).json()["data"]["id"]
    stack.candidate.failing = True  # version 2 answers 500s
    stop = threading.Event()
    loader = _load(stack, stop)
    try:
        assert admin.post(f"{AB}/{ab_id}/start").json()["data"]["appliedWeights"] == {"control": 70, "candidate": 30}
        done = _until(admin, ab_id, lambda a: a["state"] == "rolled_back")
        assert "rolled back by the analysis" in done["message"] and "error-ratio" in done["message"]
        _until(admin, ab_id, lambda a: a["appliedWeights"] == {"control": 100, "candidate": 0})
        assert stack.share(200) == 0.0  # every request back on version 1
    finally:
        stop.set()
        loader.join(timeout=10)
    health = admin.get(f"{AB}/{ab_id}/health").json()["data"]
    failing = [m for m in health["measurements"] if m["verdict"] == "fail"]
    assert failing and failing[0]["values"][0] > 0.05 and failing[0]["threshold"] == {"max": 0.05}
    assert health["sides"]["candidate"]["status"] == "unhealthy"
    traffic = admin.get(f"{AB}/{ab_id}/traffic").json()["data"]
    assert traffic["weights"] == {"control": 100, "candidate": 0}
