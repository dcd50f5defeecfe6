"""Dependencies routes share: the caller's tenant's reads, a read session for the rest."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.platform.auth import current_principal
from shiplane.platform.reads import TenantReads


async def tenant_reads(request: Request) -> TenantReads:
    """Lists and gets: one hop to the database per read (platform/reads.py).

    A plain coroutine, not a generator: it holds nothing open, so FastAPI has no
    exit stack to run after the response.
    """
    principal = current_principal(request)
    return TenantReads(request.app.state.shiplane.reads, principal.tenant_id)


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """An ORM session for reads that are not lists or gets of a module's rows."""
    principal = current_principal(request)
    async with request.app.state.shiplane.db.session(principal.tenant_id, write=False) as session:
        yield session
