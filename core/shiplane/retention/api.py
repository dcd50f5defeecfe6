"""Retention policy (an addition): GET/PUT /api/v1/retention-policy, POST .../prune."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from starlette.responses import Response

from shiplane.platform.auth import Principal, require
from shiplane.platform.envelope import success
from shiplane.platform.idempotency import run_write
from shiplane.platform.openapi import returns
from shiplane.retention.service import (
    RetentionPolicyBody,
    RetentionPolicyOut,
    RetentionPruneOut,
    get_policy,
    prune,
    put_policy,
)

router = APIRouter(prefix="/api/v1/retention-policy", tags=["audit"])


@router.get("", responses=returns(RetentionPolicyOut))
async def read_retention_policy(
    request: Request, principal: Annotated[Principal, require("retention:read")]
) -> Response:
    """How long the tenant keeps evidence packets, logs and artifacts (null: for ever); the
    audit chain is always kept whole. ``lastPruned`` says what the last pruning removed."""
    async with request.app.state.shiplane.db.session(principal.tenant_id, write=False) as session:
        return success(await get_policy(session, principal.tenant_id))


@router.put("", responses=returns(RetentionPolicyOut))
async def write_retention_policy(
    body: RetentionPolicyBody,
    request: Request,
    principal: Annotated[
        Principal, require("retention:write", audit_action="retention_policy.update", resource_type="retention_policy")
    ],
) -> Response:
    return await run_write(request, principal, lambda s: put_policy(s, principal, body))


@router.post("/prune", responses=returns(RetentionPruneOut))
async def prune_now(
    request: Request,
    principal: Annotated[
        Principal, require("retention:write", audit_action="retention.prune", resource_type="retention_policy")
    ],
) -> Response:
    """Prune now what the policy no longer keeps (the servers also do it every 10 minutes)."""
    return success(await prune(request.app.state.shiplane.db, principal.tenant_id, principal))
