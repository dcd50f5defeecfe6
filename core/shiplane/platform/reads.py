"""The one read path: every list and get of every module goes through here.

Why it is not the ORM session the writes use:

- **One hop per request.** On SQLite every aiosqlite driver call (execute, fetch,
  close) is a hand-off to the connection's thread and back; a list read took
  five of them. Here a request's reads are one function run on a synchronous
  connection, in one hand-off to a small thread pool (SQLite), or in one
  ``run_sync`` on an asyncpg connection (PostgreSQL, which is natively async).
- **Core rows, statements built once.** Lists render from ``Row`` objects (they
  have the same attribute names as the models, so one ``*_out`` function renders
  both); the base statements are built once per table.
- **Flat in table size.** A page is ``LIMIT pageSize + 1`` through an index
  ``(tenant_id, sort column, id)``; the total comes from ``tenant_row_counts``
  (kept by database triggers, so it is exact and costs one primary-key lookup)
  when there is no filter, and from a ``count(*)`` of the matching rows when
  there is one. Both are scalar subqueries of the page statement: one statement,
  one snapshot, one round trip.
- **The tenant condition is added here, once.** ``TenantReads`` builds every
  statement from ``tenant_select`` (or a prebuilt statement with the same
  condition); nothing else hands a statement to the read engines, and a test
  (``tests/platform/test_read_path.py``) fails any statement that reaches them
  without ``<table>.tenant_id = ?``.

Reads run without an explicit transaction: each statement sees a committed
snapshot (WAL on SQLite; autocommit on PostgreSQL), and a list page is one
statement. A read that must see several statements in one snapshot uses
``TenantReads.run(fn, snapshot=True)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Integer, Select, String, Table, bindparam, create_engine, event, func, select
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList
from sqlalchemy.sql.schema import Column

from shiplane.platform.database import Base, Database, sqlite_on_connect
from shiplane.platform.listing import (
    ListParams,
    ListSpec,
    Page,
    cursor_shape,
    encode_cursor,
    keyset_condition,
    pagination_meta,
)

T = TypeVar("T")

# An execution option on every connection the read path hands out: the tenant it
# reads for. The test that guards the tenant condition looks for it.
TENANT_OPTION = "shiplane_tenant"


class TenantRowCount(Base):
    """How many rows each tenant has in each counted table, kept by triggers.

    Triggers (migration 0004 writes them, and a table added to ``COUNTED_TABLES``
    needs a migration that adds its own) rather than service code, so every insert and delete
    counts, whichever code path or transaction makes it, and a rolled-back write
    rolls its count back with it.
    """

    __tablename__ = "tenant_row_counts"

    tenant_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    row_count: Mapped[int] = mapped_column(BigInteger, nullable=False)


COUNTED_TABLES = (
    "environments",
    "plugin_instances",
    "audit_events",
    "agents",
    "targets",
    "integrations",
    "components",
    "releases",
    "workflow_templates",
    "workflow_runs",
    "approval_policies",
    "promotions",
    "deployment_jobs",
    "variable_sets",
    "evidence_packets",
    "version_stickers",
    "ab_releases",
    "audit_reports",
    "service_accounts",
)


def tenant_select(table: Table | Any, *columns: Any) -> Select[Any]:
    """``SELECT columns FROM table WHERE table.tenant_id = :tenant`` (the tenant bound at execution)."""
    return select(*(columns or (table,))).where(table.c.tenant_id == bindparam("tenant"))


class ReadStore:
    """The process's read engine and the one place a read reaches the database."""

    def __init__(self, db: Database, *, sqlite_threads: int = 4, pool_size: int = 10) -> None:
        self.is_sqlite = db.is_sqlite
        self._executor: ThreadPoolExecutor | None = None
        self._sync_engine: Engine | None = None
        self._async_engine: AsyncEngine | None = None
        self._loop_engine: Engine | None = None
        self._fair_queue = asyncio.Semaphore(pool_size)
        # Reads by where they ran (loop, thread, async), for /metrics.
        self.counts = {"loop": 0, "loop_busy": 0, "thread": 0, "async": 0}
        if db.is_sqlite:
            url = db.url.replace("sqlite+aiosqlite:", "sqlite+pysqlite:", 1)
            # One connection per read thread, plus one for the reads run on the loop (one at
            # a time): nothing ever waits for a connection, least of all the loop.
            self._sync_engine = create_engine(
                url,
                pool_size=sqlite_threads + 1,
                max_overflow=0,
                connect_args={"check_same_thread": False},
            )
            event.listen(self._sync_engine, "connect", sqlite_on_connect)
            # The loop's own connection never waits on a lock: a read that finds the
            # database busy (a WAL reset, crash recovery) is retried in a read thread.
            self._loop_engine = create_engine(
                url, pool_size=1, max_overflow=0, connect_args={"check_same_thread": False}
            )
            event.listen(self._loop_engine, "connect", _sqlite_loop_connect)
            self._executor = ThreadPoolExecutor(sqlite_threads, thread_name_prefix="shiplane-read")
        else:
            # Autocommit: a read is one statement, so BEGIN/COMMIT would be two wasted
            # round trips; no pre-ping either (a round trip per checkout): a connection
            # the server dropped fails once and the read is retried on a fresh one.
            self._async_engine = create_async_engine(
                db.url,
                isolation_level="AUTOCOMMIT",
                pool_size=pool_size,
                max_overflow=0,
                pool_timeout=30,
            )

    @property
    def sync_engine(self) -> Engine:
        """The synchronous Engine of the read pool (the threads' on SQLite)."""
        if self._sync_engine is not None:
            return self._sync_engine
        assert self._async_engine is not None
        return self._async_engine.sync_engine

    @property
    def engines(self) -> list[Engine]:
        """Every engine reads run on (for event listeners: tests, instrumentation)."""
        return [e for e in (self._loop_engine, self.sync_engine) if e is not None]

    async def run(
        self, tenant_id: str | None, fn: Callable[[Connection], T], *, snapshot: bool = False, bounded: bool = False
    ) -> T:
        """Run ``fn(connection)`` in one hop; retried once if the connection had gone away.

        ``bounded``: the read is a few index lookups whatever the table's size (a page
        through an index, a row by id). On SQLite such a read runs right here, on the
        event loop: handing it to a thread costs more than the read (pysqlite releases
        the GIL on every row it steps, and each time takes it back from a busy loop,
        waiting up to the interpreter's switch interval; measured: 0.4 ms of CPU and
        a third of the throughput on a page of 20). Anything whose cost grows with the
        data (a filtered count, a deep OFFSET) goes to the read threads, so one
        tenant's large read never stalls the loop for the others.
        """
        try:
            return await self._run(tenant_id, fn, snapshot, bounded)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            return await self._run(tenant_id, fn, snapshot, bounded)

    async def _run(self, tenant_id: str | None, fn: Callable[[Connection], T], snapshot: bool, bounded: bool) -> T:
        if self._loop_engine is not None and bounded:
            try:
                with self._loop_engine.connect() as conn:
                    result = _in_connection(conn, tenant_id, fn, snapshot)
                self.counts["loop"] += 1
                return result
            except OperationalError as exc:
                if not _is_busy(exc):
                    raise
                self.counts["loop_busy"] += 1
        if self._executor is not None:
            self.counts["thread"] += 1
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._run_sqlite, tenant_id, fn, snapshot)
        assert self._async_engine is not None
        self.counts["async"] += 1
        # Waiters queue here in arrival order: SQLAlchemy's pool lets a newly arriving
        # request take a returned connection before one that has waited, which left a
        # few requests waiting for hundreds of ms under load (p99 584 ms -> see
        # docs/performance.md).
        async with self._fair_queue:
            async with self._async_engine.connect() as conn:
                return await conn.run_sync(_in_connection, tenant_id, fn, snapshot)

    def _run_sqlite(self, tenant_id: str | None, fn: Callable[[Connection], T], snapshot: bool) -> T:
        assert self._sync_engine is not None
        with self._sync_engine.connect() as conn:
            return _in_connection(conn, tenant_id, fn, snapshot)

    def checked_out(self) -> int:
        """Connections of the read pool in use now."""
        pool: Any = self.sync_engine.pool
        return int(pool.checkedout()) if hasattr(pool, "checkedout") else 0

    async def dispose(self) -> None:
        if self._loop_engine is not None:
            self._loop_engine.dispose()
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._async_engine is not None:
            await self._async_engine.dispose()


def _sqlite_loop_connect(dbapi_connection: Any, record: Any) -> None:
    sqlite_on_connect(dbapi_connection, record)
    dbapi_connection.execute("PRAGMA busy_timeout=0")


def _is_busy(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text


def _in_connection(conn: Connection, tenant_id: str | None, fn: Callable[[Connection], T], snapshot: bool) -> T:
    conn = conn.execution_options(**{TENANT_OPTION: tenant_id})
    if not snapshot:
        return fn(conn)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN DEFERRED")
    else:
        conn.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        return fn(conn)
    finally:
        conn.exec_driver_sql("COMMIT")


class TenantReads:
    """The caller's tenant's reads. Every statement carries the tenant condition."""

    def __init__(self, store: ReadStore, tenant_id: str) -> None:
        self.store = store
        self.tenant_id = tenant_id

    async def run(self, fn: Callable[[TenantConnection], T], *, snapshot: bool = False) -> T:
        """Run ``fn(connection)`` in one hop, for reads a module composes itself.

        The connection only executes statements that carry the tenant condition
        (build them with ``tenant_select``; the tenant is bound for you). It runs in
        a read thread on SQLite: its cost is the module's to know, not this layer's.
        """
        return await self.store.run(
            self.tenant_id, lambda conn: fn(TenantConnection(conn, self.tenant_id)), snapshot=snapshot
        )

    async def get(self, spec: ListSpec, resource_id: str) -> Row[Any] | None:
        """One row by id, or None (absent, or another tenant's: callers answer 404 for both)."""
        statement = _by_id_statement(spec.table)
        bound = {"tenant": self.tenant_id, "id": resource_id}
        return await self.store.run(self.tenant_id, lambda conn: conn.execute(statement, bound).first(), bounded=True)

    async def page(self, spec: ListSpec, params: ListParams) -> Page:
        """One page of a list, its exact total and the cursor of the next page."""
        statement, count = _page_statements(spec, params)
        bound: dict[str, Any] = {"tenant": self.tenant_id, "resource": spec.table.name, "limit": params.page_size + 1}
        if params.offset:
            bound["offset"] = params.offset
        if params.after is not None:
            bound.update({f"after_{i}": value for i, value in enumerate(params.after) if value is not None})

        def read(conn: Connection) -> tuple[list[Row[Any]], int]:
            rows = list(conn.execute(statement, bound).all())
            if rows:
                return rows, int(rows[0].total_items or 0)
            return rows, int(conn.execute(count, bound).scalar() or 0)

        # Unfiltered: an index range and the counter row. A filter makes the count
        # read every matching row, and a deep OFFSET skips rows one by one.
        bounded = params.filter is None and params.offset <= MAX_BOUNDED_OFFSET and _index_ordered(spec, params)
        rows, total = await self.store.run(self.tenant_id, read, bounded=bounded)
        more = len(rows) > params.page_size
        items = rows[: params.page_size]
        position = params.position if params.after is not None else params.offset
        next_cursor = encode_cursor(params, items[-1], position + len(items)) if more else None
        if params.after is None:
            pagination = pagination_meta(params.page, params.page_size, total, next_cursor=next_cursor)
        else:
            pagination = pagination_meta(
                params.page,
                params.page_size,
                total,
                has_next=more,
                has_previous=position > 0,
                next_cursor=next_cursor,
            )
        return Page(items, pagination)


_BY_ID: dict[str, Select[Any]] = {}


def _by_id_statement(table: Table) -> Select[Any]:
    statement = _BY_ID.get(table.name)
    if statement is None:
        statement = _BY_ID[table.name] = tenant_select(table).where(table.c.id == bindparam("id"))
    return statement


_ROW_COUNT = select(
    func.coalesce(
        select(TenantRowCount.row_count)
        .where(TenantRowCount.tenant_id == bindparam("tenant"), TenantRowCount.resource == bindparam("resource"))
        .scalar_subquery(),
        0,
    )
)


# A page whose OFFSET skips at most this many rows still counts as a bounded read.
MAX_BOUNDED_OFFSET = 1000

_PAGES: dict[tuple[Any, ...], tuple[Select[Any], Select[Any]]] = {}


def _index_ordered(spec: ListSpec, params: ListParams) -> bool:
    """Whether one index gives the page's order: one field (plus the id), or a unique field first.

    Other sorts (``isProduction,-name``) are allowed, but order the tenant's matching
    rows in the database first, so they count as unbounded reads.
    """
    first, _ = params.sort[0]
    return len(params.sort) == 1 or spec.fields[first].unique


def _page_statements(spec: ListSpec, params: ListParams) -> tuple[Select[Any], Select[Any]]:
    """The page statement (rows plus the total as a scalar subquery) and the bare count.

    Limit, offset and the cursor's values are bound parameters, so without a filter
    the statement depends only on the sort and is built once.
    """
    if params.filter is not None or not _index_ordered(spec, params):
        # Only the few statements of single-field sorts are kept: a caller choosing
        # sorts freely must not grow this cache.
        return _build_page_statements(spec, params)
    shape = None if params.after is None else cursor_shape(params.keys, params.after)
    key = (spec.table.name, tuple(params.keys), shape, params.offset > 0)
    built = _PAGES.get(key)
    if built is None:
        built = _PAGES[key] = _build_page_statements(spec, params)
    return built


def _build_page_statements(spec: ListSpec, params: ListParams) -> tuple[Select[Any], Select[Any]]:
    table = spec.table
    if params.filter is None:
        if table.name not in COUNTED_TABLES:
            raise RuntimeError(f"{table.name} has no row-count triggers: add it to COUNTED_TABLES and a migration")
        count = _ROW_COUNT
    else:
        count = select(func.count()).select_from(table).where(table.c.tenant_id == bindparam("tenant"), params.filter)
    statement = tenant_select(table, *table.c, count.scalar_subquery().label("total_items"))
    if params.filter is not None:
        statement = statement.where(params.filter)
    if params.after is not None:
        placeholders = [bindparam(f"after_{i}", type_=key.column.type) for i, key in enumerate(params.keys)]
        statement = statement.where(keyset_condition(params.keys, placeholders, params.after))
    order = []
    for key in params.keys:
        term = key.column.desc() if key.descending else key.column.asc()
        if key.nullable:
            # NULL is the smallest value on both databases (SQLite's rule; PostgreSQL's
            # default is the opposite), so pages and cursors agree everywhere.
            term = term.nulls_last() if key.descending else term.nulls_first()
        order.append(term)
    statement = statement.order_by(*order).limit(bindparam("limit", type_=Integer))
    if params.offset:
        statement = statement.offset(bindparam("offset", type_=BigInteger))
    return statement, count


class TenantConnection:
    """A read connection that refuses a statement without the tenant condition."""

    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def execute(self, statement: Select[Any], parameters: dict[str, Any] | None = None) -> Any:
        missing = tenant_condition_missing(statement)
        if missing:
            raise RuntimeError(f"read without the tenant condition on {', '.join(missing)}")
        return self._conn.execute(statement, {**(parameters or {}), "tenant": self._tenant_id})


def tenant_condition_missing(statement: Select[Any]) -> list[str]:
    """The tenant-owned tables a SELECT reads without ``table.tenant_id = :tenant`` ANDed at its top.

    Subqueries are checked too. The check walks the statement, so a condition
    inside an OR (which would not restrict the rows) does not count.
    """
    missing: list[str] = []
    for select_ in _selects(statement):
        required = {
            table.name
            for table in _tables(select_)
            if "tenant_id" in table.c and table.name != TenantRowCount.__tablename__
        }
        present = {
            clause.left.table.name
            for clause in _and_terms(select_.whereclause)
            if isinstance(clause, BinaryExpression)
            and clause.operator is operators.eq
            and isinstance(clause.left, Column)
            and clause.left.name == "tenant_id"
            and isinstance(clause.right, BindParameter)
            and clause.right.key == "tenant"
        }
        missing += sorted(required - present)
    return missing


def _selects(statement: Any) -> list[Select[Any]]:
    found = [element for element in visitors.iterate(statement) if isinstance(element, Select)]
    return found or [statement]


def _tables(select_: Select[Any]) -> list[Table]:
    tables: list[Table] = []
    for from_ in select_.get_final_froms():
        tables += [t for t in visitors.iterate(from_) if isinstance(t, Table)]
    return tables


def _and_terms(clause: Any) -> list[Any]:
    if clause is None:
        return []
    if isinstance(clause, BooleanClauseList) and clause.operator is operators.and_:
        terms: list[Any] = []
        for part in clause.clauses:
            terms += _and_terms(part)
        return terms
    return [clause]
