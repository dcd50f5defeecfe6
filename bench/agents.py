"""How many agents one server process holds, and how fast it dispatches to them.

    python bench/agents.py [--database sqlite|postgresql] [--steps 1000,2500,5000,10000]
                           [--seconds 20] [--heartbeat 10]

Starts one ``shiplane serve`` (production mode, rate limits off) on a fresh database,
creates the agents directly in the database (registering 10,000 through the API would
measure registration, not holding), and at each step opens that many real WebSocket
task streams (``websockets``), heartbeats each agent over HTTP every ``--heartbeat``
seconds, and enqueues tasks for random connected agents (as the deployments module
will): the dispatch latency is from the enqueue's commit to the ``task.offer``
arriving on that agent's stream. The baseline, at the same number of connections, is
a bare ``websockets`` echo server on this machine: the round trip of one message to a
random connection. Printed from one run: connections held, heartbeats answered (and
their p99), dispatch p50/p99, and the echo baseline's p50/p99, per step. A step that
cannot open all its connections or keep up with its heartbeats ends the run; the
summary says which limit it met.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shiplane.agents.credentials import new_credential  # noqa: E402
from shiplane.agents.tasks import task_kind  # noqa: E402
from shiplane.engine.queue import WorkQueue  # noqa: E402
from shiplane.platform.database import Database, utcnow  # noqa: E402
from shiplane.platform.migrate import upgrade  # noqa: E402
from sqlalchemy import text  # noqa: E402

from tests.servers import production_env, start_server  # noqa: E402

TENANT = "bench"


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def create_agents(db: Database, count: int, start: int) -> list[tuple[str, str]]:
    rows, agents = [], []
    now = utcnow()
    for index in range(start, start + count):
        agent_id = str(uuid.uuid4())
        credential, digest = new_credential(agent_id)
        agents.append((agent_id, credential))
        rows.append(
            {
                "id": agent_id, "tenant_id": TENANT, "name": f"agent-{index:05d}", "hostname": "bench",
                "agent_version": "bench", "capabilities": "[]", "labels": "{}", "draining": False,
                "disabled": False, "credential_hash": digest, "registered_by": "bench",
                "created_at": now, "updated_at": now, "version": 1,
            }
        )  # fmt: skip
    async with db.session(None, write=True) as session:
        for chunk in range(0, len(rows), 1000):
            await session.execute(
                text(
                    "INSERT INTO agents (id, tenant_id, name, hostname, agent_version, capabilities, labels, "
                    "draining, disabled, credential_hash, registered_by, created_at, updated_at, version) VALUES "
                    "(:id, :tenant_id, :name, :hostname, :agent_version, :capabilities, :labels, :draining, "
                    ":disabled, :credential_hash, :registered_by, :created_at, :updated_at, :version)"
                ),
                rows[chunk : chunk + 1000],
            )
    return agents


class Fleet:
    """The simulated agents: their streams, heartbeats, and the offers they receive."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.ws_base = base.replace("http://", "ws://")
        self.connections: dict[str, Any] = {}
        self.offers: dict[str, float] = {}  # task id -> when its offer arrived
        self.waiting: dict[str, asyncio.Event] = {}
        self.heartbeats: list[float] = []
        self.heartbeat_failures = 0
        self.failures = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.client = httpx.AsyncClient(
            base_url=base, timeout=30, limits=httpx.Limits(max_connections=200, max_keepalive_connections=200)
        )

    async def connect(self, agent_id: str, credential: str) -> bool:
        try:
            ws = await websockets.connect(
                f"{self.ws_base}/api/v1/agents/{agent_id}/task-stream",
                additional_headers={"Authorization": f"Bearer {credential}"},
                open_timeout=60,
                ping_interval=None,
            )
        except (OSError, websockets.WebSocketException, TimeoutError):
            self.failures += 1
            return False
        await ws.send(json.dumps({"type": "hello", "data": {"inFlight": []}}))
        self.connections[agent_id] = ws
        self.tasks.append(asyncio.create_task(self._listen(ws)))
        return True

    async def _listen(self, ws: Any) -> None:
        with suppress(websockets.WebSocketException, OSError):
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "task.offer":
                    task_id = message["data"]["taskId"]
                    self.offers.setdefault(task_id, time.perf_counter())
                    if task_id in self.waiting:
                        self.waiting[task_id].set()
                elif message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong", "data": {}}))

    async def heartbeat(self, agent_id: str, credential: str, every: float, until: float) -> None:
        await asyncio.sleep(random.uniform(0, every))  # noqa: S311 - spreading load
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                response = await self.client.post(
                    f"/api/v1/agents/{agent_id}/heartbeat", json={}, headers={"Authorization": f"Bearer {credential}"}
                )
                if response.status_code == 200:
                    self.heartbeats.append(time.perf_counter() - started)
                else:
                    self.heartbeat_failures += 1
            except httpx.HTTPError:
                self.heartbeat_failures += 1
            await asyncio.sleep(every)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for ws in self.connections.values():
            with suppress(Exception):
                await ws.close()
        await self.client.aclose()


async def measure_dispatch(
    db: Database, fleet: Fleet, agents: list[tuple[str, str]], samples: int, seconds: float
) -> list[float]:
    queue = WorkQueue(db, owner="bench")
    latencies = []
    connected = [a for a in agents if a[0] in fleet.connections]
    for _ in range(samples):
        agent_id, _credential = random.choice(connected)  # noqa: S311
        async with db.session(TENANT, write=True) as session:
            task_id = await queue.enqueue(session, task_kind(agent_id), {"action": "health-check", "targetId": "none"})
            offered = fleet.waiting[task_id] = asyncio.Event()
        committed = time.perf_counter()
        with suppress(TimeoutError):
            await asyncio.wait_for(offered.wait(), 10)
        if task_id in fleet.offers:
            latencies.append(fleet.offers[task_id] - committed)
        await asyncio.sleep(seconds / samples)
    async with db.session(None, write=True) as session:  # the offered tasks are not run: drop them
        await session.execute(text("DELETE FROM work_items WHERE kind LIKE 'agent:%'"))
    return latencies


async def online_count(db: Database, liveness: float) -> int:
    """Agents whose last sign of life is recent enough to show online."""
    from datetime import timedelta

    async with db.session(None, write=False) as session:
        count = await session.scalar(
            text("SELECT count(*) FROM agents WHERE last_heartbeat_at >= :cutoff"),
            {"cutoff": utcnow() - timedelta(seconds=liveness)},
        )
    return int(count or 0)


ECHO_SERVER = """
import asyncio, sys, websockets
async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.WebSocketException:
        pass
async def main():
    async with websockets.serve(echo, "127.0.0.1", int(sys.argv[1]), ping_interval=None):
        print("ready", flush=True)
        await asyncio.Future()
asyncio.run(main())
"""


async def echo_baseline(connections: int, samples: int) -> tuple[float, float, int]:
    """A bare websockets echo server in its own process, ``connections`` clients here:
    the round trip of one message to a random connection."""
    import socket
    import subprocess

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(  # noqa: ASYNC220 - before anything is measured
        [sys.executable, "-c", ECHO_SERVER, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        clients: list[Any] = []
        for chunk in range(0, connections, 200):
            batch = await asyncio.gather(
                *(
                    websockets.connect(f"ws://127.0.0.1:{port}", ping_interval=None, open_timeout=60)
                    for _ in range(min(200, connections - chunk))
                ),
                return_exceptions=True,
            )
            clients += [c for c in batch if not isinstance(c, BaseException)]
        times = []
        for _ in range(samples):
            ws = random.choice(clients)  # noqa: S311
            started = time.perf_counter()
            await ws.send("x")
            await ws.recv()
            times.append(time.perf_counter() - started)
        held = len(clients)
        for ws in clients:
            with suppress(Exception):
                await ws.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return percentile(times, 0.5), percentile(times, 0.99), held


async def main() -> int:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # two ends of every connection live here
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--steps", default="1000,2500,5000,10000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--heartbeat", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument(
        "--heartbeats",
        choices=["stream", "http"],
        default="stream",
        help="stream: as the agent runtime does (a connected stream is the heartbeat); http: every agent also "
        "POSTs /heartbeat every --heartbeat seconds",
    )
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    with tempfile.TemporaryDirectory(prefix="shiplane-bench-agents-") as tmp:
        if args.database == "postgresql":
            name = f"shiplane_bench_{uuid.uuid4().hex[:8]}"
            admin = Database("postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
            async with admin.write_engine.connect() as conn:
                await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(
                    text(f'CREATE DATABASE "{name}"')
                )
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        else:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(upgrade, url)
        env = production_env(url, Path(tmp) / "data", "bench-secret-" + "s" * 40, "bench-key-" + "k" * 30)
        server = start_server(env, Path(tmp) / "server")
        db = Database(url)
        fleet = Fleet(server.url)
        agents: list[tuple[str, str]] = []
        rows = []
        limit = None
        try:
            for step in steps:
                agents += await create_agents(db, step - len(agents), len(agents))
                started = time.monotonic()
                pending = [a for a in agents if a[0] not in fleet.connections]
                for chunk in range(0, len(pending), 200):
                    await asyncio.gather(*(fleet.connect(*a) for a in pending[chunk : chunk + 200]))
                connect_seconds = time.monotonic() - started
                held = len(fleet.connections)
                fleet.heartbeats.clear()
                fleet.heartbeat_failures = 0
                until = time.monotonic() + args.seconds
                beats = [
                    asyncio.create_task(fleet.heartbeat(a, c, args.heartbeat, until))
                    for a, c in agents
                    if a in fleet.connections and args.heartbeats == "http"
                ]
                latencies = await measure_dispatch(db, fleet, agents, args.samples, args.seconds)
                await asyncio.gather(*beats)
                echo50, echo99, echo_held = float("nan"), float("nan"), 0  # measured below, alone
                online = await online_count(db, args.heartbeat * 3)
                expected_beats = held * args.seconds / args.heartbeat if args.heartbeats == "http" else 0
                rows.append(
                    {
                        "agents": step,
                        "held": held,
                        "online": online,
                        "connectSeconds": connect_seconds,
                        "heartbeatsOk": len(fleet.heartbeats),
                        "heartbeatsExpected": expected_beats,
                        "heartbeatFailures": fleet.heartbeat_failures,
                        "heartbeatP99": percentile(fleet.heartbeats, 0.99),
                        "dispatched": len(latencies),
                        "dispatchP50": percentile(latencies, 0.5),
                        "dispatchP99": percentile(latencies, 0.99),
                        "echoP50": echo50,
                        "echoP99": echo99,
                        "echoHeld": echo_held,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
                if held < step:
                    limit = f"at {step} agents only {held} streams opened ({fleet.failures} connection failures)"
                    break
                if fleet.heartbeat_failures or len(fleet.heartbeats) < 0.8 * expected_beats:
                    limit = (
                        f"at {step} agents heartbeats fell behind ({len(fleet.heartbeats)} of ~{expected_beats:.0f})"
                    )
                    break
                if online < held:
                    limit = f"at {step} agents only {online} of {held} connected agents show online"
                    break
        finally:
            await fleet.close()
            server.stop()
            await db.dispose()
        for row in rows:  # the baseline, with the machine to itself as the server had it
            row["echoP50"], row["echoP99"], row["echoHeld"] = await echo_baseline(row["held"], args.samples)
    print(
        f"\n{args.database}, one server process, heartbeats ({args.heartbeats}) every {args.heartbeat:g} s, "
        f"{os.cpu_count()} cores shared with the clients"
    )
    columns = ("agents", "held", "online", "beats ok", "beat p99", "disp p50", "disp p99", "echo p50", "echo p99")
    print(" ".join(f"{c:>9}" for c in columns))
    for row in rows:
        beats = f"{row['heartbeatsOk']}/{row['heartbeatsExpected']:.0f}"
        times = [row[k] * 1000 for k in ("heartbeatP99", "dispatchP50", "dispatchP99", "echoP50", "echoP99")]
        counts = f"{row['agents']:>9} {row['held']:>9} {row['online']:>9} {beats:>9} "
        print(counts + " ".join(f"{t:>7.2f}ms" for t in times))
    print(f"limit: {limit or 'none reached at these steps'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
