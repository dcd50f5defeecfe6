from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import success
from shiplane.platform.idempotency import run_write
from shiplane.platform.listing import parse_list_params
from shiplane.platform.openapi import list_parameters, returns
from shiplane.platform.reads import TenantReads
from shiplane.platform.versioning import etag, expected_version
from shiplane.variables.service import (
    LIST_SPEC,
    VariableSetFields,
    VariableSetOut,
    VariableSetReplace,
    VariableSetService,
)

router = APIRouter(prefix="/api/v1/variable-sets", tags=["variables"])
Reader = Annotated[Principal, require("variables:read")]
Reads = Annotated[TenantReads, Depends(tenant_reads)]


def _writer(action: str) -> Any:
    return require("variables:write", audit_action=f"variable_set.{action}", resource_type="variable_set")


def _service(request: Request, session: Any, principal: Principal) -> VariableSetService:
    return VariableSetService(session, principal, request.app.state.shiplane.secret_box)


@router.post("", status_code=201, responses=returns(VariableSetOut, status=201))
async def create_set(
    body: VariableSetFields, request: Request, principal: Annotated[Principal, _writer("create")]
) -> Response:
    """Secret values are sealed and never shown again (``***``)."""
    return await run_write(request, principal, lambda s: _service(request, s, principal).create(body))


@router.get("", openapi_extra=list_parameters(LIST_SPEC), responses=returns(VariableSetOut, many=True))
async def list_sets(request: Request, principal: Reader, reads: Reads) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    page = await _service(request, None, principal).list_page(reads, params)
    return success(page.items, pagination=page.pagination)


@router.get("/{set_id}", responses=returns(VariableSetOut))
async def get_set(set_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    data, version = await _service(request, None, principal).read(reads, set_id)
    return success(data, headers={"ETag": etag(version)})


@router.put("/{set_id}", responses=returns(VariableSetOut))
async def replace_set(
    set_id: str, body: VariableSetReplace, request: Request, principal: Annotated[Principal, _writer("update")]
) -> Response:
    """A new revision; a secret sent back as ``***`` keeps its stored value. Deployments
    already made keep the values they resolved."""
    expected = expected_version(request, body.version)
    return await run_write(
        request, principal, lambda s: _service(request, s, principal).replace(set_id, body, expected)
    )


@router.delete("/{set_id}", status_code=204)
async def delete_set(set_id: str, request: Request, principal: Annotated[Principal, _writer("delete")]) -> Response:
    expected = expected_version(request, None)
    return await run_write(request, principal, lambda s: _service(request, s, principal).delete(set_id, expected))
