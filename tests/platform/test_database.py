"""Storage behaviours the rest relies on, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

from shiplane.environments.models import Environment
from shiplane.platform.database import Database, new_id
from sqlalchemy import func, select


def test_a_snapshot_read_sees_one_view_across_statements(database_url: str) -> None:
    tenant = f"tenant-{new_id()[:8]}"

    async def count(session) -> int:  # type: ignore[no-untyped-def]
        return int(await session.scalar(select(func.count()).select_from(Environment)))

    async def add(name: str) -> None:
        async with db.session(tenant, write=True) as session:
            session.add(Environment(id=new_id(), tenant_id=tenant, name=name, display_name=name, position=0, gates=[]))

    async def run() -> tuple[int, int, int, int]:
        try:
            return await scenario()
        finally:
            await db.dispose()

    async def scenario() -> tuple[int, int, int, int]:
        await add("first")
        async with db.session(tenant, write=False, snapshot=True) as snap:
            before = await count(snap)
            await add("second")  # commits while the snapshot is open
            during = await count(snap)
        async with db.session(tenant, write=False) as plain:
            first = await count(plain)
            await add("third")
            second = await count(plain)  # plain reads see each commit
        return before, during, first, second

    db = Database(database_url)
    before, during, first, second = asyncio.run(run())
    assert before == during == 1
    assert (first, second) == (2, 3)
