from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import success
from shiplane.platform.idempotency import run_write
from shiplane.platform.listing import parse_list_params
from shiplane.platform.openapi import list_parameters
from shiplane.platform.reads import TenantReads
from shiplane.platform.versioning import etag, expected_version
from shiplane.plugins.deps import plugin_reads, plugin_service
from shiplane.targets.schemas import TargetCreate, TargetReplace
from shiplane.targets.service import LIST_SPEC, TargetService

router = APIRouter(prefix="/api/v1/targets", tags=["targets"])

Reader = Annotated[Principal, require("targets:read")]
Reads = Annotated[TenantReads, Depends(tenant_reads)]


def _service(request: Request, session: AsyncSession, principal: Principal) -> TargetService:
    settings = request.app.state.shiplane.settings
    return TargetService(session, principal, plugin_service(request, session, principal), settings)


def _reader(request: Request, principal: Principal) -> TargetService:
    return TargetService(None, principal, plugin_reads(request, principal), request.app.state.shiplane.settings)


@router.post("", status_code=201)
async def create_target(
    body: TargetCreate,
    request: Request,
    principal: Annotated[Principal, require("targets:write", audit_action="target.create", resource_type="target")],
) -> Response:
    return await run_write(request, principal, lambda s: _service(request, s, principal).create(body))


@router.get("", openapi_extra=list_parameters(LIST_SPEC))
async def list_targets(request: Request, principal: Reader, reads: Reads) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    page = await _reader(request, principal).list_page(reads, params)
    return success(page.items, pagination=page.pagination)


@router.get("/{target_id}")
async def get_target(target_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    data, version = await _reader(request, principal).read(reads, target_id)
    return success(data, headers={"ETag": etag(version)})


@router.put("/{target_id}")
async def replace_target(
    target_id: str,
    body: TargetReplace,
    request: Request,
    principal: Annotated[Principal, require("targets:write", audit_action="target.update", resource_type="target")],
) -> Response:
    expected = expected_version(request, body.version)
    return await run_write(
        request, principal, lambda s: _service(request, s, principal).replace(target_id, body, expected)
    )


@router.delete("/{target_id}", status_code=204)
async def delete_target(
    target_id: str,
    request: Request,
    principal: Annotated[Principal, require("targets:write", audit_action="target.delete", resource_type="target")],
) -> Response:
    expected = expected_version(request, None)
    return await run_write(request, principal, lambda s: _service(request, s, principal).delete(target_id, expected))
