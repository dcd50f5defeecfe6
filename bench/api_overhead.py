"""API overhead: Shiplane's request pipeline against a bare FastAPI route, in one run.

    python bench/api_overhead.py [--seconds 10] [--concurrency 32] [--warmup 2] [--rounds 1]
                                 [--loadgen auto|wrk|httpx]

What it does, every time:

1. creates a temporary SQLite database (migrated with ``shiplane.platform.migrate.upgrade``)
   and a development data directory (JWT secret persisted there);
2. starts Shiplane in its own uvicorn process, seeds 25 environments for one tenant
   through the API and captures the exact body of ``GET /api/v1/environments?pageSize=20``;
3. starts, one after another and each in its own uvicorn process with identical
   settings (one worker, same loop and HTTP implementation, access log off,
   127.0.0.1, a free port):
   - a bare FastAPI app whose two routes return the captured bytes (and the
     ``/healthz`` bytes) without doing anything else;
   - Shiplane with rate limiting disabled;
   - Shiplane with rate limiting enabled and a tier too large to ever refuse, to
     show what the limiter itself costs;
4. loads each target for the same duration with the same number of connections,
   using ``wrk`` when it is on the PATH and an httpx-based async load generator
   otherwise, and prints requests/s, latency p50/p99 and the Shiplane/bare ratios.

Benchmarks are not part of the test suite; see bench/README.md. Every subprocess is
stopped (by the pid this script started) before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TENANT = "bench"
USER = "bench-admin"
LIST_PATH = "/api/v1/environments?pageSize=20"
HEALTH_PATH = "/healthz"
SEED_ENVIRONMENTS = 25
HUGE_TIER = {"per_minute": 1_000_000_000, "burst": 1_000_000_000}

# ---------------------------------------------------------------------------
# App factories, imported by the uvicorn subprocesses (``--factory``).
# They read their configuration from environment variables the parent sets.
# ---------------------------------------------------------------------------


def shiplane_app() -> Any:
    """Shiplane as ``shiplane serve`` builds it, from the settings the parent passed."""
    from shiplane.app import create_app
    from shiplane.platform.settings import Settings

    return create_app(Settings(**json.loads(os.environ["BENCH_SETTINGS"])).prepare())


def bare_app() -> Any:
    """A bare FastAPI app answering the same bytes as Shiplane, with no pipeline at all."""
    from fastapi import FastAPI
    from starlette.responses import Response

    page = Path(os.environ["BENCH_LIST_BODY"]).read_bytes()
    health = Path(os.environ["BENCH_HEALTH_BODY"]).read_bytes()
    app = FastAPI()

    @app.get("/api/v1/environments")
    async def environments() -> Response:
        return Response(page, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(health, media_type="application/json")

    return app


# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_options() -> list[str]:
    """The same uvicorn options for every target: the fastest loop and parser installed."""
    loop = "uvloop" if _importable("uvloop") else "asyncio"
    http = "httptools" if _importable("httptools") else "h11"
    return [
        "--workers",
        "1",
        "--loop",
        loop,
        "--http",
        http,
        "--no-access-log",
        "--log-level",
        "warning",
        "--lifespan",
        "on",
    ]


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


class Server:
    """One uvicorn process serving one factory of this module."""

    def __init__(self, name: str, factory: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            f"api_overhead:{factory}",
            "--factory",
            "--app-dir",
            str(Path(__file__).resolve().parent),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *server_options(),
        ]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.base + HEALTH_PATH, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready in {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        # The log lives in the temporary directory, which is gone once the script exits.
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


# ---------------------------------------------------------------------------
# Load generators
# ---------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_seconds: float | None = None  # the server process's CPU time during the measured run

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.cpu_seconds is None or not self.requests:
            return None
        return self.cpu_seconds / self.requests * 1e6


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


WRK_SCRIPT = """
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "BENCH_JSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, \\"p99_us\\": %d, \\"errors\\": %d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), errors))
end
"""


def run_wrk(url: str, headers: dict[str, str], seconds: float, connections: int, script: Path) -> dict[str, Any]:
    command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "-s", str(script)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    line = next(ln for ln in output.splitlines() if ln.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return {
        "requests": data["requests"],
        "seconds": data["duration_us"] / 1e6,
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "errors": data["errors"],
    }


def run_httpx(url: str, headers: dict[str, str], seconds: float, connections: int) -> dict[str, Any]:
    """Closed-loop load: ``connections`` tasks, each sending its next request when the last returns."""
    import httpx

    async def main() -> dict[str, Any]:
        latencies: list[float] = []
        errors = 0
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30.0) as client:
            deadline = time.perf_counter() + seconds

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    try:
                        response = await client.get(url)
                        ok = response.status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    latencies.append(time.perf_counter() - started)
                    if not ok:
                        errors += 1

            began = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(connections)))
            elapsed = time.perf_counter() - began
        latencies.sort()

        def pct(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else 0.0

        return {
            "requests": len(latencies),
            "seconds": elapsed,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "errors": errors,
        }

    return asyncio.run(main())


class LoadGenerator:
    def __init__(self, kind: str, connections: int, seconds: float, warmup: float, workdir: Path) -> None:
        if kind == "auto":
            kind = "wrk" if shutil.which("wrk") else "httpx"
        if kind == "wrk" and not shutil.which("wrk"):
            raise SystemExit("wrk is not on the PATH (apt-get install -y wrk), or use --loadgen httpx")
        self.kind = kind
        self.connections = connections
        self.seconds = seconds
        self.warmup = warmup
        self.script = workdir / "report.lua"
        self.script.write_text(WRK_SCRIPT)

    def describe(self) -> str:
        if self.kind == "wrk":
            return f"wrk -t 1 -c {self.connections} -d {max(1, round(self.seconds))}s (keep-alive)"
        return f"httpx AsyncClient, {self.connections} concurrent requests for {self.seconds:g}s (keep-alive)"

    def _once(self, url: str, headers: dict[str, str], seconds: float) -> dict[str, Any]:
        if self.kind == "wrk":
            return run_wrk(url, headers, seconds, self.connections, self.script)
        return run_httpx(url, headers, seconds, self.connections)

    def measure(self, target: Target) -> Result:
        check = _get(target.url, target.headers)
        if check.status_code != 200:
            raise RuntimeError(f"{target.label}: GET {target.url} answered {check.status_code}: {check.text[:300]}")
        if self.warmup > 0:
            self._once(target.url, target.headers, self.warmup)
        cpu_before = process_cpu_seconds(target.server.process.pid)
        figures = self._once(target.url, target.headers, self.seconds)
        cpu_after = process_cpu_seconds(target.server.process.pid)
        cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
        result = Result(target.label, **figures, cpu_seconds=cpu)
        print(f"  {target.label}: {result.rps:,.0f} req/s", file=sys.stderr, flush=True)
        return result


def _get(url: str, headers: dict[str, str]) -> Any:
    import httpx

    return httpx.get(url, headers=headers, timeout=10.0)


@dataclass
class Target:
    key: str
    label: str
    server: Server
    path: str
    headers: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.base + self.path


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def seed(base: str, token: str) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10.0) as client:
        for i in range(SEED_ENVIRONMENTS):
            body = {
                "name": f"env-{i:02d}",
                "displayName": f"Environment {i:02d}",
                "description": "seeded by bench/api_overhead.py",
                "order": i,
                "isProduction": i == SEED_ENVIRONMENTS - 1,
            }
            response = client.post("/api/v1/environments", json=body)
            if response.status_code != 201:
                raise RuntimeError(f"seeding failed: {response.status_code} {response.text[:300]}")


def capture(url: str, headers: dict[str, str], expect_items: int | None) -> bytes:
    response = _get(url, headers)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}: {response.text[:300]}")
    if expect_items is not None:
        document = response.json()
        if len(document["data"]) != expect_items:
            raise RuntimeError(f"expected a page of {expect_items}, got {len(document['data'])}")
    return response.content


def median_result(runs: list[Result]) -> Result:
    """The run with the median throughput (its own latencies and CPU, not a blend)."""
    ordered = sorted(runs, key=lambda r: r.rps)
    return ordered[(len(ordered) - 1) // 2]


def report(results: dict[str, Result], loadgen: LoadGenerator, rounds: int) -> str:
    lines = [
        f"{'target':<42} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>10} {'errors':>6}",
        "-" * 87,
    ]
    for result in results.values():
        cpu = result.cpu_us_per_request
        lines.append(
            f"{result.label:<42} {result.rps:>8,.0f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f} "
            f"{(f'{cpu:,.0f}' if cpu is not None else 'n/a'):>10} {result.errors:>6}"
        )
    lines.append("")
    bare_list, bare_health = results["bare-list"], results["bare-health"]
    pairs = [
        ("shiplane-list", bare_list, "list page of 20 (auth + DB + envelope)"),
        ("shiplane-list-rl", bare_list, "list page of 20, rate limiting on"),
        ("shiplane-health", bare_health, "/healthz (pipeline only, no auth, no DB)"),
    ]
    for key, bare, what in pairs:
        ours = results[key]
        line = f"ratio Shiplane/bare, {what}: throughput {ours.rps / bare.rps:.3f}x"
        if ours.cpu_us_per_request and bare.cpu_us_per_request:
            line += f", server CPU per request {ours.cpu_us_per_request / bare.cpu_us_per_request:.1f}x"
        lines.append(line)
    on, off = results["shiplane-list-rl"], results["shiplane-list"]
    if on.cpu_us_per_request and off.cpu_us_per_request:
        lines.append(
            f"rate limiter on vs off: {on.cpu_us_per_request - off.cpu_us_per_request:+,.0f} us server CPU per "
            f"request, throughput {on.rps / off.rps:.2f}x (two processes: includes run-to-run noise)"
        )
    health, bare_h, listing = results["shiplane-health"], results["bare-health"], results["shiplane-list"]
    if all(r.cpu_us_per_request for r in (health, bare_h, listing, bare_list)):
        pipeline = health.cpu_us_per_request - bare_h.cpu_us_per_request  # type: ignore[operator]
        total = listing.cpu_us_per_request - bare_list.cpu_us_per_request  # type: ignore[operator]
        lines.append(
            f"added server CPU per request: list {total:,.0f} us, of which the pipeline alone (healthz) "
            f"{pipeline:,.0f} us and auth + DB + rendering {total - pipeline:,.0f} us"
        )
    lines.append(
        f"{rounds} round(s), median shown; load generator: {loadgen.describe()}; uvicorn: {' '.join(server_options())}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per target (default 10)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections kept open (default 32)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each target (default 2)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="load every target this many times, interleaved; report the median"
    )
    parser.add_argument("--loadgen", choices=["auto", "wrk", "httpx"], default="auto")
    args = parser.parse_args(argv)

    from shiplane.platform.jwt import mint_token
    from shiplane.platform.migrate import upgrade
    from shiplane.platform.settings import Settings

    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="shiplane-bench-") as tmp:
        workdir = Path(tmp)
        database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        base_settings: dict[str, Any] = {
            "mode": "development",
            "data_dir": str(workdir / "data"),
            "database_url": database_url,
            "log_level": "WARNING",
        }
        # prepare() persists the development JWT secret in the data directory, so the
        # servers started below verify the token minted here.
        settings = Settings(**base_settings).prepare()
        upgrade(database_url)
        token = mint_token(settings, user_id=USER, tenant_id=TENANT, roles=["admin"], lifetime_seconds=24 * 3600)
        auth = {"Authorization": f"Bearer {token}"}
        loadgen = LoadGenerator(args.loadgen, args.concurrency, args.seconds, args.warmup, workdir)
        started_at = datetime.now(UTC)
        load_before = os.getloadavg()

        def start(name: str, factory: str, env: dict[str, str]) -> Server:
            server = Server(name, factory, env, workdir)
            servers.append(server)
            server.wait_ready()
            return server

        runs: dict[str, list[Result]] = {}
        try:
            no_limit = {"BENCH_SETTINGS": json.dumps({**base_settings, "rate_limit_enabled": False})}
            limited = {
                "BENCH_SETTINGS": json.dumps(
                    {
                        **base_settings,
                        "rate_limit_enabled": True,
                        "rate_limit_tiers": {"standard": HUGE_TIER, "premium": HUGE_TIER},
                    }
                )
            }
            shiplane = start("shiplane", "shiplane_app", no_limit)
            # Seed and capture through Shiplane itself, so the bare app answers the real bytes.
            seed(shiplane.base, token)
            (workdir / "page.json").write_bytes(capture(shiplane.base + LIST_PATH, auth, expect_items=20))
            (workdir / "health.json").write_bytes(capture(shiplane.base + HEALTH_PATH, {}, expect_items=None))
            bare = start(
                "bare",
                "bare_app",
                {"BENCH_LIST_BODY": str(workdir / "page.json"), "BENCH_HEALTH_BODY": str(workdir / "health.json")},
            )
            shiplane_rl = start("shiplane-rl", "shiplane_app", limited)
            # Idle servers cost nothing measurable; only the one being loaded does work.
            targets = [
                Target("bare-list", "bare FastAPI, same page bytes", bare, LIST_PATH, {}),
                Target("shiplane-list", "Shiplane GET environments?pageSize=20", shiplane, LIST_PATH, auth),
                Target("shiplane-list-rl", "Shiplane same, rate limiting on", shiplane_rl, LIST_PATH, auth),
                Target("bare-health", "bare FastAPI, same /healthz bytes", bare, HEALTH_PATH, {}),
                Target("shiplane-health", "Shiplane GET /healthz", shiplane, HEALTH_PATH, {}),
            ]
            print(
                f"api_overhead: {started_at:%Y-%m-%d %H:%M} UTC, {platform.python_implementation()} "
                f"{platform.python_version()}, {os.cpu_count()} CPU(s), {loadgen.describe()}",
                file=sys.stderr,
                flush=True,
            )
            for round_number in range(1, args.rounds + 1):
                if args.rounds > 1:
                    print(f"round {round_number}/{args.rounds}", file=sys.stderr, flush=True)
                for target in targets:
                    runs.setdefault(target.key, []).append(loadgen.measure(target))
        finally:
            for server in reversed(servers):
                with contextlib.suppress(Exception):
                    server.stop()
        page_size = (workdir / "page.json").stat().st_size
    results = {key: median_result(value) for key, value in runs.items()}
    load_after = os.getloadavg()
    print(
        f"Shiplane API overhead, {started_at:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU(s), "
        f"{platform.python_implementation()} {platform.python_version()}, load average "
        f"{load_before[0]:.2f} before / {load_after[0]:.2f} after"
    )
    print(f"page body: {page_size} bytes; {SEED_ENVIRONMENTS} environments seeded in one tenant (SQLite)")
    print(report(results, loadgen, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
