"""Alembic, driven from code: ``shiplane db upgrade``, the embedded default and /readyz use it."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations (blocking; runs its own event loop inside Alembic's env.py)."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def head_revision() -> str | None:
    return _scripts().get_current_head()


def is_current(revision: str | None) -> bool:
    """Whether a database at ``revision`` can be served by this code.

    The head, or a revision this code does not know: a newer release has migrated
    the database during a rolling upgrade (migrations are written expand-first, so
    the older code keeps working). A known older revision means migrations are
    pending; None means the database was never migrated.
    """
    if revision is None:
        return False
    if revision == head_revision():
        return True
    try:
        return _scripts().get_revision(revision) is None
    except Exception:  # alembic raises for unknown revision ids
        return True


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision())
