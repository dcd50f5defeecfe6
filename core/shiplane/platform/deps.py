"""Dependencies routes share: the caller's tenant's reads."""

from __future__ import annotations

from fastapi import Request

from shiplane.platform.auth import current_principal
from shiplane.platform.reads import TenantReads


async def tenant_reads(request: Request) -> TenantReads:
    """Lists and gets: one hop to the database per read (platform/reads.py).

    A plain coroutine, not a generator: it holds nothing open, so FastAPI has no
    exit stack to run after the response.
    """
    principal = current_principal(request)
    return TenantReads(request.app.state.shiplane.reads, principal.tenant_id)
