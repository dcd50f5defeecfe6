"""Engines, sessions and the base for tenant-owned rows.

SQLite is used as it is meant to be: WAL, a busy timeout, foreign keys on, and
every write transaction opened with ``BEGIN IMMEDIATE`` on a single-connection
writer engine, so writers queue in the pool instead of failing with "database is
locked" (and across processes they queue on the busy timeout). Reads use a
separate engine without explicit transactions (each statement reads a committed
snapshot, which WAL lets run beside the writer; a list page is one statement).
PostgreSQL needs none of that: one engine serves both.

The tenant filter is added by the session itself (``do_orm_execute`` with
``with_loader_criteria``), so a query written without it still cannot see another
tenant's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)
from sqlalchemy.types import TypeDecorator

# Set in a session's info when it wrote outbox events; after commit the database
# wakes whoever delivers them (see Database.on_outbox_commit).
OUTBOX_MARK = "shiplane_outbox_written"
AFTER_COMMIT = "shiplane_after_commit"


def on_commit(session: Any, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's transaction has committed (never if it rolls back)."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


def utcnow() -> datetime:
    """Now, truncated to milliseconds so stored, hashed and rendered times agree."""
    now = datetime.now(UTC)
    return now.replace(microsecond=(now.microsecond // 1000) * 1000)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite has no time zones, PostgreSQL keeps them."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to UTCDateTime")
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            # e.g. 0001-01-01T00:00:00+01:00: its UTC instant is before year 1. Callers
            # validate at the edge (the filter compiler does); this keeps it a ValueError.
            raise ValueError(f"datetime {value.isoformat()} is out of range in UTC") from None
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class TenantScoped:
    """Rows the session filters by the caller's tenant, whatever the query says."""

    tenant_id: Mapped[str] = mapped_column(String(128), index=True, nullable=False)


class TenantOwned(TenantScoped):
    """Columns every tenant-owned resource carries; ``version`` is a compare-and-set counter."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        # SQLAlchemy bumps the version on every UPDATE and adds "WHERE version = <read>",
        # so a concurrent change makes the flush fail (StaleDataError -> 409) instead of
        # silently overwriting.
        return {"version_id_col": cls.version}


def sort_indexes(table: str, *columns: str) -> list[Index]:
    """``(tenant_id, column, id)`` for each column a list sorts on: a page reads one index range.

    (PostgreSQL's indexes on nullable sort columns are ``NULLS FIRST``; see migration 0004.)
    """
    return [Index(f"ix_{table}_tenant_{column}", "tenant_id", column, "id") for column in columns]


def _add_tenant_criteria(state: ORMExecuteState) -> None:
    tenant_id = state.session.info.get("tenant_id")
    if tenant_id is None or state.is_column_load or state.is_relationship_load:
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == tenant_id, include_aliases=True)
        )


def _tag_new_rows(session: Session, _flush_context: Any, _instances: Any) -> None:
    tenant_id = session.info.get("tenant_id")
    if tenant_id is None:
        return
    for obj in session.new:
        if isinstance(obj, TenantScoped):
            if obj.tenant_id is None:
                obj.tenant_id = tenant_id
            elif obj.tenant_id != tenant_id:
                raise RuntimeError("attempt to write a row for another tenant")


event.listen(Session, "do_orm_execute", _add_tenant_criteria)
event.listen(Session, "before_flush", _tag_new_rows)


def sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin (the pysqlite recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # LIKE ($contains, $startsWith) is case-sensitive on PostgreSQL; make SQLite agree.
    cursor.execute("PRAGMA case_sensitive_like=ON")
    cursor.close()


def _install_sqlite_begin(engine: Engine, mode: str) -> None:
    event.listen(engine, "connect", sqlite_on_connect)

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """The process's engines and session factories."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.write_engine: AsyncEngine = create_async_engine(
                url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=120
            )
            # ORM read sessions for system work (audit verification, event delivery,
            # an idempotent replay); lists and gets use platform/reads.py.
            self.read_engine: AsyncEngine = create_async_engine(url, echo=echo, pool_size=2, max_overflow=3)
            _install_sqlite_begin(self.write_engine.sync_engine, "IMMEDIATE")
            # Reads run without an explicit transaction unless they ask for a snapshot:
            # each statement sees a committed snapshot (WAL).
            event.listen(self.read_engine.sync_engine, "connect", sqlite_on_connect)
        else:
            # Writes and the few ORM read sessions; lists and gets use the read pool (platform/reads.py).
            self.write_engine = create_async_engine(url, echo=echo, pool_size=5, max_overflow=5, pool_pre_ping=True)
            self.read_engine = self.write_engine
        self._writer = async_sessionmaker(self.write_engine, expire_on_commit=False, autoflush=True)
        self.outbox_listeners: list[Callable[[], None]] = []
        # The process's evidence key (platform/signing.py), set by its services: each
        # session carries it, so what a transaction signs is signed by this server's key.
        self.signer: Any = None
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False, autoflush=True)

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    @asynccontextmanager
    async def session(
        self, tenant_id: str | None, *, write: bool, snapshot: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on error.

        ``tenant_id=None`` gives an unfiltered session, for system work (audit
        verification, migrations checks); request handlers always pass the tenant.
        """
        factory = self._writer if write else self._reader
        async with factory() as session:
            session.info["tenant_id"] = tenant_id
            session.info["signer"] = self.signer
            async with session.begin():
                if snapshot and not write:
                    await self._begin_snapshot(session)
                yield session
            for callback in session.info.pop(AFTER_COMMIT, []):
                callback()
            if session.info.pop(OUTBOX_MARK, False):
                for listener in self.outbox_listeners:
                    listener()

    async def _begin_snapshot(self, session: AsyncSession) -> None:
        """Make every statement of this read session see one snapshot.

        Plain reads run statement by statement; a reader that compares several
        statements (audit verification: heads, then events) needs one view.
        """
        if self.is_sqlite:
            await session.execute(text("BEGIN DEFERRED"))
        else:
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
