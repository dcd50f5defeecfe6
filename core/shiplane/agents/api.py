from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from shiplane.agents.schemas import (
    AgentHeartbeatOut,
    AgentOut,
    AgentRegistration,
    AgentRegistrationOut,
    AgentUpdate,
    Heartbeat,
)
from shiplane.agents.service import LIST_SPEC, AgentService
from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import success
from shiplane.platform.idempotency import run_write
from shiplane.platform.listing import parse_list_params
from shiplane.platform.openapi import list_parameters, returns
from shiplane.platform.reads import TenantReads
from shiplane.platform.versioning import etag, expected_version

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])

Reader = Annotated[Principal, require("agents:read")]
Reads = Annotated[TenantReads, Depends(tenant_reads)]


def _service(request: Request, session: AsyncSession | None, principal: Principal) -> AgentService:
    return AgentService(session, principal, request.app.state.shiplane.settings)


@router.post("/register", status_code=201, responses=returns(AgentRegistrationOut, status=201))
async def register_agent(
    body: AgentRegistration,
    request: Request,
    principal: Annotated[Principal, require("agents:register", audit_action="agent.register", resource_type="agent")],
) -> Response:
    return await run_write(request, principal, lambda s: _service(request, s, principal).register(body))


@router.get("", openapi_extra=list_parameters(LIST_SPEC), responses=returns(AgentOut, many=True))
async def list_agents(request: Request, principal: Reader, reads: Reads) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    page = await _service(request, None, principal).list_page(reads, params)
    return success(page.items, pagination=page.pagination)


@router.get("/{agent_id}", responses=returns(AgentOut))
async def get_agent(agent_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    data, version = await _service(request, None, principal).read(reads, agent_id)
    return success(data, headers={"ETag": etag(version)})


@router.put("/{agent_id}", responses=returns(AgentOut))
async def update_agent(
    agent_id: str,
    body: AgentUpdate,
    request: Request,
    principal: Annotated[Principal, require("agents:write", audit_action="agent.update", resource_type="agent")],
) -> Response:
    expected = expected_version(request, body.version)
    return await run_write(
        request, principal, lambda s: _service(request, s, principal).update(agent_id, body, expected)
    )


@router.delete("/{agent_id}", status_code=204)
async def delete_agent(
    agent_id: str,
    request: Request,
    principal: Annotated[Principal, require("agents:write", audit_action="agent.delete", resource_type="agent")],
) -> Response:
    expected = expected_version(request, None)
    return await run_write(request, principal, lambda s: _service(request, s, principal).delete(agent_id, expected))


@router.post("/{agent_id}/heartbeat", responses=returns(AgentHeartbeatOut))
async def heartbeat(
    agent_id: str,
    body: Heartbeat,
    request: Request,
    principal: Annotated[Principal, require("agents:heartbeat")],
) -> Response:
    return await run_write(request, principal, lambda s: _service(request, s, principal).heartbeat(agent_id, body))
