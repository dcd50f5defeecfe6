"""API overhead and list scaling: Shiplane against a bare route, a hand-written ORM service and a raw service.

    python bench/api_overhead.py [--database sqlite|postgres|both] [--pg-url URL]
                                 [--seconds 10] [--concurrency 32] [--warmup 2] [--rounds 1]
                                 [--loadgen auto|wrk|httpx] [--quick]
                                 [--scale-rows 1000,100000 | --no-scale] [--scale-requests 200]
                                 [--scale-warmup 20] [--scale-case-seconds 8]

What it does, for each database (SQLite, then PostgreSQL; ``--database`` picks):

1. creates a throwaway database (a SQLite file in a temporary directory, or a
   PostgreSQL database ``shiplane_bench_<random>`` dropped at the end), migrates it
   with ``shiplane.platform.migrate.upgrade`` and keeps a development data directory
   (JWT secret persisted there) shared by both databases;
2. starts Shiplane in its own uvicorn process, seeds 25 environments for one tenant
   through the API and captures the exact body of ``GET /api/v1/environments?pageSize=20``;
3. starts, each in its own uvicorn process with identical settings (one worker, same
   loop and HTTP implementation, access log off, 127.0.0.1, a free port):
   - ``bare``: a bare FastAPI app whose routes return the captured bytes (and the
     ``/healthz`` bytes) without doing anything else;
   - ``orm``: the same list written the way a typical team would (``orm_app``):
     python-jose for the token, an async SQLAlchemy ORM session with its own model
     of the ``environments`` table, a page query plus a ``count(*)``, pydantic
     response models with camelCase aliases, the same envelope;
   - ``raw``: the same list written with the stdlib ``sqlite3`` module (asyncpg on
     PostgreSQL), plain dicts and ``json.dumps`` (``raw_app``);
   - Shiplane with rate limiting enabled and a tier too large to ever refuse, to
     show what the limiter itself costs;
   and checks that the ORM and raw services answer the same rows in the same
   envelope (same keys, same order, same size give or take a cursor);
4. loads each target for the same duration with the same number of connections,
   interleaved (every round visits every target), using ``wrk`` when it is on the
   PATH and an httpx-based async load generator otherwise, and records requests/s,
   latency p50/p99 and the server's CPU time per request (/proc);
5. scaling (unless ``--no-scale``): seeds 1,000 and 100,000 environments, each size
   in its own tenant, directly with SQL (``executemany``; one transaction on SQLite,
   transactions of 1,000 rows on PostgreSQL, see PG_SEED_BATCH; the server's own
   triggers keep its per-tenant row counts), and times requests one at a time
   (keep-alive, sequential) against Shiplane and the ORM service: page 1 sorted by
   name and by the default sort, the middle page by ``page=`` (sorted by name), and
   the middle page by ``cursor=`` (Shiplane only, when it returns
   ``meta.pagination.nextCursor``).

Benchmarks are not part of the test suite; see bench/README.md. Every subprocess is
stopped (by the pid this script started) and every throwaway database dropped before
it exits, also on Ctrl-C, SIGTERM or an error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Header, HTTPException, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jose import JWTError
from jose import jwt as jose_jwt
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_serializer
from pydantic.alias_generators import to_camel
from sqlalchemy import JSON, DateTime, String, Text, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from starlette.responses import Response

TENANT = "bench"
USER = "bench-admin"
LIST_PATH = "/api/v1/environments?pageSize=20"
HEALTH_PATH = "/healthz"
SEED_ENVIRONMENTS = 25
PAGE_SIZE = 20
HUGE_TIER = {"per_minute": 1_000_000_000, "burst": 1_000_000_000}
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
SCALE_GOAL = 1.5  # largest/smallest size latency ratio aimed at for page 1 and cursor pages

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


# --- Comparison services ----------------------------------------------------
# The same GET /api/v1/environments, written without Shiplane (nothing here imports
# it). The token's secret, audience and issuer, the database URL and whether to emit
# ``nextCursor`` come from the parent through BENCH_* environment variables.


def _token_settings() -> tuple[str, str, str]:
    return os.environ["BENCH_JWT_SECRET"], os.environ["BENCH_JWT_AUDIENCE"], os.environ["BENCH_JWT_ISSUER"]


def _rfc3339(value: datetime) -> str:
    """RFC 3339 UTC with milliseconds; a naive value (SQLite) is UTC already."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def _can_read(claims: dict[str, Any]) -> bool:
    return "admin" in (claims.get("roles") or []) or "environments:read" in (claims.get("permissions") or [])


class OrmBase(DeclarativeBase):
    pass


class EnvironmentRow(OrmBase):
    """The ORM service's own mapping of the ``environments`` table."""

    __tablename__ = "environments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(63))
    display_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    position: Mapped[int]
    is_production: Mapped[bool]
    required_predecessors: Mapped[list[str] | None] = mapped_column(JSON)
    gates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    approval_policy_id: Mapped[str | None] = mapped_column(String(36))
    deployment_template_id: Mapped[str | None] = mapped_column(String(36))
    current_release_id: Mapped[str | None] = mapped_column(String(36))
    version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class EnvironmentOut(CamelModel):
    id: str
    tenant_id: str
    name: str
    display_name: str
    description: str
    order: int = Field(validation_alias=AliasChoices("position", "order"))
    is_production: bool
    required_predecessors: list[str] | None
    gates: list[dict[str, Any]]
    approval_policy_id: str | None
    deployment_workflow_template_id: str | None = Field(
        validation_alias=AliasChoices("deployment_template_id", "deploymentWorkflowTemplateId")
    )
    current_release_id: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @field_serializer("created_at", "updated_at")
    def _timestamp(self, value: datetime) -> str:
        return _rfc3339(value)


class PaginationOut(CamelModel):
    page: int
    page_size: int
    total_items: int
    total_pages: int
    has_next: bool
    has_previous: bool


class CursorPaginationOut(PaginationOut):
    next_cursor: str | None = None  # always null: this service has no cursor pagination


class MetaOut(CamelModel):
    request_id: str
    timestamp: str
    pagination: PaginationOut


class CursorMetaOut(MetaOut):
    pagination: CursorPaginationOut


class EnvironmentPage(CamelModel):
    success: bool = True
    data: list[EnvironmentOut]
    meta: MetaOut


class CursorEnvironmentPage(EnvironmentPage):
    meta: CursorMetaOut


def orm_app() -> Any:
    """What a typical team would write: FastAPI, python-jose, an async SQLAlchemy ORM session, pydantic models."""
    secret, audience, issuer = _token_settings()
    with_cursor = os.environ.get("BENCH_NEXT_CURSOR") == "1"
    page_model = CursorEnvironmentPage if with_cursor else EnvironmentPage
    meta_model = CursorMetaOut if with_cursor else MetaOut
    pagination_model = CursorPaginationOut if with_cursor else PaginationOut
    engine = create_async_engine(os.environ["BENCH_DATABASE_URL"])
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    bearer = HTTPBearer()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    async def current_claims(credentials: HTTPAuthorizationCredentials = Depends(bearer)) -> dict[str, Any]:
        try:
            claims = jose_jwt.decode(
                credentials.credentials, secret, algorithms=["HS256"], audience=audience, issuer=issuer
            )
        except JWTError as exc:
            raise HTTPException(401, "invalid token") from exc
        if not isinstance(claims.get("tenant_id"), str) or not _can_read(claims):
            raise HTTPException(403, "forbidden")
        return claims

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    @app.get("/api/v1/environments", response_model=page_model)
    async def list_environments(
        claims: dict[str, Any] = Depends(current_claims),
        session: AsyncSession = Depends(get_session),
        page: int = Query(1, ge=1),
        page_size: int = Query(20, ge=1, le=100, alias="pageSize"),
        sort: str = Query("order", pattern="^(order|name)$"),
    ) -> Any:
        tenant_id = claims["tenant_id"]
        order_by = (
            (EnvironmentRow.name, EnvironmentRow.id) if sort == "name" else (EnvironmentRow.position, EnvironmentRow.id)
        )
        rows = (
            await session.scalars(
                select(EnvironmentRow)
                .where(EnvironmentRow.tenant_id == tenant_id)
                .order_by(*order_by)
                .limit(page_size)
                .offset((page - 1) * page_size)
            )
        ).all()
        total = await session.scalar(
            select(func.count()).select_from(EnvironmentRow).where(EnvironmentRow.tenant_id == tenant_id)
        )
        total = total or 0
        total_pages = math.ceil(total / page_size)
        return page_model(
            data=[EnvironmentOut.model_validate(row) for row in rows],
            meta=meta_model(
                request_id=str(uuid.uuid4()),
                timestamp=_rfc3339(datetime.now(UTC)),
                pagination=pagination_model(
                    page=page,
                    page_size=page_size,
                    total_items=total,
                    total_pages=total_pages,
                    has_next=page < total_pages,
                    has_previous=page > 1,
                ),
            ),
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


RAW_COLUMNS = (
    "id, tenant_id, name, display_name, description, position, is_production, required_predecessors, gates, "
    "approval_policy_id, deployment_template_id, current_release_id, version, created_at, updated_at"
)
RAW_ORDER = {"order": "position, id", "name": "name, id"}  # a whitelist: the only text put into the SQL


def _raw_item(row: Any) -> dict[str, Any]:
    """One row (a sqlite3 tuple or an asyncpg Record, columns as in RAW_COLUMNS) as the API item."""
    predecessors, gates, created, updated = row[7], row[8], row[13], row[14]
    return {
        "id": row[0],
        "tenantId": row[1],
        "name": row[2],
        "displayName": row[3],
        "description": row[4],
        "order": row[5],
        "isProduction": bool(row[6]),
        # JSON columns arrive as text from both drivers (asyncpg has no json codec by default).
        "requiredPredecessors": json.loads(predecessors) if predecessors is not None else None,
        "gates": json.loads(gates),
        "approvalPolicyId": row[9],
        "deploymentWorkflowTemplateId": row[10],
        "currentReleaseId": row[11],
        "version": row[12],
        # SQLite stores naive UTC text ('2026-11-30 10:00:00.123000'); asyncpg returns aware datetimes.
        "createdAt": _rfc3339(created if isinstance(created, datetime) else datetime.fromisoformat(created)),
        "updatedAt": _rfc3339(updated if isinstance(updated, datetime) else datetime.fromisoformat(updated)),
    }


def raw_app() -> Any:
    """The same list as a competent developer would write it by hand: sqlite3 or asyncpg, dicts, json.dumps."""
    secret, audience, issuer = _token_settings()
    with_cursor = os.environ.get("BENCH_NEXT_CURSOR") == "1"
    url = make_url(os.environ["BENCH_DATABASE_URL"])
    app_state: dict[str, Any] = {}

    if url.get_backend_name() == "sqlite":
        # ``async def`` calling sqlite3 directly on the event loop, one connection. Measured
        # against the other way (a plain ``def`` route run in FastAPI's threadpool, one
        # connection per thread), 3 rounds of wrk -c 32 on 2 cores, 25 rows: about 3,000
        # against 1,100 requests/s and 330 against 1,200 us of server CPU per request. A
        # page query takes well under a millisecond, far less than the thread hand-off and
        # the GIL contention between 32 threads cost.
        database = url.database
        assert database

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            app_state["db"] = sqlite3.connect(database, check_same_thread=False)
            yield
            app_state["db"].close()

        async def fetch_page(tenant_id: str, order: str, limit: int, offset: int) -> tuple[list[Any], int]:
            db: sqlite3.Connection = app_state["db"]
            rows = db.execute(
                f"SELECT {RAW_COLUMNS} FROM environments WHERE tenant_id = ? ORDER BY {order} LIMIT ? OFFSET ?",
                (tenant_id, limit, offset),
            ).fetchall()
            total = db.execute("SELECT count(*) FROM environments WHERE tenant_id = ?", (tenant_id,)).fetchone()[0]
            return rows, total

    else:
        import asyncpg

        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            app_state["pool"] = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
            yield
            await app_state["pool"].close()

        async def fetch_page(tenant_id: str, order: str, limit: int, offset: int) -> tuple[list[Any], int]:
            async with app_state["pool"].acquire() as conn:
                rows = await conn.fetch(
                    f"SELECT {RAW_COLUMNS} FROM environments WHERE tenant_id = $1 ORDER BY {order} LIMIT $2 OFFSET $3",
                    tenant_id,
                    limit,
                    offset,
                )
                total = await conn.fetchval("SELECT count(*) FROM environments WHERE tenant_id = $1", tenant_id)
            return list(rows), total

    app = FastAPI(lifespan=lifespan)

    @app.get("/api/v1/environments")
    async def list_environments(
        authorization: str | None = Header(None),
        page: int = Query(1, ge=1),
        page_size: int = Query(20, ge=1, le=100, alias="pageSize"),
        sort: str = Query("order", pattern="^(order|name)$"),
    ) -> Response:
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(401, "missing bearer token")
        try:
            claims = jose_jwt.decode(authorization[7:], secret, algorithms=["HS256"], audience=audience, issuer=issuer)
        except JWTError as exc:
            raise HTTPException(401, "invalid token") from exc
        tenant_id = claims.get("tenant_id")
        if not isinstance(tenant_id, str) or not _can_read(claims):
            raise HTTPException(403, "forbidden")
        rows, total = await fetch_page(tenant_id, RAW_ORDER[sort], page_size, (page - 1) * page_size)
        total_pages = math.ceil(total / page_size)
        pagination: dict[str, Any] = {
            "page": page,
            "pageSize": page_size,
            "totalItems": total,
            "totalPages": total_pages,
            "hasNext": page < total_pages,
            "hasPrevious": page > 1,
        }
        if with_cursor:
            pagination["nextCursor"] = None
        body = {
            "success": True,
            "data": [_raw_item(row) for row in rows],
            "meta": {
                "requestId": str(uuid.uuid4()),
                "timestamp": _rfc3339(datetime.now(UTC)),
                "pagination": pagination,
            },
        }
        return Response(
            json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(), media_type="application/json"
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

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
    timeouts: int = 0  # of the errors: no answer in time (wrk: 2 s, httpx: 30 s)
    status_errors: int = 0  # of the errors: a status other than 2xx/3xx
    cpu_seconds: float | None = None  # the server process's CPU time during the measured run
    body_bytes: int = 0  # size of the response body (the check request before the run)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.cpu_seconds is None or not self.requests:
            return None
        return self.cpu_seconds / self.requests * 1e6


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, all its threads (Linux /proc), or None where there is no /proc."""
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
    "BENCH_JSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, \\"p99_us\\": %d, \\"errors\\": %d, "
    .. "\\"timeouts\\": %d, \\"status_errors\\": %d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), errors,
    summary.errors.timeout, summary.errors.status))
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
        "timeouts": data["timeouts"],
        "status_errors": data["status_errors"],
    }


def run_httpx(url: str, headers: dict[str, str], seconds: float, connections: int) -> dict[str, Any]:
    """Closed-loop load: ``connections`` tasks, each sending its next request when the last returns."""
    import httpx

    async def main() -> dict[str, Any]:
        latencies: list[float] = []
        errors = {"errors": 0, "timeouts": 0, "status_errors": 0}
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30.0) as client:
            deadline = time.perf_counter() + seconds

            async def worker() -> None:
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    kind = None
                    try:
                        response = await client.get(url)
                        if response.status_code != 200:
                            kind = "status_errors"
                    except httpx.TimeoutException:
                        kind = "timeouts"
                    except httpx.HTTPError:
                        kind = "socket"
                    latencies.append(time.perf_counter() - started)
                    if kind is not None:
                        errors["errors"] += 1
                        errors[kind] = errors.get(kind, 0) + 1

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
            "errors": errors["errors"],
            "timeouts": errors["timeouts"],
            "status_errors": errors["status_errors"],
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
        result = Result(target.label, **figures, cpu_seconds=cpu, body_bytes=len(check.content))
        print(f"  {target.label}: {result.rps:,.0f} req/s", file=sys.stderr, flush=True)
        return result


def _get(url: str, headers: dict[str, str]) -> Any:
    import httpx

    return httpx.get(url, headers=headers, timeout=30.0)


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
# Databases
# ---------------------------------------------------------------------------


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class BenchDatabase:
    """A throwaway database: a SQLite file in the temporary directory, or a PostgreSQL database."""

    def __init__(self, kind: str, workdir: Path, pg_url: str) -> None:
        self.kind = kind
        self.pg_url = pg_url
        self.created = False
        self.version = ""
        if kind == "sqlite":
            self.path = workdir / "bench.db"
            self.url = f"sqlite+aiosqlite:///{self.path}"
            self.name = "SQLite"
        else:
            self.db_name = f"shiplane_bench_{secrets.token_hex(4)}"
            self.url = make_url(pg_url).set(database=self.db_name).render_as_string(hide_password=False)
            self.name = "PostgreSQL"

    def describe(self) -> str:
        if self.kind == "sqlite":
            return f"SQLite {sqlite3.sqlite_version} (aiosqlite; a file in the temporary directory)"
        where = make_url(self.pg_url)
        return (
            f"PostgreSQL {self.version} at {where.host}:{where.port or 5432} (database {self.db_name}, dropped after)"
        )

    def create(self) -> None:
        if self.kind == "postgres":
            self.version = asyncio.run(_pg_admin(self.pg_url, f'CREATE DATABASE "{self.db_name}"'))
            self.created = True
        from shiplane.platform.migrate import upgrade

        upgrade(self.url)

    def drop(self) -> None:
        if self.kind == "postgres" and self.created:
            asyncio.run(_pg_admin(self.pg_url, f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
            self.created = False
            print(f"dropped database {self.db_name}", file=sys.stderr, flush=True)

    def seed(self, tenant_id: str, rows: int) -> float:
        """Insert ``rows`` environments for one tenant with plain SQL and ``executemany``; seconds taken.

        One transaction on SQLite; on PostgreSQL transactions of PG_SEED_BATCH rows (see there).

        The per-tenant row counts the server may keep are maintained by its own
        database triggers; nothing here writes to them.
        """
        started = time.perf_counter()
        base = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
        records = []
        for i in range(1, rows + 1):
            created = base + timedelta(milliseconds=i)
            records.append((str(uuid.uuid4()), tenant_id, f"env-{i:06d}", f"Environment {i:06d}", i, created))
        columns = (
            "id, tenant_id, name, display_name, description, position, is_production, required_predecessors, "
            "gates, version, created_at, updated_at"
        )
        if self.kind == "sqlite":
            sql = f"INSERT INTO environments ({columns}) VALUES (?, ?, ?, ?, '', ?, 0, NULL, '[]', 1, ?, ?)"
            connection = sqlite3.connect(self.path, timeout=60)
            try:
                with connection:  # one transaction
                    connection.executemany(sql, (_sqlite_record(record) for record in records))
            finally:
                connection.close()
        else:
            sql = f"INSERT INTO environments ({columns}) VALUES ($1, $2, $3, $4, '', $5, false, NULL, '[]', 1, $6, $6)"
            asyncio.run(_pg_seed(self.url, sql, records))
        return time.perf_counter() - started


def _sqlite_record(record: tuple[Any, ...]) -> tuple[Any, ...]:
    """SQLite keeps datetimes as naive UTC text, as SQLAlchemy writes them: '2026-11-30 10:00:00.123000'."""
    stamp = record[5].replace(tzinfo=None).isoformat(" ", "microseconds")
    return (*record[:5], stamp, stamp)


async def _pg_admin(pg_url: str, statement: str) -> str:
    """Run one statement outside a transaction (CREATE/DROP DATABASE); returns the server version."""
    from sqlalchemy import text

    engine = create_async_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            version = str((await conn.execute(text("SHOW server_version"))).scalar_one()).split()[0]
            await conn.execute(text(statement))
            return version
    finally:
        await engine.dispose()


# On PostgreSQL the rows go in as transactions of this many, not one: a row-level
# trigger that upserts one counter row per insert (Shiplane's per-tenant row counts)
# leaves one row version per insert that no one can prune until the transaction ends,
# and every next upsert walks them all. 100,000 rows in one transaction took 48 s
# (1.5 s with the trigger disabled); in transactions of 1,000 they take 2.5 s.
PG_SEED_BATCH = 1000


async def _pg_seed(url: str, sql: str, records: list[tuple[Any, ...]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        for start in range(0, len(records), PG_SEED_BATCH):
            async with conn.transaction():
                await conn.executemany(sql, records[start : start + PG_SEED_BATCH])
        # What autovacuum does shortly after a bulk load anyway; makes the plans deterministic.
        await conn.execute("ANALYZE environments")
    finally:
        await conn.close()


def check_postgres(pg_url: str) -> None:
    async def ping() -> None:
        engine = create_async_engine(pg_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                from sqlalchemy import text

                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(asyncio.wait_for(ping(), timeout=10))
    except Exception as exc:
        raise SystemExit(
            f"PostgreSQL is not reachable at {make_url(pg_url).render_as_string(hide_password=True)}: {exc}\n"
            "start it, pass --pg-url, or run with --database sqlite"
        ) from None


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def seed_through_api(base: str, token: str) -> None:
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


def key_paths(document: Any, prefix: str = "") -> list[str]:
    """Every key path in document order (lists: their first element only)."""
    paths: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            paths.append(prefix + key)
            paths.extend(key_paths(value, f"{prefix}{key}."))
    elif isinstance(document, list) and document:
        paths.extend(key_paths(document[0], prefix + "[0]."))
    return paths


def compare_bodies(label: str, reference: bytes, other: bytes) -> list[str]:
    """Warnings when ``other`` is not the same envelope, keys, rows and size as Shiplane's ``reference``."""
    warnings = []
    ours, theirs = json.loads(reference), json.loads(other)
    if key_paths(ours) != key_paths(theirs):
        ref, got = key_paths(ours), key_paths(theirs)
        first = next((i for i, (a, b) in enumerate(zip(ref, got, strict=False)) if a != b), min(len(ref), len(got)))
        warnings.append(
            f"{label}: keys differ from Shiplane's at position {first}: "
            f"Shiplane {ref[first : first + 3]}, {label} {got[first : first + 3]}"
        )
    if ours.get("data") != theirs.get("data"):
        warnings.append(f"{label}: the page's rows differ from Shiplane's")
    ours_pagination = dict(ours.get("meta", {}).get("pagination", {}))
    theirs_pagination = dict(theirs.get("meta", {}).get("pagination", {}))
    cursor = ours_pagination.get("nextCursor")
    for pagination in (ours_pagination, theirs_pagination):
        pagination.pop("nextCursor", None)
    if ours_pagination != theirs_pagination:
        warnings.append(f"{label}: pagination differs: Shiplane {ours_pagination}, {label} {theirs_pagination}")
    # Shiplane's body with its cursor (if any) replaced by null, the only value the others emit.
    expected = len(reference) - (len(json.dumps(cursor)) - len("null") if cursor is not None else 0)
    if abs(len(other) - expected) > 4:  # requestId and timestamp have fixed widths
        warnings.append(
            f"{label}: body is {len(other)} bytes, Shiplane's {len(reference)}"
            + (f" ({expected} with nextCursor null)" if cursor is not None else "")
        )
    return warnings


def median_result(runs: list[Result]) -> Result:
    """The run with the median throughput (its own latencies and CPU, not a blend)."""
    ordered = sorted(runs, key=lambda r: r.rps)
    return ordered[(len(ordered) - 1) // 2]


@dataclass
class Latency:
    requests: int
    p50_ms: float
    p95_ms: float
    body_bytes: int


def sequential_latency(client: Any, url: str, headers: dict[str, str], scale: ScaleOptions) -> Latency:
    """One request at a time on one keep-alive connection: ``warmup`` unmeasured, then up to
    ``requests`` measured or ``case_seconds`` (whichever comes first, at least 5 requests)."""

    def get() -> Any:
        response = client.get(url, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}: {response.text[:300]}")
        return response

    body = len(get().content)
    warm_until = time.perf_counter() + scale.case_seconds / 4
    for _ in range(scale.warmup):
        if time.perf_counter() > warm_until:
            break
        get()
    samples: list[float] = []
    deadline = time.perf_counter() + scale.case_seconds
    while len(samples) < scale.requests and (len(samples) < 5 or time.perf_counter() < deadline):
        started = time.perf_counter()
        get()
        samples.append(time.perf_counter() - started)
    samples.sort()

    def nearest_rank(p: float) -> float:
        return samples[max(0, math.ceil(len(samples) * p) - 1)] * 1000

    return Latency(len(samples), nearest_rank(0.50), nearest_rank(0.95), body)


@dataclass
class ScaleOptions:
    sizes: list[int]
    requests: int
    warmup: int
    case_seconds: float


@dataclass
class ScaleCase:
    key: str
    label: str
    shiplane_only: bool = False


SCALE_CASES = [
    ScaleCase("page1-name", "page 1, sort=name"),
    ScaleCase("page1-default", "page 1, default sort"),
    ScaleCase("middle-page", "middle page by page=N, sort=name"),
    ScaleCase("middle-cursor", "middle page by cursor, sort=name", shiplane_only=True),
    ScaleCase("middle-cursor-default", "middle page by cursor, default sort", shiplane_only=True),
]


@dataclass
class ScaleRun:
    seed_seconds: dict[int, float] = field(default_factory=dict)
    # (case key, size, "shiplane" | "orm") -> latency
    latency: dict[tuple[str, int, str], Latency] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def run_scaling(
    db: BenchDatabase, shiplane: Server, orm: Server, settings: Any, scale: ScaleOptions, tag: str
) -> ScaleRun:
    import httpx
    from shiplane.platform.jwt import mint_token

    run = ScaleRun()
    clients = {
        "shiplane": httpx.Client(base_url=shiplane.base, timeout=60.0),
        "orm": httpx.Client(base_url=orm.base, timeout=60.0),
    }
    try:
        for size in scale.sizes:
            tenant = f"scale-{size}"
            print(f"[{tag}] seeding {size:,} environments (tenant {tenant})", file=sys.stderr, flush=True)
            run.seed_seconds[size] = db.seed(tenant, size)
            print(f"[{tag}]   {run.seed_seconds[size]:.1f} s", file=sys.stderr, flush=True)
            token = mint_token(settings, user_id=USER, tenant_id=tenant, roles=["admin"], lifetime_seconds=24 * 3600)
            auth = {"Authorization": f"Bearer {token}"}
            middle = max(1, size // 2 // PAGE_SIZE)
            paths = {
                "page1-name": f"/api/v1/environments?pageSize={PAGE_SIZE}&sort=name",
                "page1-default": f"/api/v1/environments?pageSize={PAGE_SIZE}",
                "middle-page": f"/api/v1/environments?pageSize={PAGE_SIZE}&sort=name&page={middle}",
            }
            # The cursor to the page after the middle one, from the middle page served by page=.
            response = clients["shiplane"].get(paths["middle-page"], headers=auth)
            if response.status_code != 200:
                raise RuntimeError(f"Shiplane middle page answered {response.status_code}: {response.text[:300]}")
            document = response.json()
            expected_first = f"env-{middle * PAGE_SIZE + 1:06d}"
            if document["data"][0]["name"] != f"env-{(middle - 1) * PAGE_SIZE + 1:06d}":
                run.notes.append(f"{size:,} rows: page={middle} did not start where expected")
            pagination = document["meta"]["pagination"]
            if "nextCursor" not in pagination:
                if size == scale.sizes[0]:
                    print(f"[{tag}] cursor: not supported by this server", file=sys.stderr, flush=True)
                    run.notes.append("cursor: not supported by this server (no meta.pagination.nextCursor)")
            elif not pagination["nextCursor"]:
                run.notes.append(f"cursor: {size:,} rows: the middle page has no nextCursor; skipped")
            else:
                paths["middle-cursor"] = (
                    f"/api/v1/environments?pageSize={PAGE_SIZE}&sort=name&cursor={quote(pagination['nextCursor'])}"
                )
                check = clients["shiplane"].get(paths["middle-cursor"], headers=auth)
                if check.status_code != 200:
                    raise RuntimeError(f"Shiplane cursor page answered {check.status_code}: {check.text[:300]}")
                first = check.json()["data"][0]["name"] if check.json()["data"] else None
                if first != expected_first:
                    run.notes.append(f"cursor: {size:,} rows: page starts at {first}, expected {expected_first}")
                # The same for the default sort (order, then id: not unique, so the cursor
                # carries two keys and the page starts with a range on the first).
                default_middle = clients["shiplane"].get(
                    f"/api/v1/environments?pageSize={PAGE_SIZE}&page={middle}", headers=auth
                )
                default_cursor = default_middle.json()["meta"]["pagination"].get("nextCursor")
                if default_cursor:
                    paths["middle-cursor-default"] = (
                        f"/api/v1/environments?pageSize={PAGE_SIZE}&cursor={quote(default_cursor)}"
                    )
            for case in SCALE_CASES:
                if case.key not in paths:
                    continue
                for who in ("shiplane",) if case.shiplane_only else ("shiplane", "orm"):
                    latency = sequential_latency(clients[who], paths[case.key], auth, scale)
                    run.latency[(case.key, size, who)] = latency
                    print(
                        f"[{tag}]   {size:,} rows, {case.label}, {who}: median {latency.p50_ms:.2f} ms",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        for client in clients.values():
            client.close()
    return run


@dataclass
class DatabaseRun:
    db: BenchDatabase
    results: dict[str, Result]
    warnings: list[str]
    scale: ScaleRun | None


def run_database(
    kind: str, args: argparse.Namespace, workdir: Path, settings: Any, loadgen: LoadGenerator, scale: ScaleOptions
) -> DatabaseRun:
    from shiplane.platform.jwt import mint_token

    tag = "sqlite" if kind == "sqlite" else "postgres"
    db = BenchDatabase(kind, workdir, args.pg_url)
    servers: list[Server] = []
    runs: dict[str, list[Result]] = {}
    warnings: list[str] = []
    scale_run: ScaleRun | None = None
    base_settings: dict[str, Any] = {
        "mode": "development",
        "data_dir": str(workdir / "data"),
        "database_url": db.url,
        "log_level": "WARNING",
    }
    token = mint_token(settings, user_id=USER, tenant_id=TENANT, roles=["admin"], lifetime_seconds=24 * 3600)
    auth = {"Authorization": f"Bearer {token}"}

    def start(name: str, factory: str, env: dict[str, str]) -> Server:
        server = Server(f"{tag}-{name}", factory, env, workdir)
        servers.append(server)
        server.wait_ready()
        return server

    try:
        print(f"[{tag}] creating and migrating the database", file=sys.stderr, flush=True)
        db.create()
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
        seed_through_api(shiplane.base, token)
        page_file, health_file = workdir / f"{tag}-page.json", workdir / f"{tag}-health.json"
        page_file.write_bytes(capture(shiplane.base + LIST_PATH, auth, expect_items=PAGE_SIZE))
        health_file.write_bytes(capture(shiplane.base + HEALTH_PATH, {}, expect_items=None))
        has_cursor = "nextCursor" in json.loads(page_file.read_bytes())["meta"]["pagination"]
        service_env = {
            "BENCH_DATABASE_URL": db.url,
            "BENCH_JWT_SECRET": settings.auth_hs_secret,
            "BENCH_JWT_AUDIENCE": settings.auth_audience,
            "BENCH_JWT_ISSUER": settings.auth_issuer,
            "BENCH_NEXT_CURSOR": "1" if has_cursor else "0",
        }
        bare = start("bare", "bare_app", {"BENCH_LIST_BODY": str(page_file), "BENCH_HEALTH_BODY": str(health_file)})
        orm = start("orm", "orm_app", service_env)
        raw = start("raw", "raw_app", service_env)
        shiplane_rl = start("shiplane-rl", "shiplane_app", limited)
        for label, server in (("ORM service", orm), ("raw service", raw)):
            body = capture(server.base + LIST_PATH, auth, expect_items=PAGE_SIZE)
            for warning in compare_bodies(label, page_file.read_bytes(), body):
                print(f"[{tag}] WARNING: {warning}", file=sys.stderr, flush=True)
                warnings.append(warning)
        # Idle servers cost nothing measurable; only the one being loaded does work.
        targets = [
            Target("bare-list", "bare FastAPI, same page bytes", bare, LIST_PATH, {}),
            Target("shiplane-list", "Shiplane GET environments?pageSize=20", shiplane, LIST_PATH, auth),
            Target("orm-list", "ORM service (SQLAlchemy ORM + pydantic)", orm, LIST_PATH, auth),
            Target(
                "raw-list",
                f"raw service ({'sqlite3' if kind == 'sqlite' else 'asyncpg'} + dicts)",
                raw,
                LIST_PATH,
                auth,
            ),
            Target("shiplane-list-rl", "Shiplane same, rate limiting on", shiplane_rl, LIST_PATH, auth),
            Target("bare-health", "bare FastAPI, same /healthz bytes", bare, HEALTH_PATH, {}),
            Target("shiplane-health", "Shiplane GET /healthz", shiplane, HEALTH_PATH, {}),
        ]
        for round_number in range(1, args.rounds + 1):
            print(f"[{tag}] throughput, round {round_number}/{args.rounds}", file=sys.stderr, flush=True)
            for target in targets:
                runs.setdefault(target.key, []).append(loadgen.measure(target))
        if scale.sizes:
            # After the throughput rounds, so those ran against a database holding 25 rows.
            scale_run = run_scaling(db, shiplane, orm, settings, scale, tag)
    finally:
        for server in reversed(servers):
            with contextlib.suppress(Exception):
                server.stop()
        db.drop()
    return DatabaseRun(db, {key: median_result(value) for key, value in runs.items()}, warnings, scale_run)


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------


def _ratio_line(what: str, ours: Result, theirs: Result) -> str:
    line = f"{what}: throughput {ours.rps / theirs.rps:.3f}x"
    if ours.cpu_us_per_request and theirs.cpu_us_per_request:
        line += f", server CPU per request {ours.cpu_us_per_request / theirs.cpu_us_per_request:.2f}x"
    return line


def throughput_report(results: dict[str, Result]) -> str:
    lines = [
        f"{'target':<42} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>10} {'errors':>6} {'bytes':>6}",
        "-" * 94,
    ]
    for result in results.values():
        cpu = result.cpu_us_per_request
        lines.append(
            f"{result.label:<42} {result.rps:>8,.0f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f} "
            f"{(f'{cpu:,.0f}' if cpu is not None else 'n/a'):>10} {result.errors:>6} {result.body_bytes:>6}"
        )
    for result in results.values():
        if result.errors:
            lines.append(
                f"  errors of {result.label}: {result.timeouts} timeouts, "
                f"{result.status_errors} non-2xx/3xx, {result.errors - result.timeouts - result.status_errors} socket"
            )
    lines.append("")
    listing = results["shiplane-list"]
    lines += [
        _ratio_line("ratio Shiplane/bare, list page of 20 (auth + DB + envelope)", listing, results["bare-list"]),
        _ratio_line("ratio Shiplane/ORM service, list page of 20", listing, results["orm-list"]),
        _ratio_line("ratio Shiplane/raw service, list page of 20", listing, results["raw-list"]),
        _ratio_line("ratio ORM service/raw service, list page of 20", results["orm-list"], results["raw-list"]),
        _ratio_line(
            "ratio Shiplane/bare, list page of 20, rate limiting on", results["shiplane-list-rl"], results["bare-list"]
        ),
        _ratio_line(
            "ratio Shiplane/bare, /healthz (pipeline only, no auth, no DB)",
            results["shiplane-health"],
            results["bare-health"],
        ),
    ]
    on, off = results["shiplane-list-rl"], listing
    if on.cpu_us_per_request and off.cpu_us_per_request:
        lines.append(
            f"rate limiter on vs off: {on.cpu_us_per_request - off.cpu_us_per_request:+,.0f} us server CPU per "
            f"request, throughput {on.rps / off.rps:.2f}x (two processes: includes run-to-run noise)"
        )
    health, bare_h, bare_list = results["shiplane-health"], results["bare-health"], results["bare-list"]
    if all(r.cpu_us_per_request for r in (health, bare_h, listing, bare_list)):
        pipeline = health.cpu_us_per_request - bare_h.cpu_us_per_request  # type: ignore[operator]
        total = listing.cpu_us_per_request - bare_list.cpu_us_per_request  # type: ignore[operator]
        lines.append(
            f"added server CPU per request: list {total:,.0f} us, of which the pipeline alone (healthz) "
            f"{pipeline:,.0f} us and auth + DB + rendering {total - pipeline:,.0f} us"
        )
    return "\n".join(lines)


def _scale_row(label: str, rows: str, cells: list[str], last: str) -> str:
    return f"{label:<36} {rows:>8} {cells[0]:>13} {cells[1]:>8} {cells[2]:>9} {cells[3]:>8} {last:>13}".rstrip()


def _ms(latency: Latency | None) -> list[str]:
    return [f"{latency.p50_ms:.2f}", f"{latency.p95_ms:.2f}"] if latency else ["-", "-"]


def _growth(small: Latency | None, large: Latency | None) -> list[str]:
    if not (small and large):
        return ["", ""]
    return [f"{large.p50_ms / small.p50_ms:.2f}x", f"{large.p95_ms / small.p95_ms:.2f}x"]


def scaling_report(run: ScaleRun, scale: ScaleOptions) -> str:
    sizes = scale.sizes
    small, large = sizes[0], sizes[-1]
    lines = [
        "seeded with SQL (executemany): "
        + ", ".join(f"{size:,} rows in {run.seed_seconds[size]:.1f} s" for size in sizes if size in run.seed_seconds),
        _scale_row("case", "rows", ["Shiplane p50", "p95", "ORM p50", "p95"], "Shiplane/ORM"),
        "-" * 101,
    ]
    for case in SCALE_CASES:
        if not any((case.key, size, "shiplane") in run.latency for size in sizes):
            lines.append(f"{case.label:<36} skipped (see the notes)")
            continue
        for size in sizes:
            ours = run.latency.get((case.key, size, "shiplane"))
            theirs = run.latency.get((case.key, size, "orm"))
            versus = f"{ours.p50_ms / theirs.p50_ms:.2f}x" if ours and theirs else "n/a"
            if case.key == "middle-page":
                label = case.label.replace("N", str(max(1, size // 2 // PAGE_SIZE)))
            else:
                label = case.label if size == small else ""
            lines.append(_scale_row(label, f"{size:,}", _ms(ours) + _ms(theirs), versus))
        if len(sizes) > 1:
            ours_small, ours_large = (
                run.latency.get((case.key, small, "shiplane")),
                run.latency.get((case.key, large, "shiplane")),
            )
            growth = _growth(ours_small, ours_large) + _growth(
                run.latency.get((case.key, small, "orm")), run.latency.get((case.key, large, "orm"))
            )
            goal = ""
            flat_goal = ("page1-name", "page1-default", "middle-cursor", "middle-cursor-default")
            if case.key in flat_goal and ours_small and ours_large:
                met = ours_large.p50_ms / ours_small.p50_ms <= SCALE_GOAL
                goal = f"  goal <={SCALE_GOAL}x: {'met' if met else 'MISSED'}"
            lines.append(_scale_row(f"  ratio {large:,}/{small:,} rows", "", growth, goal))
    lines += [f"note: {note}" for note in run.notes]
    counts = sorted({latency.requests for latency in run.latency.values()})
    if counts:
        measured = f"{counts[0]}" if counts[0] == counts[-1] else f"{counts[0]}-{counts[-1]}"
        lines.append(
            f"one keep-alive httpx connection per server, one request at a time: {scale.warmup} warm-up, then "
            f"{scale.requests} measured or {scale.case_seconds:g} s per case and server, whichever came first "
            f"(measured {measured}); Shiplane and the ORM service alternate case by case; goal: page 1 and "
            f"cursor pages at {large:,} rows within {SCALE_GOAL}x of {small:,} (median)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help=f"PostgreSQL server to use (default {DEFAULT_PG_URL})")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per target (default 10)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections kept open (default 32)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each target (default 2)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="load every target this many times, interleaved; report the median"
    )
    parser.add_argument("--loadgen", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s per target, 1 round, short scaling cases")
    parser.add_argument(
        "--scale-rows", default="1000,100000", help="environments per scaling tenant (default 1000,100000)"
    )
    parser.add_argument("--no-scale", action="store_true", help="skip the scaling section")
    parser.add_argument(
        "--scale-requests", type=int, default=200, help="measured requests per scaling case (default 200)"
    )
    parser.add_argument("--scale-warmup", type=int, default=20, help="warm-up requests per scaling case (default 20)")
    parser.add_argument(
        "--scale-case-seconds", type=float, default=8.0, help="time cap per scaling case and server (default 8)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds, args.warmup = 3.0, 1, min(args.warmup, 1.0)
        args.scale_requests, args.scale_warmup, args.scale_case_seconds = 50, 5, 3.0
    try:
        sizes = sorted({int(part) for part in args.scale_rows.split(",") if part.strip()})
    except ValueError:
        parser.error("--scale-rows takes comma-separated integers")
    if any(size < PAGE_SIZE * 2 for size in sizes):
        parser.error(f"--scale-rows sizes must be at least {PAGE_SIZE * 2}")
    scale = ScaleOptions(
        [] if args.no_scale else sizes, args.scale_requests, args.scale_warmup, args.scale_case_seconds
    )
    kinds = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    if "postgres" in kinds:
        check_postgres(args.pg_url)

    # SIGTERM unwinds like Ctrl-C, so every server is stopped and every database dropped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    from shiplane.platform.settings import Settings

    database_runs: list[DatabaseRun] = []
    with tempfile.TemporaryDirectory(prefix="shiplane-bench-") as tmp:
        workdir = Path(tmp)
        # prepare() persists the development JWT secret in the data directory, so the
        # servers started below (all of them read the same directory) verify the tokens
        # minted here; the comparison services get the secret through the environment.
        settings = Settings(mode="development", data_dir=workdir / "data").prepare()
        loadgen = LoadGenerator(args.loadgen, args.concurrency, args.seconds, args.warmup, workdir)
        started_at = datetime.now(UTC)
        load_before = os.getloadavg()
        print(
            f"api_overhead: {started_at:%Y-%m-%d %H:%M} UTC, {platform.python_implementation()} "
            f"{platform.python_version()}, {os.cpu_count()} CPU(s), {loadgen.describe()}, databases: "
            f"{', '.join(kinds)}, scaling: {', '.join(f'{s:,}' for s in scale.sizes) or 'off'}",
            file=sys.stderr,
            flush=True,
        )
        for kind in kinds:
            database_runs.append(run_database(kind, args, workdir, settings, loadgen, scale))
    load_after = os.getloadavg()
    elapsed = datetime.now(UTC) - started_at
    print(
        f"Shiplane API overhead, {started_at:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU(s), "
        f"{platform.python_implementation()} {platform.python_version()}, load average "
        f"{load_before[0]:.2f} before / {load_after[0]:.2f} after, {elapsed.total_seconds():.0f} s in all"
    )
    print(
        f"throughput: {args.rounds} round(s) interleaved, median shown; load generator: {loadgen.describe()}; "
        f"uvicorn: {' '.join(server_options())}"
    )
    for database_run in database_runs:
        print()
        print(f"=== {database_run.db.describe()} ===")
        print(
            f"throughput at {SEED_ENVIRONMENTS} environments in one tenant, GET {LIST_PATH}, "
            f"{args.concurrency} connections"
        )
        print(throughput_report(database_run.results))
        for warning in database_run.warnings:
            print(f"WARNING: {warning}")
        if database_run.scale is not None:
            print()
            print(f"latency one request at a time, ms (median, p95), {database_run.db.name}")
            print(scaling_report(database_run.scale, scale))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
