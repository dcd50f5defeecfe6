from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from shiplane.integrations.schemas import (
    AuditStreamStatusOut,
    DiscoveredItemOut,
    DiscoverRequest,
    IntegrationCreate,
    IntegrationHealthReportOut,
    IntegrationOut,
    IntegrationReplace,
    IntegrationTestOut,
)
from shiplane.integrations.service import LIST_SPEC, IntegrationService, Prepared
from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import success
from shiplane.platform.idempotency import run_write
from shiplane.platform.listing import page_of, parse_list_params
from shiplane.platform.openapi import list_parameters, returns
from shiplane.platform.reads import TenantReads
from shiplane.platform.versioning import etag, expected_version
from shiplane.plugins.catalog import capability_routes
from shiplane.plugins.deps import plugin_reads, plugin_service

# GET /integration-types and /integration-types/{typeId}: the tenant's enabled IntegrationTypes.
types_router = capability_routes("integration-types", "integration_type", "integrations:read")
router = APIRouter(prefix="/api/v1/integrations", tags=["integrations"])

Reader = Annotated[Principal, require("integrations:read")]
Reads = Annotated[TenantReads, Depends(tenant_reads)]


def _service(request: Request, session: AsyncSession, principal: Principal) -> IntegrationService:
    return IntegrationService(plugin_service(request, session, principal))


def _writer(action: str) -> Any:
    return require("integrations:write", audit_action=f"integration.{action}", resource_type="integration")


@router.post("", status_code=201, responses=returns(IntegrationOut, status=201))
async def create_integration(
    body: IntegrationCreate, request: Request, principal: Annotated[Principal, _writer("create")]
) -> Response:
    return await run_write(request, principal, lambda s: _service(request, s, principal).create(body))


@router.get("", openapi_extra=list_parameters(LIST_SPEC), responses=returns(IntegrationOut, many=True))
async def list_integrations(request: Request, principal: Reader, reads: Reads) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    page = await IntegrationService(plugin_reads(request, principal)).list_page(reads, params)
    return success(page.items, pagination=page.pagination)


@router.get("/{integration_id}", responses=returns(IntegrationOut))
async def get_integration(integration_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    data, version = await IntegrationService(plugin_reads(request, principal)).read(reads, integration_id)
    return success(data, headers={"ETag": etag(version)})


@router.put("/{integration_id}", responses=returns(IntegrationOut))
async def replace_integration(
    integration_id: str,
    body: IntegrationReplace,
    request: Request,
    principal: Annotated[Principal, _writer("update")],
) -> Response:
    expected = expected_version(request, body.version)
    return await run_write(
        request, principal, lambda s: _service(request, s, principal).replace(integration_id, body, expected)
    )


@router.delete("/{integration_id}", status_code=204)
async def delete_integration(
    integration_id: str, request: Request, principal: Annotated[Principal, _writer("delete")]
) -> Response:
    expected = expected_version(request, None)
    return await run_write(
        request, principal, lambda s: _service(request, s, principal).delete(integration_id, expected)
    )


async def _prepared(request: Request, principal: Principal, integration_id: str) -> Prepared:
    async with request.app.state.shiplane.db.session(principal.tenant_id, write=False) as session:
        return await _service(request, session, principal).prepare(integration_id)


async def _record(request: Request, principal: Principal, integration_id: str, health: dict[str, Any]) -> None:
    async with request.app.state.shiplane.db.session(principal.tenant_id, write=True) as session:
        await _service(request, session, principal).record(
            integration_id, health["status"], health["message"], health["latencyMs"]
        )


@router.post("/{integration_id}/test", responses=returns(IntegrationTestOut))
async def test_integration(
    integration_id: str, request: Request, principal: Annotated[Principal, require("integrations:write")]
) -> Response:
    """Check the connection: 200 ``{ok, latencyMs, message, details}``, also when it failed."""
    prepared = await _prepared(request, principal, integration_id)
    result = await IntegrationService(plugin_reads(request, principal)).test(prepared)
    status = "ok" if result["ok"] else "failing"
    await _record(request, principal, integration_id, {**result, "status": status})
    return success(result)


@router.get("/{integration_id}/health", responses=returns(IntegrationHealthReportOut))
async def integration_health(integration_id: str, request: Request, principal: Reader) -> Response:
    """The health now (the type's health check, else its connection test) and the last known."""
    prepared = await _prepared(request, principal, integration_id)
    current = await IntegrationService(plugin_reads(request, principal)).current_health(prepared)
    await _record(request, principal, integration_id, current)
    return success({"integrationId": integration_id, "current": current, "lastKnown": prepared.last_known})


@router.post("/{integration_id}/discover", responses=returns(DiscoveredItemOut, many=True))
async def discover(
    integration_id: str,
    request: Request,
    principal: Reader,
    body: DiscoverRequest | None = None,
) -> Response:
    """What the integration offers (repositories, images, refs), a page at a time (page, pageSize)."""
    prepared = await _prepared(request, principal, integration_id)
    items = await IntegrationService(plugin_reads(request, principal)).discover(prepared, body.query if body else {})
    page = page_of(items, request.query_params)
    return success(page.items, pagination=page.pagination)


@router.get(
    "/{integration_id}/audit-stream",
    responses={**returns(AuditStreamStatusOut), 409: {"description": "INVALID_STATE: not a SIEM sink"}},
)
async def audit_stream_status(integration_id: str, request: Request, principal: Reader) -> Response:
    """For a SIEM sink (an integration that can ``send_audit``): how far it has accepted the
    tenant's audit chain (``deliveredSequence``, ``headSequence``, ``behind``) and its
    last error; 409 for an integration that is not a sink."""
    from sqlalchemy import select

    from shiplane.audit.streaming import sink_status, sink_types
    from shiplane.integrations.models import Integration
    from shiplane.platform.errors import ApiError, not_found

    services = request.app.state.shiplane
    async with services.db.session(principal.tenant_id, write=False) as session:
        row = await session.scalar(select(Integration).where(Integration.id == integration_id))
    if row is None:
        raise not_found("integration", integration_id)
    if row.type_id not in sink_types(services.plugins):
        raise ApiError("INVALID_STATE", f"integration type {row.type_id!r} is not a SIEM sink", {"typeId": row.type_id})
    status = await sink_status(services.db, principal.tenant_id, integration_id)
    return success(
        status
        or {
            "deliveredSequence": 0,
            "headSequence": None,
            "behind": None,
            "attempts": 0,
            "lastError": None,
            "nextAttemptAt": None,
        }
    )
