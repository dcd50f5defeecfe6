"""List scaling of the newer lists: 1,000 against 100,000 rows in one tenant, one request at a time.

    python bench/lists.py [--database sqlite|postgres|both] [--pg-url URL] [--sizes 1000,100000]
                          [--requests 200] [--warmup 20] [--case-seconds 5] [--quick] [--no-explain]

Lists measured: ``GET /api/v1/evidence-packets``, ``/version-stickers``, ``/ab-releases``,
``/audit-reports`` and ``/audit-events``. For each database (SQLite, then PostgreSQL, each
a throwaway database migrated with ``shiplane.platform.migrate.upgrade``, as in
bench/api_overhead.py, whose helpers this script imports: ``BenchDatabase``, ``Server``,
``check_postgres``, ``PG_SEED_BATCH``):

1. starts Shiplane in its own uvicorn process (rate limiting off);
2. for each size, seeds every table with that many rows in a tenant of its own, directly
   with SQL (``executemany``; one transaction on SQLite, transactions of PG_SEED_BATCH rows
   on PostgreSQL, then ``VACUUM ANALYZE`` as autovacuum would; no ``ANALYZE`` on SQLite, which
   the server never runs), in the shape the server writes them (the models'
   columns; the server's triggers keep the per-tenant row counts). Distribution, row i of n:
   ``createdAt`` increases with i; evidence packets: 2 kinds alternating, 10 packets per
   release, 4 environments; version stickers: n/10 targets with 10 stickers each (the newest
   of each is ``current``), 4 environments, 100 stickers per release; A/B releases: 1 in 100
   ``running``, the rest ``promoted``/``rolled_back``, 4 environments; audit reports: 1 in 100
   ``failed``, the rest ``ready``; audit events: 1 in 100 ``denied``, 20 events per resource;
3. checks each list answers 200 with ``totalItems`` equal to the rows seeded;
4. times, one request at a time on one keep-alive connection, page 1 with the default sort,
   page 1 with filters typical of the list, and the next page by ``cursor=`` (from page 1);
5. prints p50/p99 ms per case and size and the ratio largest/smallest (goal: at most 1.5x),
   and (unless ``--no-explain``) the query plan of the page statement of each case that
   missed the goal (``EXPLAIN QUERY PLAN`` with bound parameters on SQLite, ``EXPLAIN ANALYZE``
   with the values inlined on PostgreSQL),
   built by the server's own read path (``shiplane.platform.reads``).

A filter whose matches grow with the table grows by design: ``totalItems`` is then an exact
``count(*)`` of the matching rows (docs/api-conventions.md). Those cases show how much.

Benchmarks are not part of the test suite; see bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_overhead import (  # noqa: E402
    DEFAULT_PG_URL,
    PG_SEED_BATCH,
    SCALE_GOAL,
    USER,
    BenchDatabase,
    Server,
    _asyncpg_dsn,
    check_postgres,
)

PAGE_SIZE = 20
ENVIRONMENTS = 4
HASH = "0" * 64
ENVELOPE = json.dumps(
    {"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": [{"keyid": "bench", "sig": "x"}]}
)


def _filter(value: dict[str, Any]) -> str:
    return "filter=" + quote(json.dumps(value, separators=(",", ":")))


# ---------------------------------------------------------------------------
# Rows, in the shape the server writes them (see the models named per table)
# ---------------------------------------------------------------------------

Row = dict[str, Any]


def _env(i: int) -> str:
    return f"env-{i % ENVIRONMENTS}"


def packet_row(i: int, n: int) -> Row:  # shiplane.evidence.models.EvidencePacket
    kind = "promotion-decision" if i % 2 else "deployment-outcome"
    return {
        "kind": kind,
        "promotion_id": f"promo-{i}" if i % 2 else None,
        "deployment_job_id": None if i % 2 else f"job-{i}",
        "release_id": f"rel-{i // 10}",
        "environment_id": _env(i),
        "outcome": "approved" if i % 2 else "succeeded",
        "subject_digest": "sha256:" + HASH,
        "key_id": "bench",
        "payload_sha256": HASH,
        "envelope": ENVELOPE,
    }


def sticker_row(i: int, n: int) -> Row:  # shiplane.evidence.models.VersionSticker
    targets = max(1, n // 10)
    target = i % targets
    return {
        # Target ids are unique across tenants (one current sticker per target, migration 0021).
        "target_id": f"t{n}-{target}",
        "target_name": f"host-{target}",
        "environment_id": _env(target),
        "release_id": f"rel-{i // 100}",
        "deployment_job_id": f"job-{i // 100}",
        "manifest_digest": "sha256:" + HASH,
        "actor": USER,
        "deployed_at": None,  # = created_at
        "current": i > n - targets,  # the newest sticker of each target
        "key_id": "bench",
        "sticker": json.dumps({"release": f"rel-{i // 100}", "signature": "x"}),
    }


def ab_row(i: int, n: int) -> Row:  # shiplane.progressive.models.ABRelease
    state = "running" if i % 100 == 0 else ("promoted" if i % 2 else "rolled_back")
    return {
        "name": f"ab-{i:06d}",
        "environment_id": _env(i),
        "control_release_id": f"rel-{i}",
        "candidate_release_id": f"rel-{i + 1}",
        "strategy": "linear",
        "strategy_config": "{}",
        "steps": json.dumps([{"weight": 50, "pauseSeconds": 60, "manual": False}]),
        "router_instance_id": "router-1",
        "analysis": json.dumps({"probes": [], "metrics": []}),
        "candidate_target_labels": None,
        "deployment_job_id": None,
        "state": state,
        "step_index": 0,
        "weights": json.dumps({"control": 50, "candidate": 50}),
        "applied_weights": None,
        "apply_error": "",
        "failures": 0,
        "consecutive_failures": 0,
        "inconclusive": 0,
        "passes": 0,
        "message": "",
        "created_by": USER,
    }


def report_row(i: int, n: int) -> Row:  # shiplane.audit.reports.AuditReport
    # Not ``pending``: the server's sweep would make a stale pending report (audit/reports.py).
    failed = i % 100 == 0
    return {
        "period_start": None,  # = created_at - 30 days
        "period_end": None,  # = created_at
        "environment_ids": "[]",
        "format": "json",
        "state": "failed" if failed else "ready",
        "message": "bench: failed" if failed else "",
        "requested_by": USER,
        "changes": 0 if failed else 12,
        "digest": "" if failed else "sha256:" + HASH,
        "size": 0 if failed else 4096,
    }


def event_row(i: int, n: int) -> Row:  # shiplane.platform.audit.AuditEvent
    return {
        "sequence": i,
        "actor_type": "user",
        "actor_id": USER,
        "action": "environment.update",
        "resource_type": "environment",
        "resource_id": f"res-{i // 20}",
        "request_id": f"req-{i}",
        "outcome": "denied" if i % 100 == 0 else "success",
        "changes": "{}",
        "prev_hash": HASH,
        "hash": HASH,
    }


@dataclass
class ListDef:
    key: str
    path: str
    table: str
    make: Callable[[int, int], Row]
    owned: bool  # TenantOwned (id, created_at, updated_at, version) or TenantScoped (AuditEvent)
    json_columns: tuple[str, ...]
    # (case key, label, query string) for each filter; ``{n}`` is the size
    filters: list[tuple[str, str, Callable[[int], str]]]


LISTS = [
    ListDef(
        "packets",
        "/api/v1/evidence-packets",
        "evidence_packets",
        packet_row,
        True,
        (),
        [
            ("filter-release", "filter releaseId (10 rows)", lambda n: _filter({"releaseId": "rel-7"})),
            ("filter-kind", "filter kind (half the rows)", lambda n: _filter({"kind": "deployment-outcome"})),
        ],
    ),
    ListDef(
        "stickers",
        "/api/v1/version-stickers",
        "version_stickers",
        sticker_row,
        True,
        ("sticker",),
        [
            ("filter-target", "filter targetId (10 rows)", lambda n: _filter({"targetId": f"t{n}-7"})),
            ("filter-env", "filter environmentId (1/4)", lambda n: _filter({"environmentId": "env-1"})),
            ("filter-release", "filter releaseId (100 rows)", lambda n: _filter({"releaseId": "rel-3"})),
            ("filter-current", "filter current=true (1/10)", lambda n: _filter({"current": True})),
            (
                "filter-env-current",
                "filter environmentId + current",
                lambda n: _filter({"environmentId": "env-1", "current": True}),
            ),
        ],
    ),
    ListDef(
        "ab",
        "/api/v1/ab-releases",
        "ab_releases",
        ab_row,
        True,
        ("strategy_config", "steps", "analysis", "weights"),
        [
            ("filter-state", "filter state=running (1/100)", lambda n: _filter({"state": "running"})),
            ("filter-env", "filter environmentId (1/4)", lambda n: _filter({"environmentId": "env-1"})),
        ],
    ),
    ListDef(
        "reports",
        "/api/v1/audit-reports",
        "audit_reports",
        report_row,
        True,
        ("environment_ids",),
        [
            ("filter-failed", "filter state=failed (1/100)", lambda n: _filter({"state": "failed"})),
            ("filter-ready", "filter state=ready (99/100)", lambda n: _filter({"state": "ready"})),
        ],
    ),
    ListDef(
        "events",
        "/api/v1/audit-events",
        "audit_events",
        event_row,
        False,
        ("changes",),
        [
            (
                "filter-resource",
                "filter resourceType+resourceId (20)",
                lambda n: _filter({"resourceType": "environment", "resourceId": "res-7"}),
            ),
            ("filter-denied", "filter outcome=denied (1/100)", lambda n: _filter({"outcome": "denied"})),
        ],
    ),
]


def full_rows(spec: ListDef, tenant: str, n: int) -> tuple[list[str], list[list[Any]]]:
    """Every row of ``spec`` for one tenant: the table's columns and aware-datetime values."""
    base = datetime(2026, 11, 1, tzinfo=UTC)
    columns: list[str] | None = None
    rows: list[list[Any]] = []
    for i in range(1, n + 1):
        created = base + timedelta(milliseconds=i)
        row = spec.make(i, n)
        if spec.owned:
            row = {
                "id": f"{spec.key}-{tenant}-{i:07d}",
                **row,
                "created_at": created,
                "updated_at": created,
                "version": 1,
            }
        else:
            row = {"id": f"{spec.key}-{tenant}-{i:07d}", **row, "occurred_at": created}
        row["tenant_id"] = tenant
        if "deployed_at" in row:
            row["deployed_at"] = created
        if "period_end" in row:
            row["period_start"], row["period_end"] = created - timedelta(days=30), created
        if columns is None:
            columns = list(row)
        rows.append([row[c] for c in columns])
    assert columns is not None
    return columns, rows


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):  # naive UTC text, as SQLAlchemy writes it
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(value, bool):
        return int(value)
    return value


def seed(db: BenchDatabase, spec: ListDef, tenant: str, n: int) -> float:
    started = time.perf_counter()
    columns, rows = full_rows(spec, tenant, n)
    names = ", ".join(columns)
    if db.kind == "sqlite":
        sql = f"INSERT INTO {spec.table} ({names}) VALUES ({', '.join('?' for _ in columns)})"
        connection = sqlite3.connect(db.path, timeout=60)
        try:
            with connection:
                connection.executemany(sql, ([_sqlite_value(v) for v in row] for row in rows))
            # No ANALYZE: the server never runs it on SQLite, so its planner has no statistics.
        finally:
            connection.close()
    else:
        marks = [f"${k + 1}::json" if c in spec.json_columns else f"${k + 1}" for k, c in enumerate(columns)]
        sql = f"INSERT INTO {spec.table} ({names}) VALUES ({', '.join(marks)})"
        asyncio.run(_pg_seed_table(db.url, spec.table, sql, [tuple(r) for r in rows]))
    return time.perf_counter() - started


async def _pg_seed_table(url: str, table: str, sql: str, records: list[tuple[Any, ...]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        for start in range(0, len(records), PG_SEED_BATCH):
            async with conn.transaction():
                await conn.executemany(sql, records[start : start + PG_SEED_BATCH])
        # What autovacuum does shortly after a bulk load: statistics, and the visibility map
        # that lets a count be an index-only scan.
        await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


@dataclass
class Timing:
    requests: int
    p50_ms: float
    p99_ms: float
    total_items: int


def time_requests(client: Any, url: str, headers: dict[str, str], args: argparse.Namespace) -> Timing:
    """One request at a time: ``warmup`` unmeasured, then ``requests`` or ``case_seconds`` (at least 5)."""

    def get() -> Any:
        response = client.get(url, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}: {response.text[:300]}")
        return response

    total = int(get().json()["meta"]["pagination"]["totalItems"])
    for _ in range(args.warmup):
        get()
    samples: list[float] = []
    deadline = time.perf_counter() + args.case_seconds
    while len(samples) < args.requests and (len(samples) < 5 or time.perf_counter() < deadline):
        started = time.perf_counter()
        get()
        samples.append(time.perf_counter() - started)
    samples.sort()

    def rank(p: float) -> float:
        return samples[max(0, math.ceil(len(samples) * p) - 1)] * 1000

    return Timing(len(samples), rank(0.50), rank(0.99), total)


# ---------------------------------------------------------------------------
# Query plans, from the server's own read path
# ---------------------------------------------------------------------------


def _spec_of(key: str) -> Any:
    if key == "packets":
        from shiplane.evidence.service import PACKETS

        return PACKETS
    if key == "stickers":
        from shiplane.evidence.service import STICKERS

        return STICKERS
    if key == "ab":
        from shiplane.progressive.service import LIST_SPEC as AB_SPEC

        return AB_SPEC
    if key == "reports":
        from shiplane.audit.reports import LIST_SPEC as REPORT_SPEC

        return REPORT_SPEC
    from shiplane.audit.api import LIST_SPEC as EVENT_SPEC

    return EVENT_SPEC


def explain(db: BenchDatabase, list_key: str, query: str, tenant: str) -> str:
    """The plan of the page statement Shiplane runs for ``query`` (page 1, no cursor)."""
    from urllib.parse import parse_qsl

    from shiplane.platform.listing import parse_list_params
    from shiplane.platform.reads import _page_statements

    spec = _spec_of(list_key)
    params = parse_list_params(dict(parse_qsl(query)), spec)
    statement, _count = _page_statements(spec, params)
    values = {"tenant": tenant, "resource": spec.table.name, "limit": params.page_size + 1}
    if db.kind == "sqlite":
        from sqlalchemy.dialects import sqlite

        # With bound parameters, as the server runs it (a plan can differ with literals).
        compiled = statement.compile(dialect=sqlite.dialect())
        bound_values = compiled.construct_params(values)
        positional = tuple(bound_values[name] for name in compiled.positiontup or [])
        connection = sqlite3.connect(db.path)
        try:
            plan = connection.execute("EXPLAIN QUERY PLAN " + str(compiled), positional).fetchall()
        finally:
            connection.close()
        return "\n".join(f"    {'  ' * (0 if parent == 0 else 1)}{detail}" for _id, parent, _n, detail in plan)
    from sqlalchemy.dialects import postgresql

    bound = statement.params(**values)
    sql = str(bound.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))

    async def run() -> list[str]:
        import asyncpg

        conn = await asyncpg.connect(_asyncpg_dsn(db.url))
        try:
            return [r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)]
        finally:
            await conn.close()

    return "\n".join("    " + line for line in asyncio.run(run()))


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def run_database(kind: str, args: argparse.Namespace, workdir: Path, settings: Any) -> list[str]:
    import httpx
    from shiplane.platform.jwt import mint_token

    tag = kind
    db = BenchDatabase(kind, workdir, args.pg_url)
    server: Server | None = None
    out: list[str] = []
    results: dict[tuple[str, str, int], Timing] = {}
    queries: dict[tuple[str, str, int], str] = {}
    labels: dict[tuple[str, str], str] = {}
    seeded: dict[int, float] = {}
    try:
        print(f"[{tag}] creating and migrating the database", file=sys.stderr, flush=True)
        db.create()
        base_settings = {
            "mode": "development",
            "data_dir": str(workdir / "data"),
            "database_url": db.url,
            "log_level": "WARNING",
            "rate_limit_enabled": False,
        }
        server = Server(f"{tag}-shiplane", "shiplane_app", {"BENCH_SETTINGS": json.dumps(base_settings)}, workdir)
        server.wait_ready()
        client = httpx.Client(base_url=server.base, timeout=120.0)
        try:
            for size in args.sizes:
                tenant = f"lists-{size}"
                print(f"[{tag}] seeding {size:,} rows in each table (tenant {tenant})", file=sys.stderr, flush=True)
                started = time.perf_counter()
                for spec in LISTS:
                    seed(db, spec, tenant, size)
                seeded[size] = time.perf_counter() - started
                print(f"[{tag}]   {seeded[size]:.1f} s", file=sys.stderr, flush=True)
                token = mint_token(
                    settings, user_id=USER, tenant_id=tenant, roles=["admin"], lifetime_seconds=24 * 3600
                )
                auth = {"Authorization": f"Bearer {token}"}
                for spec in LISTS:
                    first = f"{spec.path}?pageSize={PAGE_SIZE}"
                    check = client.get(first, headers=auth)
                    if check.status_code != 200:
                        raise RuntimeError(f"GET {first} answered {check.status_code}: {check.text[:300]}")
                    pagination = check.json()["meta"]["pagination"]
                    if pagination["totalItems"] != size or len(check.json()["data"]) != PAGE_SIZE:
                        raise RuntimeError(f"GET {first}: totalItems {pagination['totalItems']}, expected {size}")
                    cases = [("page1", "page 1, default sort", f"pageSize={PAGE_SIZE}")]
                    cases += [(k, label, f"pageSize={PAGE_SIZE}&{q(size)}") for k, label, q in spec.filters]
                    if pagination.get("nextCursor"):
                        cursor = quote(pagination["nextCursor"])
                        cases.append(
                            ("cursor", "page 2 by cursor, default sort", f"pageSize={PAGE_SIZE}&cursor={cursor}")
                        )
                    for key, label, query in cases:
                        labels[(spec.key, key)] = label
                        queries[(spec.key, key, size)] = query
                        timing = time_requests(client, f"{spec.path}?{query}", auth, args)
                        results[(spec.key, key, size)] = timing
                        print(
                            f"[{tag}]   {size:,} {spec.path} {label}: p50 {timing.p50_ms:.2f} ms "
                            f"(totalItems {timing.total_items:,})",
                            file=sys.stderr,
                            flush=True,
                        )
        finally:
            client.close()

        small, large = args.sizes[0], args.sizes[-1]
        out.append(f"=== {db.describe()} ===")
        out.append(
            "seeded with SQL (executemany), 5 tables: "
            + ", ".join(f"{size:,} rows each in {seconds:.1f} s" for size, seconds in seeded.items())
        )
        head = f"{'list':<22} {'case':<34} {'rows':>8} {'total':>8} {'p50 ms':>8} {'p99 ms':>8}  ratio p50  p99"
        out += [head, "-" * len(head)]
        missed: list[tuple[str, str]] = []
        for spec in LISTS:
            for (list_key, key), label in labels.items():
                if list_key != spec.key:
                    continue
                for size in args.sizes:
                    found = results.get((list_key, key, size))
                    if found is None:
                        continue
                    out.append(
                        f"{spec.path.removeprefix('/api/v1/') if size == small else '':<22} "
                        f"{label if size == small else '':<34} {size:>8,} {found.total_items:>8,} "
                        f"{found.p50_ms:>8.2f} {found.p99_ms:>8.2f}"
                    )
                a, b = results.get((list_key, key, small)), results.get((list_key, key, large))
                if a and b and len(args.sizes) > 1:
                    ratio = b.p50_ms / a.p50_ms
                    met = ratio <= SCALE_GOAL
                    if not met:
                        missed.append((list_key, key))
                    out.append(
                        f"{'':<22} {f'  {large:,}/{small:,}':<34} {'':>8} {'':>8} {'':>8} {'':>8}  "
                        f"{ratio:>8.2f}x {b.p99_ms / a.p99_ms:.2f}x  goal <={SCALE_GOAL}x: "
                        f"{'met' if met else 'NOT MET'}"
                    )
        out.append(
            f"one keep-alive httpx connection, one request at a time: {args.warmup} warm-up, then {args.requests} "
            f"measured or {args.case_seconds:g} s per case (at least 5); ratio of the p50 (and p99)"
        )
        if missed and args.explain:
            out.append("")
            out.append(f"query plans of the page statement at {large:,} rows for the cases that missed the goal:")
            for list_key, key in missed:
                spec = next(s for s in LISTS if s.key == list_key)
                query = queries[(list_key, key, large)]
                if "cursor=" in query:
                    out.append(f"  {spec.path} {labels[(list_key, key)]}: (cursor page; not explained)")
                    continue
                out.append(f"  {spec.path}?{query}")
                try:
                    out.append(explain(db, list_key, query, f"lists-{large}"))
                except Exception as exc:  # a plan is a diagnosis, never a reason to lose the run
                    out.append(f"    (could not explain: {type(exc).__name__}: {exc})")
    finally:
        if server is not None:
            with contextlib.suppress(Exception):
                server.stop()
        db.drop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help=f"PostgreSQL server to use (default {DEFAULT_PG_URL})")
    parser.add_argument("--sizes", default="1000,100000", help="rows per table and tenant (default 1000,100000)")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per case (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up requests per case (default 20)")
    parser.add_argument("--case-seconds", type=float, default=5.0, help="time cap per case (default 5)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 and 10,000 rows, short cases")
    parser.add_argument("--no-explain", dest="explain", action="store_false", help="no query plans")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.requests, args.warmup, args.case_seconds = "1000,10000", 30, 3, 1.0
    try:
        args.sizes = sorted({int(part) for part in str(args.sizes).split(",") if part.strip()})
    except ValueError:
        parser.error("--sizes takes comma-separated integers")
    if any(size < PAGE_SIZE * 2 or size < 1000 for size in args.sizes):
        parser.error("sizes must be at least 1000 (the filters pick rows by number)")
    kinds = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    if "postgres" in kinds:
        check_postgres(args.pg_url)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    from shiplane.platform.settings import Settings

    started_at = datetime.now(UTC)
    load_before = os.getloadavg()
    reports: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="shiplane-bench-lists-") as tmp:
        workdir = Path(tmp)
        settings = Settings(mode="development", data_dir=workdir / "data").prepare()
        for kind in kinds:
            reports.append(run_database(kind, args, workdir, settings))
    load_after = os.getloadavg()
    elapsed = (datetime.now(UTC) - started_at).total_seconds()
    print(
        f"Shiplane list scaling, {started_at:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU(s), "
        f"{platform.python_implementation()} {platform.python_version()}, load average "
        f"{load_before[0]:.2f} before / {load_after[0]:.2f} after, {elapsed:.0f} s in all; "
        f"sizes {', '.join(f'{s:,}' for s in args.sizes)}, pageSize {PAGE_SIZE}"
    )
    for lines in reports:
        print()
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
