from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import success
from shiplane.platform.idempotency import run_write
from shiplane.platform.listing import page_of, parse_list_params
from shiplane.platform.openapi import list_parameters, returns
from shiplane.platform.reads import TenantReads
from shiplane.platform.versioning import etag, expected_version
from shiplane.plugins.deps import plugin_reads, plugin_service
from shiplane.plugins.instances import INSTANCE_LIST_SPEC, InstanceService
from shiplane.plugins.schemas import (
    PluginHealthOut,
    PluginInstanceCreate,
    PluginInstanceOut,
    PluginInstanceReplace,
    PluginOut,
    PluginSummaryOut,
)

router = APIRouter(prefix="/api/v1", tags=["plugins"])

Reader = Annotated[Principal, require("plugins:read")]
Reads = Annotated[TenantReads, Depends(tenant_reads)]


EnableAdmin = Annotated[Principal, require("plugins:admin", audit_action="plugin.enable", resource_type="plugin")]
DisableAdmin = Annotated[Principal, require("plugins:admin", audit_action="plugin.disable", resource_type="plugin")]
CreateAdmin = Annotated[
    Principal, require("plugins:admin", audit_action="plugin_instance.create", resource_type="plugin_instance")
]
UpdateAdmin = Annotated[
    Principal, require("plugins:admin", audit_action="plugin_instance.update", resource_type="plugin_instance")
]
DeleteAdmin = Annotated[
    Principal, require("plugins:admin", audit_action="plugin_instance.delete", resource_type="plugin_instance")
]


@router.get("/plugins", openapi_extra=list_parameters(), responses=returns(PluginSummaryOut, many=True))
async def list_plugins(request: Request, principal: Reader) -> Response:
    plugins = await plugin_reads(request, principal).list_plugins()
    page = page_of(plugins, request.query_params)
    return success(page.items, pagination=page.pagination)


@router.get("/plugins/{plugin_id}", responses=returns(PluginOut))
async def get_plugin(plugin_id: str, request: Request, principal: Reader) -> Response:
    return success(await plugin_reads(request, principal).get_plugin(plugin_id))


@router.post("/plugins/{plugin_id}/enable", responses=returns(PluginOut))
async def enable_plugin(plugin_id: str, request: Request, principal: EnableAdmin) -> Response:
    return await run_write(
        request, principal, lambda s: plugin_service(request, s, principal).set_enabled(plugin_id, True)
    )


@router.post("/plugins/{plugin_id}/disable", responses=returns(PluginOut))
async def disable_plugin(plugin_id: str, request: Request, principal: DisableAdmin) -> Response:
    return await run_write(
        request, principal, lambda s: plugin_service(request, s, principal).set_enabled(plugin_id, False)
    )


@router.get("/plugins/{plugin_id}/health", responses=returns(PluginHealthOut))
async def plugin_health(plugin_id: str, request: Request, principal: Reader) -> Response:
    return success(await plugin_reads(request, principal).health(plugin_id))


@router.post("/plugin-instances", status_code=201, responses=returns(PluginInstanceOut, status=201))
async def create_plugin_instance(
    body: PluginInstanceCreate,
    request: Request,
    principal: CreateAdmin,
) -> Response:
    return await run_write(
        request, principal, lambda s: InstanceService(plugin_service(request, s, principal)).create_instance(body)
    )


@router.get(
    "/plugin-instances",
    openapi_extra=list_parameters(INSTANCE_LIST_SPEC),
    responses=returns(PluginInstanceOut, many=True),
)
async def list_plugin_instances(request: Request, principal: Reader, reads: Reads) -> Response:
    params = parse_list_params(request.query_params, INSTANCE_LIST_SPEC)
    page = await InstanceService(plugin_reads(request, principal)).list_instances(reads, params)
    return success(page.items, pagination=page.pagination)


@router.get("/plugin-instances/{instance_id}", responses=returns(PluginInstanceOut))
async def get_plugin_instance(instance_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    data, version = await InstanceService(plugin_reads(request, principal)).read_instance(reads, instance_id)
    return success(data, headers={"ETag": etag(version)})


@router.put("/plugin-instances/{instance_id}", responses=returns(PluginInstanceOut))
async def replace_plugin_instance(
    instance_id: str,
    body: PluginInstanceReplace,
    request: Request,
    principal: UpdateAdmin,
) -> Response:
    expected = expected_version(request, body.version)
    return await run_write(
        request,
        principal,
        lambda s: InstanceService(plugin_service(request, s, principal)).replace_instance(instance_id, body, expected),
    )


@router.delete("/plugin-instances/{instance_id}", status_code=204)
async def delete_plugin_instance(instance_id: str, request: Request, principal: DeleteAdmin) -> Response:
    expected = expected_version(request, None)
    return await run_write(
        request,
        principal,
        lambda s: InstanceService(plugin_service(request, s, principal)).delete_instance(instance_id, expected),
    )
