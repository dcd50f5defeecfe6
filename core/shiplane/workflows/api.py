from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import rfc3339, success
from shiplane.platform.errors import not_found
from shiplane.platform.idempotency import run_write
from shiplane.platform.listing import pagination_meta, parse_list_params
from shiplane.platform.openapi import list_parameters, returns
from shiplane.platform.reads import TenantReads
from shiplane.platform.versioning import etag, expected_version
from shiplane.plugins.catalog import capability_routes
from shiplane.plugins.deps import plugin_service
from shiplane.workflows.schemas import (
    RunCreate,
    StepDecision,
    TemplateCreate,
    TemplateReplace,
    WorkflowArtifactOut,
    WorkflowRunDetailOut,
    WorkflowRunOut,
    WorkflowStepLogsOut,
    WorkflowStepOut,
    WorkflowTemplateOut,
    WorkflowValidationOut,
    run_out,
)
from shiplane.workflows.service import (
    RUN_SPEC,
    TEMPLATE_SPEC,
    WorkflowService,
    artifacts_of,
    run_or_404,
    steps_of,
)

# GET /step-types and /step-types/{type}: the tenant's enabled StepTypes.
router = capability_routes("step-types", "step_type", "workflows:read")
templates = APIRouter(prefix="/api/v1/workflow-templates", tags=["workflows"])
runs = APIRouter(prefix="/api/v1/workflow-runs", tags=["workflows"])

Reader = Annotated[Principal, require("workflows:read")]
Reads = Annotated[TenantReads, Depends(tenant_reads)]


def _template_writer(action: str) -> Any:
    return require("workflows:write", audit_action=f"workflow_template.{action}", resource_type="workflow_template")


def _runner(action: str) -> Any:
    return require("workflows:run", audit_action=f"workflow_run.{action}", resource_type="workflow_run")


def _service(request: Request, session: Any, principal: Principal) -> WorkflowService:
    return WorkflowService(plugin_service(request, session, principal), request.app.state.shiplane.queue)


async def _read(request: Request, principal: Principal, work: Any) -> Any:
    async with request.app.state.shiplane.db.session(principal.tenant_id, write=False) as session:
        return await work(session)


# -- templates -----------------------------------------------------------------------------------


@templates.post("", status_code=201, responses=returns(WorkflowTemplateOut, status=201))
async def create_template(
    body: TemplateCreate, request: Request, principal: Annotated[Principal, _template_writer("create")]
) -> Response:
    return await run_write(request, principal, lambda s: _service(request, s, principal).create_template(body))


@templates.get("", openapi_extra=list_parameters(TEMPLATE_SPEC), responses=returns(WorkflowTemplateOut, many=True))
async def list_templates(request: Request, principal: Reader, reads: Reads) -> Response:
    params = parse_list_params(request.query_params, TEMPLATE_SPEC)
    page = await _read(request, principal, lambda s: _service(request, s, principal).list_templates(reads, params))
    return success(page.items, pagination=page.pagination)


@templates.get("/{template_id}", responses=returns(WorkflowTemplateOut))
async def get_template(
    template_id: str,
    request: Request,
    principal: Reader,
    template_version: Annotated[int | None, Query(alias="templateVersion", ge=1, le=2**31 - 1)] = None,
) -> Response:
    """The current definition, or ``?templateVersion=N`` (runs pin the version they started with)."""
    data, version = await _read(
        request, principal, lambda s: _service(request, s, principal).read_template(template_id, template_version)
    )
    return success(data, headers={"ETag": etag(version)})


@templates.put("/{template_id}", responses=returns(WorkflowTemplateOut))
async def replace_template(
    template_id: str,
    body: TemplateReplace,
    request: Request,
    principal: Annotated[Principal, _template_writer("update")],
) -> Response:
    """A new version of the definition (``currentVersion`` + 1); runs keep theirs."""
    expected = expected_version(request, body.version)
    return await run_write(
        request, principal, lambda s: _service(request, s, principal).replace_template(template_id, body, expected)
    )


@templates.delete("/{template_id}", status_code=204)
async def delete_template(
    template_id: str, request: Request, principal: Annotated[Principal, _template_writer("delete")]
) -> Response:
    expected = expected_version(request, None)
    return await run_write(
        request, principal, lambda s: _service(request, s, principal).delete_template(template_id, expected)
    )


@templates.post("/{template_id}/validate", responses=returns(WorkflowValidationOut))
async def validate_template(
    template_id: str,
    request: Request,
    principal: Reader,
    template_version: Annotated[int | None, Query(alias="templateVersion", ge=1, le=2**31 - 1)] = None,
) -> Response:
    """Every problem of the definition at once: ``{valid, problems: [{node, field, code, message}]}``."""
    return success(
        await _read(
            request, principal, lambda s: _service(request, s, principal).validate(template_id, template_version)
        )
    )


# -- runs ----------------------------------------------------------------------------------------


@runs.post("", status_code=201, responses=returns(WorkflowRunOut, status=201))
async def create_run(body: RunCreate, request: Request, principal: Annotated[Principal, _runner("create")]) -> Response:
    """Start a run of a valid template (422 TEMPLATE_INVALID lists the problems otherwise)."""
    return await run_write(
        request,
        principal,
        lambda s: _service(request, s, principal).create_run(
            body.template_id, body.template_version, body.inputs, body.context
        ),
    )


@runs.get("", openapi_extra=list_parameters(RUN_SPEC), responses=returns(WorkflowRunOut, many=True))
async def list_runs(request: Request, principal: Reader, reads: Reads) -> Response:
    params = parse_list_params(request.query_params, RUN_SPEC)
    page = await reads.page(RUN_SPEC, params)
    return success([run_out(row) for row in page.items], pagination=page.pagination)


@runs.get("/{run_id}", responses=returns(WorkflowRunDetailOut))
async def get_run(run_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    run = await run_or_404(reads, run_id)
    data = run_out(run)
    data["steps"] = await _read(request, principal, lambda s: steps_of(s, run))
    return success(data)


@runs.post("/{run_id}/pause", responses=returns(WorkflowRunOut))
async def pause_run(run_id: str, request: Request, principal: Annotated[Principal, _runner("pause")]) -> Response:
    """No new step starts until resumed (running steps finish)."""
    return await run_write(request, principal, lambda s: _service(request, s, principal).act(run_id, "pause"))


@runs.post("/{run_id}/resume", responses=returns(WorkflowRunOut))
async def resume_run(run_id: str, request: Request, principal: Annotated[Principal, _runner("resume")]) -> Response:
    """Steps start again where the run was paused."""
    return await run_write(request, principal, lambda s: _service(request, s, principal).act(run_id, "resume"))


@runs.post("/{run_id}/cancel", responses=returns(WorkflowRunOut))
async def cancel_run(run_id: str, request: Request, principal: Annotated[Principal, _runner("cancel")]) -> Response:
    """Pending steps are cancelled, running ones asked to stop; the run ends `cancelled`."""
    return await run_write(request, principal, lambda s: _service(request, s, principal).act(run_id, "cancel"))


@runs.post("/{run_id}/steps/{node_id}/decision", responses=returns(WorkflowStepOut))
async def decide_step(
    run_id: str,
    node_id: str,
    body: StepDecision,
    request: Request,
    principal: Annotated[
        Principal,
        require(
            "workflows:run",
            audit_action="workflow_run.decide",
            resource_type="workflow_run",
            alternatives=("workflows:approve",),
        ),
    ],
) -> Response:
    """Decide a waiting step. Guided failure (a step that failed with ``onFailure: ask``):
    ``retry``, ``skip`` or ``abort`` it (permission ``workflows:run``). A step waiting for
    people (``approval``, ``manual``): one of the actions its ``wait`` offers (permission
    ``workflows:approve``, and its roles, users and separation of duties). 409
    INVALID_STATE for a step that is not waiting or an action not offered."""
    return await run_write(
        request, principal, lambda s: _service(request, s, principal).decide(run_id, node_id, body.action, body.comment)
    )


@runs.get("/{run_id}/steps", responses=returns(WorkflowStepOut, many=True))
async def list_steps(run_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    run = await run_or_404(reads, run_id)
    steps = await _read(request, principal, lambda s: steps_of(s, run))
    return success(steps, pagination=pagination_meta(1, max(len(steps), 1), len(steps)))


@runs.get("/{run_id}/steps/{node_id}", responses=returns(WorkflowStepOut))
async def get_step(run_id: str, node_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    run = await run_or_404(reads, run_id)
    for step in await _read(request, principal, lambda s: steps_of(s, run)):
        if step["nodeId"] == node_id:
            return success(step)
    raise not_found("step", node_id)


@runs.get("/{run_id}/steps/{node_id}/logs", responses=returns(WorkflowStepLogsOut))
async def step_logs(
    run_id: str,
    node_id: str,
    request: Request,
    principal: Reader,
    reads: Reads,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    """The step's log lines in order: ``offset`` lines skipped, at most ``limit``."""
    run = await run_or_404(reads, run_id)
    if node_id not in {n["id"] for n in run.nodes}:
        raise not_found("step", node_id)

    async def read(session: Any) -> list[Any]:
        from sqlalchemy import select

        from shiplane.workflows.models import WorkflowEvent

        rows = await session.scalars(
            select(WorkflowEvent)
            .where(WorkflowEvent.run_id == run_id, WorkflowEvent.node_id == node_id, WorkflowEvent.kind == "log")
            .order_by(WorkflowEvent.seq)
            .offset(offset)
            .limit(limit + 1)
        )
        return list(rows)

    rows = await _read(request, principal, read)
    lines = [
        {"offset": offset + i, "seq": r.seq, "at": rfc3339(r.at), "line": r.data.get("line", "")}
        for i, r in enumerate(rows[:limit])
    ]
    return success({"nodeId": node_id, "offset": offset, "lines": lines, "hasMore": len(rows) > limit})


@runs.get("/{run_id}/steps/{node_id}/artifacts", responses=returns(WorkflowArtifactOut, many=True))
async def step_artifacts(run_id: str, node_id: str, request: Request, principal: Reader, reads: Reads) -> Response:
    """The step's artifacts: name, content type, size and digest; download with ``?name=``."""
    run = await run_or_404(reads, run_id)
    if node_id not in {n["id"] for n in run.nodes}:
        raise not_found("step", node_id)
    name = request.query_params.get("name")
    artifacts = await _read(request, principal, lambda s: artifacts_of(s, run_id, node_id))
    if name is not None:
        for artifact in artifacts:
            if artifact.name == name:
                return Response(
                    artifact.content,
                    media_type=artifact.content_type,
                    headers={"Digest": artifact.digest, "Content-Disposition": f'attachment; filename="{name}"'},
                )
        raise not_found("artifact", name)
    items = [
        {
            "name": a.name,
            "contentType": a.content_type,
            "size": a.size,
            "digest": a.digest,
            "createdAt": rfc3339(a.created_at),
        }
        for a in artifacts
    ]
    return success(items, pagination=pagination_meta(1, max(len(items), 1), len(items)))
