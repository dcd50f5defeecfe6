from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import rfc3339, success
from shiplane.platform.errors import not_found, validation_error
from shiplane.platform.idempotency import run_write
from shiplane.platform.listing import parse_list_params
from shiplane.platform.openapi import list_parameters, returns
from shiplane.platform.reads import TenantReads
from shiplane.platform.versioning import etag, expected_version
from shiplane.plugins.deps import plugin_reads, plugin_service
from shiplane.targets.schemas import (
    TargetCheckOut,
    TargetCheckRunningOut,
    TargetCreate,
    TargetDriftOut,
    TargetOut,
    TargetReplace,
    TargetStickerOut,
)
from shiplane.targets.service import LIST_SPEC, TargetService

router = APIRouter(prefix="/api/v1/targets", tags=["targets"])

Reader = Annotated[Principal, require("targets:read")]
Reads = Annotated[TenantReads, Depends(tenant_reads)]


def _service(request: Request, session: AsyncSession, principal: Principal) -> TargetService:
    settings = request.app.state.shiplane.settings
    return TargetService(session, principal, plugin_service(request, session, principal), settings)


def _reader(request: Request, principal: Principal) -> TargetService:
    return TargetService(None, principal, plugin_reads(request, principal), request.app.state.shiplane.settings)


@router.post("", status_code=201, responses=returns(TargetOut, status=201))
async def create_target(
    body: TargetCreate,
    request: Request,
    principal: Annotated[Principal, require("targets:write", audit_action="target.create", resource_type="target")],
) -> Response:
    return await run_write(request, principal, lambda s: _service(request, s, principal).create(body))


@router.get("", openapi_extra=list_parameters(LIST_SPEC), responses=returns(TargetOut, many=True))
async def list_targets(request: Request, principal: Reader, reads: Reads) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    page = await _reader(request, principal).list_page(reads, params)
    return success(page.items, pagination=page.pagination)


@router.get("/{target_id}", responses=returns(TargetOut))
async def get_target(target_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    data, version = await _reader(request, principal).read(reads, target_id)
    return success(data, headers={"ETag": etag(version)})


@router.put("/{target_id}", responses=returns(TargetOut))
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


@router.post(
    "/{target_id}/health-check",
    responses={**returns(TargetCheckOut), **returns(TargetCheckRunningOut, status=202)},
)
async def check_target(
    target_id: str,
    request: Request,
    principal: Annotated[Principal, require("targets:write", audit_action="target.check", resource_type="target")],
) -> Response:
    """Run the target type's health check on the target's agent (reading its sticker and
    state too) and wait for it, up to ``wait`` seconds (default 30): 200 with the target's
    health and what the agent found, or 202 with the task while it is still running."""
    wait = _wait_seconds(request)
    services = request.app.state.shiplane
    queued = await run_write(
        request, principal, lambda s: _service(request, s, principal).request_check(target_id, services.agent_tasks)
    )
    if queued.status_code != 202:
        return queued
    task = json.loads(bytes(queued.body))["data"]
    state = await _finished(services.queue, task["taskId"], wait)
    if state is None:
        return success({**task, "state": "running"}, status_code=202)
    reads = await tenant_reads(request)
    reader = _reader(request, principal)
    row = await reads.get(LIST_SPEC, target_id)
    if row is None:  # deleted while the check ran
        raise not_found("target", target_id)
    target = await reader.out(row)
    return success({**task, "state": state, "health": target["health"], "report": reader.report(row)})


@router.get("/{target_id}/sticker", responses=returns(TargetStickerOut))
async def target_sticker(target_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    """The version sticker the target's agent last read from it (``null`` until a check)."""
    row = await reads.get(LIST_SPEC, target_id)
    if row is None:
        raise not_found("target", target_id)
    return success(
        {
            "targetId": row.id,
            "sticker": row.sticker,
            "readAt": rfc3339(row.sticker_read_at) if row.sticker_read_at else None,
        }
    )


@router.get("/{target_id}/drift", responses=returns(TargetDriftOut))
async def target_drift(target_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    """``in_sync``, ``drifted`` (with the differing components) or ``unknown``, as of the last check."""
    row = await reads.get(LIST_SPEC, target_id)
    if row is None:
        raise not_found("target", target_id)
    return success(_reader(request, principal).report(row))


def _wait_seconds(request: Request) -> float:
    raw = request.query_params.get("wait", "30")
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= 60:
        raise validation_error("wait", "seconds to wait, 0 to 60", "out_of_range")
    return value


async def _finished(queue: Any, task_id: str, wait: float) -> str | None:
    """The task's end state (``done``, ``failed``) once it ends within ``wait`` seconds, else None."""
    deadline = time.monotonic() + wait
    while True:
        lease = await queue.lease_of(task_id)
        if lease is not None and lease[0] in ("done", "failed"):
            return str(lease[0])
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        await queue.wait(timeout=min(remaining, 0.25))
