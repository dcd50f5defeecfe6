from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from shiplane.environments.schemas import EnvironmentCreate, EnvironmentReplace
from shiplane.environments.service import LIST_SPEC, EnvironmentService
from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import read_session
from shiplane.platform.envelope import success
from shiplane.platform.idempotency import run_write
from shiplane.platform.listing import parse_list_params
from shiplane.platform.versioning import etag, expected_version
from shiplane.plugins.deps import plugin_service

router = APIRouter(prefix="/api/v1/environments", tags=["environments"])


def _service(request: Request, session: AsyncSession, principal: Principal) -> EnvironmentService:
    return EnvironmentService(session, principal, plugin_service(request, session, principal))


Reader = Annotated[Principal, require("environments:read")]
Session = Annotated[AsyncSession, Depends(read_session)]


@router.post("", status_code=201)
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


@router.get("")
async def list_environments(request: Request, principal: Reader, session: Session) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    service = _service(request, session, principal)
    page = await service.list_page(params)
    return success([await service.out(e) for e in page.items], pagination=page.pagination)


@router.get("/{environment_id}")
async def get_environment(environment_id: str, request: Request, principal: Reader, session: Session) -> Response:
    service = _service(request, session, principal)
    env = await service.get(environment_id)
    return success(await service.out(env), headers={"ETag": etag(env.version)})


@router.put("/{environment_id}")
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
