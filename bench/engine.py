"""The workflow engine's throughput and overhead, from one run.

    python bench/engine.py [--nodes 1000] [--runs 1000] [--configs sqlite:1,postgresql:1,postgresql:3]

For each configuration (database : number of ``shiplane worker`` processes) it starts
one ``shiplane serve`` with the engine off (the API) and that many workers on a fresh
database, then measures, interleaved with the ceiling:

- **one run of a ``--nodes``-node DAG** of no-op steps (the built-in ``wait`` with 0
  seconds): layers of 50 nodes, each depending on one node of the layer before;
- **``--runs`` concurrent single-step runs** (started by 16 client threads).

Printed: steps per second (steps / wall time from the first request to the last run
finished), the wall time per step (wall / steps: the engine's cost per step once the
steps' own time is negligible, as it is for no-op steps), the mean own time per step
(each step's finishedAt - startedAt, which includes the step's start and finish
bookkeeping), and the ratio of steps/s to the commit rate.
The ceiling is PostgreSQL's commit rate on this machine: single-row INSERT
transactions per second over 8 connections (asyncpg), measured right before.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shiplane.platform.database import Database  # noqa: E402
from shiplane.platform.jwt import mint_token  # noqa: E402
from shiplane.platform.migrate import upgrade  # noqa: E402
from shiplane.platform.settings import Settings  # noqa: E402
from sqlalchemy import text  # noqa: E402

from tests.servers import production_env, shiplane_command, start_server  # noqa: E402

SECRET = "bench-secret-" + "s" * 40
PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def dag(count: int) -> list[dict[str, Any]]:
    width = 50
    nodes = []
    for i in range(count):
        layer, slot = divmod(i, width)
        depends = [f"n{(layer - 1) * width + slot}"] if layer else []
        nodes.append({"id": f"n{i}", "type": "wait", "config": {"seconds": 0}, "dependsOn": depends})
    return nodes


async def fresh_database(kind: str, tmp: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp}/engine-{uuid.uuid4().hex[:6]}.db", None
    name = f"shiplane_bench_{uuid.uuid4().hex[:8]}"
    admin = Database(PG)
    async with admin.write_engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", name


async def drop_database(name: str | None) -> None:
    if name is None:
        return
    admin = Database(PG)
    async with admin.write_engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(
            text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )
    await admin.dispose()


async def commit_rate(seconds: float = 3.0, connections: int = 8) -> float:
    """Single-row INSERT transactions per second on this machine's PostgreSQL."""
    import asyncpg

    pool = await asyncpg.create_pool(
        "postgresql://postgres@127.0.0.1:5432/postgres", min_size=connections, max_size=connections
    )
    table = f"bench_commit_{uuid.uuid4().hex[:6]}"
    await pool.execute(f"CREATE TABLE {table} (id bigserial primary key, v int)")
    done = 0
    deadline = time.perf_counter() + seconds

    async def writer() -> None:
        nonlocal done
        async with pool.acquire() as conn:
            while time.perf_counter() < deadline:
                await conn.execute(f"INSERT INTO {table} (v) VALUES (1)")
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    await pool.execute(f"DROP TABLE {table}")
    await pool.close()
    return done / elapsed


def wait_done(client: httpx.Client, expected: int, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get("/api/v1/workflow-runs", params={"filter": '{"state": "succeeded"}', "pageSize": 1}).json()
        if body["meta"]["pagination"]["totalItems"] >= expected:
            return
        failed = client.get("/api/v1/workflow-runs", params={"filter": '{"state": "failed"}', "pageSize": 1}).json()
        if failed["meta"]["pagination"]["totalItems"]:
            raise RuntimeError(f"a run failed: {failed['data']}")
        time.sleep(0.2)
    raise RuntimeError("runs did not finish in time")


def own_time(client: httpx.Client, run_ids: list[str]) -> float:
    total = 0.0
    for run_id in run_ids:
        for step in client.get(f"/api/v1/workflow-runs/{run_id}").json()["data"]["steps"]:
            if step["startedAt"] and step["finishedAt"]:
                started = datetime.fromisoformat(step["startedAt"].replace("Z", "+00:00"))
                finished = datetime.fromisoformat(step["finishedAt"].replace("Z", "+00:00"))
                total += (finished - started).total_seconds()
    return total


def measure(kind: str, workers: int, nodes: int, runs: int, tmp: Path) -> dict[str, Any]:
    url, name = asyncio.run(fresh_database(kind, tmp))
    upgrade(url)
    env = production_env(url, tmp / "data", SECRET, "bench-key-" + "k" * 30)
    api_env = {**env, "SHIPLANE_WORKFLOW_ENGINE_ENABLED": "false"}
    server = start_server(api_env, tmp / f"server-{kind}-{workers}")
    processes = [
        subprocess.Popen([*shiplane_command(), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    token = mint_token(Settings(auth_hs_secret=SECRET), user_id="bench", tenant_id="bench", roles=["admin"])
    headers = {"Authorization": f"Bearer {token}"}
    result: dict[str, Any] = {"config": f"{kind}:{workers}"}
    try:
        client = httpx.Client(base_url=server.url, headers=headers, timeout=120)
        time.sleep(2)  # the workers start
        big = client.post("/api/v1/workflow-templates", json={"name": "big", "nodes": dag(nodes)}).json()["data"]
        one = client.post("/api/v1/workflow-templates", json={"name": "one", "nodes": dag(1)}).json()["data"]
        started = time.perf_counter()
        run = client.post("/api/v1/workflow-runs", json={"templateId": big["id"]}).json()["data"]
        wait_done(client, 1)
        wall = time.perf_counter() - started
        result["dag"] = (nodes, wall, own_time(client, [run["id"]]))

        def start(_: int) -> str:
            with httpx.Client(base_url=server.url, headers=headers, timeout=120) as c:
                return str(c.post("/api/v1/workflow-runs", json={"templateId": one["id"]}).json()["data"]["id"])

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16) as pool:
            ids = list(pool.map(start, range(runs)))
        result["created"] = time.perf_counter() - started
        wait_done(client, 1 + runs)
        wall = time.perf_counter() - started
        result["runs"] = (runs, wall, own_time(client, ids[:100]) * runs / min(runs, 100))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        server.stop()
        asyncio.run(drop_database(name))
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--configs", default="sqlite:1,postgresql:1,postgresql:3")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="shiplane-bench-engine-") as tmp:
        for config in args.configs.split(","):
            kind, workers = config.split(":")
            ceiling = asyncio.run(commit_rate())
            rows.append((measure(kind, int(workers), args.nodes, args.runs, Path(tmp)), ceiling))
    header = ("config", "scenario", "steps/s", "wall ms/step", "own ms/step", "PG commits/s", "steps/commit")
    print("\n" + "".join(f"{h:<16}" if i < 2 else f"{h:>14}" for i, h in enumerate(header)))
    for result, ceiling in rows:
        for scenario, label in (("dag", f"{args.nodes}-node DAG"), ("runs", f"{args.runs} runs x 1")):
            steps, wall, own = result[scenario]
            rate = steps / wall
            print(
                f"{result['config']:<16}{label[:15]:<16}{rate:>14.1f}{wall / steps * 1000:>14.2f}"
                f"{own / steps * 1000:>14.2f}{ceiling:>14.0f}{rate / ceiling:>14.4f}"
            )
    for result, _ceiling in rows:
        created = result["created"]
        print(f"{result['config']}: {args.runs} runs started in {created:.1f} s ({args.runs / created:.0f} starts/s)")
    print(
        "\nGoal (issue 11): 1,000 no-op steps/s on PostgreSQL with 3 workers, under 2 ms engine time per step."
        "\nEach step costs several transactions (claim, start, finish with advance, the event rows), so the"
        "\nceiling for steps/s is a fraction of the commit rate."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
