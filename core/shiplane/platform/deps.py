"""Dependencies routes share: a read session in the caller's tenant, list parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.platform.auth import current_principal


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    principal = current_principal(request)
    async with request.app.state.shiplane.db.session(principal.tenant_id, write=False) as session:
        yield session
