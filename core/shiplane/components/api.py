from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from shiplane.components.schemas import (
    ComponentCreate,
    ComponentOut,
    ComponentReplace,
    ComponentSyncOut,
    ComponentVersionOut,
)
from shiplane.components.service import LIST_SPEC, VERSION_SPEC, ComponentService
from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import success
from shiplane.platform.errors import ApiError
from shiplane.platform.idempotency import run_write
from shiplane.platform.listing import parse_list_params
from shiplane.platform.openapi import list_parameters, returns
from shiplane.platform.reads import TenantReads
from shiplane.platform.versioning import etag, expected_version
from shiplane.plugins.deps import plugin_reads, plugin_service

router = APIRouter(prefix="/api/v1/components", tags=["components"])

Reader = Annotated[Principal, require("components:read")]
Reads = Annotated[TenantReads, Depends(tenant_reads)]


def _writer(action: str) -> Any:
    return require("components:write", audit_action=f"component.{action}", resource_type="component")


def _service(request: Request, session: Any, principal: Principal) -> ComponentService:
    return ComponentService(plugin_service(request, session, principal))


@router.post("", status_code=201, responses=returns(ComponentOut, status=201))
async def create_component(
    body: ComponentCreate, request: Request, principal: Annotated[Principal, _writer("create")]
) -> Response:
    return await run_write(request, principal, lambda s: _service(request, s, principal).create(body))


@router.get("", openapi_extra=list_parameters(LIST_SPEC), responses=returns(ComponentOut, many=True))
async def list_components(request: Request, principal: Reader, reads: Reads) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    page = await ComponentService(plugin_reads(request, principal)).list_page(reads, params)
    return success(page.items, pagination=page.pagination)


@router.get("/{component_id}", responses=returns(ComponentOut))
async def get_component(component_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    data, version = await ComponentService(plugin_reads(request, principal)).read(reads, component_id)
    return success(data, headers={"ETag": etag(version)})


@router.put("/{component_id}", responses=returns(ComponentOut))
async def replace_component(
    component_id: str, body: ComponentReplace, request: Request, principal: Annotated[Principal, _writer("update")]
) -> Response:
    expected = expected_version(request, body.version)
    return await run_write(
        request, principal, lambda s: _service(request, s, principal).replace(component_id, body, expected)
    )


@router.delete("/{component_id}", status_code=204)
async def delete_component(
    component_id: str, request: Request, principal: Annotated[Principal, _writer("delete")]
) -> Response:
    expected = expected_version(request, None)
    return await run_write(request, principal, lambda s: _service(request, s, principal).delete(component_id, expected))


@router.post("/{component_id}/sync-versions", responses=returns(ComponentSyncOut))
async def sync_versions(
    component_id: str, request: Request, principal: Annotated[Principal, _writer("sync")]
) -> Response:
    """Ask the integration for the versions and store them: ``{added, updated, removed, ...}``.

    A failure (plugin disabled, system unreachable) is an error and changes no stored version.
    """
    services = request.app.state.shiplane
    started = time.perf_counter()
    outcome = "error"
    try:
        async with services.db.session(principal.tenant_id, write=False) as session:
            component, prepared = await _service(request, session, principal).prepare_sync(component_id)
        source = (component.integration_id, component.reference)
        try:
            selection = await ComponentService(plugin_reads(request, principal)).list_versions(component, prepared)
        except ApiError as exc:
            if exc.code == "INTEGRATION_FAILED":
                async with services.db.session(principal.tenant_id, write=True) as session:
                    await _service(request, session, principal).record_failure(component_id, exc.message)
            raise
        response = await run_write(
            request, principal, lambda s: _service(request, s, principal).store(component_id, source, selection)
        )
        outcome = "ok"
        return response
    except ApiError as exc:
        outcome = {"INTEGRATION_FAILED": "integration_failed", "PLUGIN_DISABLED": "plugin_disabled"}.get(
            exc.code, "error"
        )
        raise
    finally:
        services.metrics.component_syncs.labels(outcome).inc()
        services.metrics.component_sync_duration.observe(time.perf_counter() - started)


@router.get(
    "/{component_id}/versions",
    openapi_extra=list_parameters(VERSION_SPEC),
    responses=returns(ComponentVersionOut, many=True),
)
async def list_versions(component_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    """The stored versions, newest first by semver, then time (``sort=-precedence``)."""
    params = parse_list_params(request.query_params, VERSION_SPEC)
    page = await ComponentService(plugin_reads(request, principal)).versions_page(reads, component_id, params)
    return success(page.items, pagination=page.pagination)
