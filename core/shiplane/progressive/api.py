"""PROGDL: A/B releases, and the rollout strategies they use."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import success
from shiplane.platform.errors import validation_error
from shiplane.platform.idempotency import run_write
from shiplane.platform.listing import parse_list_params
from shiplane.platform.openapi import list_parameters, returns
from shiplane.platform.reads import TenantReads
from shiplane.plugins.catalog import capability_routes
from shiplane.plugins.deps import plugin_reads, plugin_service
from shiplane.plugins.service import PluginService
from shiplane.progressive.schemas import ABHealthOut, ABReleaseCreate, ABReleaseOut, ABRollback, ABTrafficOut
from shiplane.progressive.service import LIST_SPEC, ABReleaseService

# GET /rollout-strategies: the tenant's enabled RolloutStrategies.
router = capability_routes("rollout-strategies", "rollout_strategy", "ab-releases:read", with_detail=False)
releases = APIRouter(prefix="/api/v1/ab-releases", tags=["progressive delivery"])

Reader = Annotated[Principal, require("ab-releases:read")]
Reads = Annotated[TenantReads, Depends(tenant_reads)]


def _writer(action: str) -> object:
    return require("ab-releases:write", audit_action=f"ab_release.{action}", resource_type="ab_release")


def _service(request: Request, principal: Principal) -> ABReleaseService:
    services = request.app.state.shiplane
    plugins = PluginService(None, principal, services.plugins, services.secret_box, services.plugin_states)
    return ABReleaseService(services.db, plugins, services.queue)


@releases.post("", status_code=201, responses=returns(ABReleaseOut, status=201))
async def create_ab_release(
    body: ABReleaseCreate, request: Request, principal: Annotated[Principal, _writer("create")]
) -> Response:
    """A draft A/B release: the control (A) and candidate (B) releases in one environment,
    a progressive strategy's steps, a traffic router instance and the analysis."""
    services = request.app.state.shiplane
    db = services.db
    # A probe URL whose host the egress policy refuses now is a 400 (checked again at
    # each connect, on the address dialled).
    for index, probe in enumerate(body.analysis.probes):
        why = await services.egress.check_url(str(probe.url))
        if why:
            raise validation_error(f"analysis.probes[{index}].url", why, "egress")
    steps = await ABReleaseService(db, plugin_reads(request, principal)).plan(body)
    return await run_write(
        request,
        principal,
        lambda s: ABReleaseService(db, plugin_service(request, s, principal)).create(s, body, steps),
    )


@releases.get("", openapi_extra=list_parameters(LIST_SPEC), responses=returns(ABReleaseOut, many=True))
async def list_ab_releases(request: Request, principal: Reader, reads: Reads) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    page = await _service(request, principal).list_page(reads, params)
    return success(page.items, pagination=page.pagination)


@releases.get("/{ab_id}", responses=returns(ABReleaseOut))
async def get_ab_release(ab_id: str, request: Request, principal: Reader) -> Response:
    return success(await _service(request, principal).get(ab_id))


@releases.post("/{ab_id}/start", responses=returns(ABReleaseOut))
async def start_ab_release(ab_id: str, request: Request, principal: Annotated[Principal, _writer("start")]) -> Response:
    """Apply step 1's weights (the candidate must already serve behind the router's candidate side)."""
    return success(await _service(request, principal).act(ab_id, "start"))


@releases.post("/{ab_id}/advance", responses=returns(ABReleaseOut))
async def advance_ab_release(
    ab_id: str, request: Request, principal: Annotated[Principal, _writer("advance")]
) -> Response:
    """The next step now (a manual step, or a paused release resumed), unless the current
    step's last check failed; 409 at the last step."""
    return success(await _service(request, principal).act(ab_id, "advance"))


@releases.post("/{ab_id}/promote", responses=returns(ABReleaseOut))
async def promote_ab_release(
    ab_id: str, request: Request, principal: Annotated[Principal, _writer("promote")]
) -> Response:
    """100% to the candidate; it becomes the environment's current release."""
    return success(await _service(request, principal).act(ab_id, "promote"))


@releases.post("/{ab_id}/rollback", responses=returns(ABReleaseOut))
async def rollback_ab_release(
    ab_id: str, request: Request, principal: Annotated[Principal, _writer("rollback")], body: ABRollback | None = None
) -> Response:
    """100% back to the control release."""
    return success(await _service(request, principal).act(ab_id, "rollback", body.reason if body else ""))


@releases.get("/{ab_id}/traffic", responses=returns(ABTrafficOut))
async def ab_release_traffic(ab_id: str, request: Request, principal: Reader) -> Response:
    """The weights read back from the traffic router now, beside the desired ones."""
    return success(await _service(request, principal).traffic(ab_id))


@releases.get("/{ab_id}/health", responses=returns(ABHealthOut))
async def ab_release_health(ab_id: str, request: Request, principal: Reader) -> Response:
    """Each side's health from its latest checks, and every analysis measurement (query,
    values, threshold, verdict, time)."""
    return success(await _service(request, principal).health(ab_id))
