"""Routes that list one capability kind, as the registry holds it for the tenant.

Used by the modules that own those kinds (integration types, step types, rollout
strategies): each mounts ``capability_routes`` under its own path.
"""

from typing import Annotated

from fastapi import APIRouter, Request
from starlette.responses import Response

from shiplane.platform.auth import Principal, require
from shiplane.platform.envelope import success
from shiplane.platform.listing import page_of
from shiplane.platform.openapi import list_parameters, returns
from shiplane.plugins.deps import plugin_reads
from shiplane.plugins.schemas import CAPABILITY_OUT
from shiplane.plugins.service import PluginService


def capability_routes(path: str, kind: str, permission: str, *, with_detail: bool = True) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["capabilities"])
    Reader = Annotated[Principal, require(permission)]
    model = CAPABILITY_OUT[kind]

    async def list_capabilities(request: Request, principal: Reader) -> Response:
        found = await plugin_reads(request, principal).capabilities(kind)
        page = page_of([PluginService.capability_out(rc) for rc in found], request.query_params)
        return success(page.items, pagination=page.pagination)

    async def get_capability(capability_id: str, request: Request, principal: Reader) -> Response:
        registered = await plugin_reads(request, principal).capability(kind, capability_id)
        return success(PluginService.capability_out(registered))

    router.add_api_route(
        f"/{path}",
        list_capabilities,
        methods=["GET"],
        name=f"list_{kind}",
        openapi_extra=list_parameters(),
        responses=returns(model, many=True),
    )
    if with_detail:
        router.add_api_route(
            f"/{path}/{{capability_id}}",
            get_capability,
            methods=["GET"],
            name=f"get_{kind}",
            responses=returns(model),
        )
    return router
