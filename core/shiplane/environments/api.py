from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from shiplane.environments.freeze import FreezeWindowService
from shiplane.environments.schemas import (
    EnvironmentCreate,
    EnvironmentOut,
    EnvironmentReplace,
    FreezeWindowCreate,
    FreezeWindowOut,
)
from shiplane.environments.service import LIST_SPEC, EnvironmentService
from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import success
from shiplane.platform.idempotency import run_write
from shiplane.platform.listing import page_of, parse_list_params
from shiplane.platform.openapi import list_parameters, returns
from shiplane.platform.reads import TenantReads
from shiplane.platform.versioning import etag, expected_version
from shiplane.plugins.deps import plugin_reads, plugin_service

router = APIRouter(prefix="/api/v1/environments", tags=["environments"])


def _service(request: Request, session: AsyncSession, principal: Principal) -> EnvironmentService:
    return EnvironmentService(session, principal, plugin_service(request, session, principal))


def _reader(request: Request, principal: Principal) -> EnvironmentService:
    return EnvironmentService(None, principal, plugin_reads(request, principal))


Reader = Annotated[Principal, require("environments:read")]
Reads = Annotated[TenantReads, Depends(tenant_reads)]


@router.post("", status_code=201, responses=returns(EnvironmentOut, status=201))
async def create_environment(
    body: EnvironmentCreate,
    request: Request,
    principal: Annotated[
        Principal, require("environments:write", audit_action="environment.create", resource_type="environment")
    ],
) -> Response:
    return await run_write(
        request,
        principal,
        lambda s: _service(request, s, principal).create(body),
    )


@router.get("", openapi_extra=list_parameters(LIST_SPEC), responses=returns(EnvironmentOut, many=True))
async def list_environments(request: Request, principal: Reader, reads: Reads) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    page = await _reader(request, principal).list_page(reads, params)
    return success(page.items, pagination=page.pagination)


@router.get("/{environment_id}", responses=returns(EnvironmentOut))
async def get_environment(environment_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    data, version = await _reader(request, principal).read(reads, environment_id)
    return success(data, headers={"ETag": etag(version)})


@router.put("/{environment_id}", responses=returns(EnvironmentOut))
async def replace_environment(
    environment_id: str,
    body: EnvironmentReplace,
    request: Request,
    principal: Annotated[
        Principal, require("environments:write", audit_action="environment.update", resource_type="environment")
    ],
) -> Response:
    expected = expected_version(request, body.version)
    return await run_write(
        request,
        principal,
        lambda s: _service(request, s, principal).replace(environment_id, body, expected),
    )


@router.delete("/{environment_id}", status_code=204)
async def delete_environment(
    environment_id: str,
    request: Request,
    principal: Annotated[
        Principal, require("environments:write", audit_action="environment.delete", resource_type="environment")
    ],
) -> Response:
    expected = expected_version(request, None)
    return await run_write(
        request,
        principal,
        lambda s: _service(request, s, principal).delete(environment_id, expected),
    )


# -- freeze windows ------------------------------------------------------------------------------


@router.post("/{environment_id}/freeze-windows", status_code=201, responses=returns(FreezeWindowOut, status=201))
async def create_freeze_window(
    environment_id: str,
    body: FreezeWindowCreate,
    request: Request,
    principal: Annotated[
        Principal, require("environments:write", audit_action="freeze_window.create", resource_type="freeze_window")
    ],
) -> Response:
    return await run_write(request, principal, lambda s: FreezeWindowService(s, principal).create(environment_id, body))


@router.get(
    "/{environment_id}/freeze-windows", openapi_extra=list_parameters(), responses=returns(FreezeWindowOut, many=True)
)
async def list_freeze_windows(environment_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    page = page_of(await FreezeWindowService(None, principal).list_for(reads, environment_id), request.query_params)
    return success(page.items, pagination=page.pagination)


@router.delete("/{environment_id}/freeze-windows/{window_id}", status_code=204)
async def delete_freeze_window(
    environment_id: str,
    window_id: str,
    request: Request,
    principal: Annotated[
        Principal, require("environments:write", audit_action="freeze_window.delete", resource_type="freeze_window")
    ],
) -> Response:
    return await run_write(
        request, principal, lambda s: FreezeWindowService(s, principal).delete(environment_id, window_id)
    )
