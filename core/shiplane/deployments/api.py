from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from shiplane.deployments.rollbacks import RollbackCreate, RollbackService
from shiplane.deployments.service import (
    LIST_SPEC,
    DeploymentArtifactOut,
    DeploymentJobDetailOut,
    DeploymentJobOut,
    DeploymentReads,
    DeploymentTaskLogsOut,
    DeploymentTaskOut,
    artifact_out,
    task_out,
)
from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import success
from shiplane.platform.idempotency import run_write
from shiplane.platform.listing import pagination_meta, parse_list_params
from shiplane.platform.openapi import download, list_parameters, returns
from shiplane.platform.reads import TenantReads
from shiplane.plugins.deps import plugin_service

router = APIRouter(prefix="/api/v1/deployment-jobs", tags=["deployments"])
rollbacks = APIRouter(prefix="/api/v1/rollbacks", tags=["deployments"])

Reader = Annotated[Principal, require("deployments:read")]
Reads = Annotated[TenantReads, Depends(tenant_reads)]


def _reads(request: Request, principal: Principal) -> DeploymentReads:
    return DeploymentReads(request.app.state.shiplane.db, principal)


@router.get("", openapi_extra=list_parameters(LIST_SPEC), responses=returns(DeploymentJobOut, many=True))
async def list_jobs(request: Request, principal: Reader, reads: Reads) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    page = await _reads(request, principal).list_page(reads, params)
    return success(page.items, pagination=page.pagination)


@router.get("/{job_id}", responses=returns(DeploymentJobDetailOut))
async def get_job(job_id: str, request: Request, principal: Reader) -> Response:
    """The job with its task counts by state."""
    return success(await _reads(request, principal).job(job_id))


@router.get("/{job_id}/tasks", responses=returns(DeploymentTaskOut, many=True))
async def list_tasks(job_id: str, request: Request, principal: Reader) -> Response:
    """One task per target, by batch then target name."""
    found = await _reads(request, principal).tasks(job_id)
    return success(found, pagination=pagination_meta(1, max(len(found), 1), len(found)))


@router.get("/{job_id}/tasks/{task_id}", responses=returns(DeploymentTaskOut))
async def get_task(job_id: str, task_id: str, request: Request, principal: Reader) -> Response:
    return success(task_out(await _reads(request, principal).task(job_id, task_id)))


@router.get("/{job_id}/tasks/{task_id}/logs", responses=returns(DeploymentTaskLogsOut))
async def task_logs(
    job_id: str,
    task_id: str,
    request: Request,
    principal: Reader,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    """The lines the target's agent logged while deploying: ``offset`` skipped, at most ``limit``."""
    task = await _reads(request, principal).task(job_id, task_id)
    lines = list(task.log or [])
    page = [{"offset": offset + i, "line": line} for i, line in enumerate(lines[offset : offset + limit])]
    return success({"taskId": task_id, "offset": offset, "lines": page, "hasMore": offset + limit < len(lines)})


@router.get("/{job_id}/artifacts", responses=returns(DeploymentArtifactOut, many=True))
async def list_artifacts(job_id: str, request: Request, principal: Reader) -> Response:
    """The rendered manifest (``manifest.json``), the stickers left (``stickers.json``) and
    the variables resolved (``variables.json``, secrets ``***``)."""
    found = await _reads(request, principal).artifacts(job_id)
    return success(found, pagination=pagination_meta(1, max(len(found), 1), len(found)))


@router.get("/{job_id}/artifacts/{artifact_id}", responses=download("application/json", "application/octet-stream"))
async def download_artifact(job_id: str, artifact_id: str, request: Request, principal: Reader) -> Response:
    """The artifact's bytes, with its content type and a ``Digest`` header."""
    row = await _reads(request, principal).artifact(job_id, artifact_id)
    meta = artifact_out(row)
    return Response(
        row.content,
        media_type=row.content_type,
        headers={"Digest": meta["digest"], "Content-Disposition": f'attachment; filename="{row.name}"'},
    )


@rollbacks.post("", status_code=201, responses=returns(DeploymentJobOut, status=201))
async def create_rollback(
    body: RollbackCreate,
    request: Request,
    principal: Annotated[
        Principal, require("rollbacks:create", audit_action="rollback.create", resource_type="deployment_job")
    ],
) -> Response:
    """Roll an environment (or a job's environment) back to an earlier release (default: the
    previous successful one there): a ``rollback`` deployment job, run at once, with no
    gates or approvals."""
    queue = request.app.state.shiplane.queue
    return await run_write(
        request, principal, lambda s: RollbackService(plugin_service(request, s, principal), queue).create(body)
    )


@rollbacks.get("", openapi_extra=list_parameters(LIST_SPEC), responses=returns(DeploymentJobOut, many=True))
async def list_rollbacks(
    request: Request, principal: Annotated[Principal, require("rollbacks:read")], reads: Reads
) -> Response:
    """Rollback jobs (deployment jobs of kind ``rollback``), newest first; the same sorts and
    filters as ``GET /deployment-jobs``."""
    query = dict(request.query_params)
    try:
        given = json.loads(query.get("filter") or "{}")
    except ValueError:
        given = None
    if isinstance(given, dict):
        query["filter"] = json.dumps({**given, "kind": "rollback"})
    params = parse_list_params(query, LIST_SPEC)
    page = await _reads(request, principal).list_page(reads, params)
    return success(page.items, pagination=page.pagination)
