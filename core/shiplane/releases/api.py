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
from shiplane.releases.schemas import (
    ReleaseComparisonOut,
    ReleaseCreate,
    ReleaseDeprecate,
    ReleaseFromLatest,
    ReleaseOut,
    ReleaseReplace,
    ReleaseStateOut,
)
from shiplane.releases.service import LIST_SPEC, ReleaseService

router = APIRouter(prefix="/api/v1/releases", tags=["releases"])

Reader = Annotated[Principal, require("releases:read")]
Reads = Annotated[TenantReads, Depends(tenant_reads)]


def _writer(action: str) -> Any:
    return require("releases:write", audit_action=f"release.{action}", resource_type="release")


@router.post("", status_code=201, responses=returns(ReleaseOut, status=201))
async def create_release(
    body: ReleaseCreate, request: Request, principal: Annotated[Principal, _writer("create")]
) -> Response:
    """A draft (default) or, with ``state: ready``, a sealed release."""
    return await run_write(request, principal, lambda s: ReleaseService(s, principal).create(body))


@router.post("/from-latest", status_code=201, responses=returns(ReleaseOut, status=201))
async def release_from_latest(
    body: ReleaseFromLatest, request: Request, principal: Annotated[Principal, _writer("create")]
) -> Response:
    """A sealed release of the newest stored version of each chosen component, in one call."""
    return await run_write(request, principal, lambda s: ReleaseService(s, principal).from_latest(body))


@router.get("", openapi_extra=list_parameters(LIST_SPEC), responses=returns(ReleaseOut, many=True))
async def list_releases(request: Request, principal: Reader, reads: Reads) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    page = await ReleaseService(None, principal).list_page(reads, params)
    return success(page.items, pagination=page.pagination)


@router.get("/{release_id}", responses=returns(ReleaseOut))
async def get_release(release_id: str, principal: Reader, reads: Reads) -> Response:
    data, version = await ReleaseService(None, principal).read(reads, release_id)
    return success(data, headers={"ETag": etag(version)})


@router.put("/{release_id}", responses=returns(ReleaseOut))
async def replace_release(
    release_id: str, body: ReleaseReplace, request: Request, principal: Annotated[Principal, _writer("update")]
) -> Response:
    """Only a draft changes; ``state: ready`` seals it. A sealed release answers 409 INVALID_STATE."""
    expected = expected_version(request, body.version)
    return await run_write(
        request, principal, lambda s: ReleaseService(s, principal).replace(release_id, body, expected)
    )


@router.delete("/{release_id}", status_code=204)
async def delete_release(
    release_id: str, request: Request, principal: Annotated[Principal, _writer("delete")]
) -> Response:
    """Only while the release has never been promoted."""
    expected = expected_version(request, None)
    return await run_write(request, principal, lambda s: ReleaseService(s, principal).delete(release_id, expected))


@router.get("/{release_id}/state", responses=returns(ReleaseStateOut))
async def release_state(release_id: str, principal: Reader, reads: Reads) -> Response:
    """Per environment, in pipeline order: ``deployed`` or ``never`` (promotions add more)."""
    return success(await ReleaseService(None, principal).state(reads, release_id))


@router.post("/{release_id}/deprecate", responses=returns(ReleaseOut))
async def deprecate_release(
    release_id: str, body: ReleaseDeprecate, request: Request, principal: Annotated[Principal, _writer("deprecate")]
) -> Response:
    return await run_write(request, principal, lambda s: ReleaseService(s, principal).deprecate(release_id, body))


@router.get("/{release_id}/compare/{other_id}", responses=returns(ReleaseComparisonOut))
async def compare_releases(release_id: str, other_id: str, principal: Reader, reads: Reads) -> Response:
    """What changes from this release to the other: components added, removed and changed."""
    return success(await ReleaseService(None, principal).compare(reads, release_id, other_id))
