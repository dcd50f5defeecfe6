"""Workflow templates (versioned) and runs of one tenant: the API's side of the engine."""

from __future__ import annotations

from typing import Any

from shiplane_sdk.patterns import schema_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.engine.queue import WorkQueue
from shiplane.platform.database import new_id, utcnow
from shiplane.platform.envelope import rfc3339
from shiplane.platform.errors import ApiError, FieldError, not_found, validation_error
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.listing import ListField, ListParams, ListSpec, Page
from shiplane.platform.reads import TenantReads
from shiplane.platform.secrets import MASK, keep_masked, moved_destinations, seal, secret_paths_holding
from shiplane.platform.versioning import check_version, etag
from shiplane.platform.writes import audit_change, ensure_name_free, flush_change
from shiplane.plugins.service import PluginService
from shiplane.workflows.engine import add_events, advance, enqueue_step, lock_run, set_step
from shiplane.workflows.models import (
    WorkflowArtifact,
    WorkflowEvent,
    WorkflowRun,
    WorkflowStep,
    WorkflowTemplate,
    WorkflowTemplateVersion,
)
from shiplane.workflows.schemas import TemplateFields, node_in, run_out, step_out, template_out
from shiplane.workflows.states import DECISIONS, run_transition, step_transition
from shiplane.workflows.validation import Problem, validate_definition, validate_version

TEMPLATE_SPEC = ListSpec(
    WorkflowTemplate,
    fields={
        "name": ListField(WorkflowTemplate.name, "string", unique=True),
        "createdAt": ListField(WorkflowTemplate.created_at, "datetime"),
        "updatedAt": ListField(WorkflowTemplate.updated_at, "datetime"),
    },
    default_sort="name",
)
RUN_SPEC = ListSpec(
    WorkflowRun,
    fields={
        "state": ListField(WorkflowRun.state, "string"),
        "templateId": ListField(WorkflowRun.template_id, "string"),
        "createdAt": ListField(WorkflowRun.created_at, "datetime"),
        "updatedAt": ListField(WorkflowRun.updated_at, "datetime"),
    },
    default_sort="-createdAt",
)
_UNIQUE = "uq_workflow_templates_tenant_name"

#: The tenant's default deployment workflow, made by the first promotion that needs it.
DEFAULT_DEPLOY_TEMPLATE = "shiplane-deploy"


def problems_error(problems: list[Problem], template_id: str) -> ApiError:
    return ApiError(
        "TEMPLATE_INVALID",
        f"the workflow template has {len(problems)} problem(s): " + "; ".join(p.message for p in problems[:3]),
        {"templateId": template_id, "problems": [p.out() for p in problems]},
    )


class WorkflowService:
    def __init__(self, plugins: PluginService, queue: WorkQueue | None = None) -> None:
        self.plugins = plugins
        self.queue = queue

    @property
    def session(self) -> AsyncSession:
        return self.plugins.session

    # -- templates ----------------------------------------------------------------------------

    async def _definition(self, template: Any, number: int | None = None) -> WorkflowTemplateVersion:
        wanted = number or template.current_version
        row = await self.session.scalar(
            select(WorkflowTemplateVersion).where(
                WorkflowTemplateVersion.template_id == template.id, WorkflowTemplateVersion.number == wanted
            )
        )
        if row is None:
            raise not_found("workflow template version", f"{template.id}@{wanted}")
        return row

    async def get_template(self, template_id: str) -> WorkflowTemplate:
        row = await self.session.scalar(select(WorkflowTemplate).where(WorkflowTemplate.id == template_id))
        if row is None:
            raise not_found("workflow template", template_id)
        return row

    async def read_template(self, template_id: str, number: int | None = None) -> tuple[dict[str, Any], int]:
        row = await self.get_template(template_id)
        return template_out(row, await self._definition(row, number)), row.version

    async def list_templates(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(TEMPLATE_SPEC, params)
        items = []
        for row in page.items:
            items.append(template_out(row, await self._definition(row)))
        return Page(items, page.pagination)

    def _sealed_nodes(self, fields: TemplateFields, previous: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        """The nodes to store: each step type's secret config fields sealed (writeOnly in its
        schema); ``***`` keeps the previous version's value for the same node and type, while
        the fields that decide where it goes are unchanged."""
        before = {n["id"]: n for n in previous or []}
        nodes = []
        for index, node in enumerate(fields.nodes):
            stored = node_in(node)
            registered = self.plugins.registry.capabilities.get("step_type", {}).get(node.type)
            if registered is not None:
                capability = registered.capability
                paths = capability.secret_fields()
                config = stored["config"]
                old = before.get(node.id)
                kept = secret_paths_holding(config, paths, MASK)
                if kept and old is not None and old["type"] == node.type:
                    moved = moved_destinations(config, old.get("config") or {}, capability.destination_fields())
                    if moved:
                        raise validation_error(
                            f"nodes.{index}.config.{kept[0]}",
                            f"{', '.join(moved)} changed: enter the secret again",
                            "secret_required",
                        )
                    config = keep_masked(config, old.get("config") or {}, paths)
                unresolved = secret_paths_holding(config, paths, MASK)
                if unresolved:
                    raise validation_error(
                        f"nodes.{index}.config.{unresolved[0]}",
                        "send the secret itself; *** only keeps a stored one",
                        "secret_required",
                    )
                stored["config"] = seal(config, paths, self.plugins.box)
            nodes.append(stored)
        return nodes

    def _new_version(
        self,
        template: WorkflowTemplate,
        number: int,
        fields: TemplateFields,
        previous: list[dict[str, Any]] | None = None,
    ) -> WorkflowTemplateVersion:
        return WorkflowTemplateVersion(
            id=new_id(),
            tenant_id=template.tenant_id,
            template_id=template.id,
            number=number,
            inputs_schema=fields.inputs_schema,
            nodes=self._sealed_nodes(fields, previous),
            created_by=self.plugins.principal.user_id,
        )

    async def _guard_deployment_template(self, name: str, template_id: str | None) -> None:
        """The default deployment workflow (``shiplane-deploy``) and every environment's own
        run at each promotion, past its gates and approvals: changing one takes the
        permission that chooses an environment's template (``environments:write``)."""
        from shiplane.environments.models import Environment

        principal = self.plugins.principal
        if principal.can("environments:write"):
            return
        used = None
        if template_id is not None:
            used = await self.session.scalar(
                select(Environment.name).where(Environment.deployment_template_id == template_id).limit(1)
            )
        if name == DEFAULT_DEPLOY_TEMPLATE or used is not None:
            why = f"environment {used!r} deploys with it" if used else "it is the default deployment workflow"
            raise ApiError(
                "FORBIDDEN",
                f"workflow template {name!r} cannot be changed without environments:write: {why}",
                {"permission": "environments:write"},
            )

    async def create_template(self, fields: TemplateFields, *, system: bool = False) -> WriteResult:
        if not system:
            await self._guard_deployment_template(fields.name, None)
        await ensure_name_free(self.session, WorkflowTemplate, fields.name, None, "workflow template")
        row = WorkflowTemplate(
            id=new_id(),
            tenant_id=self.plugins.principal.tenant_id,
            name=fields.name,
            description=fields.description,
            current_version=1,
        )
        self.session.add(row)
        await flush_change(self.session, "workflow template", _UNIQUE, row.name)
        definition = self._new_version(row, 1, fields)
        self.session.add(definition)
        await self.session.flush()
        data = template_out(row, definition)
        await audit_change(
            self.session, self.plugins.principal, "workflow_template.create", "workflow_template", row.id, None, data
        )
        return WriteResult(data, 201, {"ETag": etag(row.version), "Location": f"/api/v1/workflow-templates/{row.id}"})

    async def replace_template(self, template_id: str, fields: TemplateFields, expected: int | None) -> WriteResult:
        row = await self.get_template(template_id)
        check_version("workflow template", row.version, expected)
        await self._guard_deployment_template(row.name, row.id)
        await self._guard_deployment_template(fields.name, None)
        current = await self._definition(row)
        before = template_out(row, current)
        if fields.name != row.name:
            await ensure_name_free(self.session, WorkflowTemplate, fields.name, row.id, "workflow template")
        row.name, row.description = fields.name, fields.description
        row.current_version += 1
        definition = self._new_version(row, row.current_version, fields, current.nodes)
        self.session.add(definition)
        await flush_change(self.session, "workflow template", _UNIQUE, row.name)
        data = template_out(row, definition)
        await audit_change(
            self.session, self.plugins.principal, "workflow_template.update", "workflow_template", row.id, before, data
        )
        return WriteResult(data, 200, {"ETag": etag(row.version)})

    async def delete_template(self, template_id: str, expected: int | None) -> WriteResult:
        row = await self.get_template(template_id)
        check_version("workflow template", row.version, expected)
        await self._guard_deployment_template(row.name, row.id)
        active = await self.session.scalar(
            select(func.count())
            .select_from(WorkflowRun)
            .where(WorkflowRun.template_id == row.id, WorkflowRun.state.in_(("running", "paused", "cancelling")))
        )
        if active:
            raise ApiError(
                "RESOURCE_IN_USE", f"workflow template {row.name!r} has {active} active run(s)", {"activeRuns": active}
            )
        before = template_out(row, await self._definition(row))
        await self.session.delete(row)
        await flush_change(self.session, "workflow template", _UNIQUE, row.name)
        await audit_change(
            self.session, self.plugins.principal, "workflow_template.delete", "workflow_template", row.id, before, None
        )
        return WriteResult(None, 204)

    async def validate(self, template_id: str, number: int | None = None) -> dict[str, Any]:
        row = await self.get_template(template_id)
        definition = await self._definition(row, number)
        problems = await validate_definition(self.plugins, definition.inputs_schema, definition.nodes)
        return {
            "templateId": row.id,
            "templateVersion": definition.number,
            "valid": not problems,
            "problems": [p.out() for p in problems],
        }

    # -- runs ---------------------------------------------------------------------------------

    async def create_run(
        self, template_id: str, number: int | None, inputs: dict[str, Any], context: dict[str, Any]
    ) -> WriteResult:
        assert self.queue is not None
        try:
            template = await self.get_template(template_id)
        except ApiError:
            raise ApiError(
                "VALIDATION_ERROR",
                f"no workflow template {template_id!r}",
                None,
                [FieldError("templateId", f"no workflow template {template_id!r}", "unknown")],
            ) from None
        definition = await self._definition(template, number)
        problems = await validate_version(self.plugins, definition.id, definition.inputs_schema, definition.nodes)
        if problems:
            raise problems_error(problems, template.id)
        errors = sorted(
            schema_validator(definition.inputs_schema).iter_errors(inputs), key=lambda e: list(e.absolute_path)
        )
        if errors:
            raise ApiError(
                "VALIDATION_ERROR",
                "the inputs do not match the template's inputs schema",
                None,
                [
                    FieldError(
                        ".".join(["inputs", *(str(p) for p in e.absolute_path)]), e.message[:500], str(e.validator)
                    )
                    for e in errors[:50]
                ],
            )
        tenant = self.plugins.principal.tenant_id
        run = WorkflowRun(
            id=new_id(),
            tenant_id=tenant,
            template_id=template.id,
            template_version=definition.number,
            nodes=definition.nodes,
            inputs=inputs,
            context=context,
            state="running",
            created_by=self.plugins.principal.user_id,
            started_at=utcnow(),
            seq=0,
        )
        self.session.add(run)
        await self.session.flush()
        for node in definition.nodes:
            self.session.add(
                WorkflowStep(
                    id=new_id(), tenant_id=tenant, run_id=run.id, node_id=node["id"], type=node["type"], state="pending"
                )
            )
        await self.session.flush()
        add_events(self.session, run, [(None, "run", {"state": "running"})])
        await advance(self.session, self.queue, run)
        await self.session.flush()
        data = run_out(run)
        await audit_change(
            self.session, self.plugins.principal, "workflow_run.create", "workflow_run", run.id, None, data
        )
        return WriteResult(data, 201, {"Location": f"/api/v1/workflow-runs/{run.id}"})

    async def decide(self, run_id: str, node_id: str, action: str, comment: str) -> WriteResult:
        """A person's decision on a step that failed with ``onFailure: ask``: retry it, skip it
        (its dependants run) or abort it (it fails, and the run with it). Audited."""
        assert self.queue is not None
        run = await lock_run(self.session, run_id)
        if run is None:
            raise not_found("workflow run", run_id)
        step = await self.session.scalar(
            select(WorkflowStep).where(WorkflowStep.run_id == run_id, WorkflowStep.node_id == node_id)
        )
        if step is None:
            raise not_found("step", node_id)
        if run.state not in ("running", "paused"):
            raise ApiError("INVALID_STATE", f"the run is {run.state}", {"state": run.state, "action": action})
        if step.wait is not None and step.state in ("waiting", "queued", "running"):
            return await self._decide_waiting(run, step, action, comment)
        if action not in DECISIONS:
            raise ApiError(
                "INVALID_STATE",
                f"a {step.state} step cannot {action}: only a step waiting for people can be {action}d",
                {"state": step.state, "action": action},
            )
        self._require("workflows:run", action)
        new = step_transition(step.state, action)
        before = step_out(step)
        who = self.plugins.principal.user_id
        note = f"{action} by {who}" + (f": {comment}" if comment else "")
        values: dict[str, Any] = {"message": note[:4000]}
        if new == "queued":
            values["decisions"] = []  # a retried step starts again from no decisions
        if new != "queued":
            values["finished_at"] = utcnow()
        if not await set_step(self.session, step.id, step.state, new, **values):
            raise ApiError("VERSION_CONFLICT", "the step changed concurrently; re-read and retry")
        if new == "queued":
            await enqueue_step(self.session, self.queue, run, node_id)
        add_events(self.session, run, [(node_id, "step", {"state": new, "message": note[:4000], "by": who})])
        await advance(self.session, self.queue, run, [node_id])
        await self.session.flush()
        after = {**before, "state": new, "message": note[:4000]}
        await audit_change(
            self.session,
            self.plugins.principal,
            "workflow_run.decide",
            "workflow_run",
            run.id,
            {"step": before},
            {"step": after, "action": action, "comment": comment},
        )
        return WriteResult(after, 200)

    def _require(self, permission: str, action: str) -> None:
        if not self.plugins.principal.can(permission):
            raise ApiError(
                "FORBIDDEN",
                f"deciding {action!r} on this step needs the permission {permission!r}",
                {"missingPermission": permission},
            )

    async def _decide_waiting(self, run: WorkflowRun, step: WorkflowStep, action: str, comment: str) -> WriteResult:
        """A decision on a step waiting for people (approval, manual): checked against what its
        ``wait`` allows, recorded once per person, and the step runs again to weigh it."""
        assert self.queue is not None
        wait = step.wait or {}
        principal = self.plugins.principal
        who = principal.user_id
        offered = list(wait.get("actions") or [])
        if action not in offered:
            raise ApiError(
                "INVALID_STATE",
                f"this step waits for one of {', '.join(offered)}, not {action!r}",
                {"state": step.state, "action": action, "allowed": offered},
            )
        self._require("workflows:approve", action)
        roles, users = list(wait.get("roles") or []), list(wait.get("users") or [])
        if (roles or users) and who not in users and not set(roles) & set(principal.roles):
            raise ApiError(
                "FORBIDDEN",
                "only "
                + " or ".join(
                    ([f"members of {', '.join(roles)}"] if roles else [])
                    + ([f"users {', '.join(users)}"] if users else [])
                )
                + " may decide this step",
                {"roles": roles, "users": users},
            )
        if who == run.created_by and not wait.get("allowSelf", False):
            raise ApiError(
                "SELF_APPROVAL_FORBIDDEN",
                "the person who started the run may not decide its approval steps (separation of duties)",
                {"requestedBy": run.created_by},
            )
        decisions = list(step.decisions or [])
        if any(d.get("by") == who for d in decisions):
            raise ApiError(
                "INVALID_STATE",
                f"{who} already decided this step; one person counts once",
                {"state": step.state, "action": action},
            )
        before = step_out(step)
        decision = {
            "action": action,
            "by": who,
            "roles": list(principal.roles),
            "comment": comment,
            "at": rfc3339(utcnow()),
        }
        decisions.append(decision)
        values: dict[str, Any] = {"decisions": decisions}
        if step.state == "waiting":
            # It runs again with the decision; while it runs, more decisions are recorded and
            # the engine runs it once more (engine._record).
            new = step_transition("waiting", "decide")
            if not await set_step(self.session, step.id, "waiting", new, **values):
                raise ApiError("VERSION_CONFLICT", "the step changed concurrently; re-read and retry")
            await enqueue_step(self.session, self.queue, run, step.node_id)
        else:
            if not await set_step(self.session, step.id, step.state, step.state, **values):
                raise ApiError("VERSION_CONFLICT", "the step changed concurrently; re-read and retry")
            new = step.state
        add_events(self.session, run, [(step.node_id, "step", {"state": new, "decision": decision})])
        await self.session.flush()
        after = {**before, "state": new, "decisions": decisions}
        await audit_change(
            self.session,
            principal,
            "workflow_run.decide",
            "workflow_run",
            run.id,
            {"step": before},
            {"step": after, "action": action, "comment": comment},
        )
        return WriteResult(after, 200)

    async def act(self, run_id: str, action: str) -> WriteResult:
        """pause, resume or cancel: a compare-and-set by the state table (409 otherwise)."""
        assert self.queue is not None
        run = await lock_run(self.session, run_id)
        if run is None:
            raise not_found("workflow run", run_id)
        before = run_out(run)
        new = run_transition(run.state, action)
        run.state = new
        add_events(self.session, run, [(None, "run", {"state": new, "by": self.plugins.principal.user_id})])
        if action in ("resume", "cancel"):
            await advance(self.session, self.queue, run)
        await self.session.flush()
        data = run_out(run)
        await audit_change(
            self.session, self.plugins.principal, f"workflow_run.{action}", "workflow_run", run.id, before, data
        )
        return WriteResult(data, 200)


async def run_or_404(reads: TenantReads, run_id: str) -> Any:
    row = await reads.get(RUN_SPEC, run_id)
    if row is None:
        raise not_found("workflow run", run_id)
    return row


async def steps_of(session: AsyncSession, run: Any) -> list[dict[str, Any]]:
    nodes = {n["id"]: n for n in run.nodes}
    steps = await session.scalars(select(WorkflowStep).where(WorkflowStep.run_id == run.id))
    order = {n["id"]: i for i, n in enumerate(run.nodes)}
    return [step_out(s, nodes.get(s.node_id)) for s in sorted(steps, key=lambda s: order.get(s.node_id, 0))]


async def events_since(
    session: AsyncSession, run_id: str, since: int, limit: int, node_id: str | None = None, kind: str | None = None
) -> list[WorkflowEvent]:
    statement = select(WorkflowEvent).where(WorkflowEvent.run_id == run_id, WorkflowEvent.seq > since)
    if node_id is not None:
        statement = statement.where(WorkflowEvent.node_id == node_id)
    if kind is not None:
        statement = statement.where(WorkflowEvent.kind == kind)
    return list(await session.scalars(statement.order_by(WorkflowEvent.seq).limit(limit)))


async def artifacts_of(session: AsyncSession, run_id: str, node_id: str) -> list[WorkflowArtifact]:
    return list(
        await session.scalars(
            select(WorkflowArtifact)
            .where(WorkflowArtifact.run_id == run_id, WorkflowArtifact.node_id == node_id)
            .order_by(WorkflowArtifact.name)
        )
    )
