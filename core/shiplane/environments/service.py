"""Environments: the ordered stages releases are promoted through."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.environments.models import Environment
from shiplane.environments.schemas import EnvironmentFields, environment_out
from shiplane.platform.auth import Principal
from shiplane.platform.database import new_id
from shiplane.platform.errors import ApiError, FieldError, not_found, validation_error
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.listing import ListField, ListParams, ListSpec, Page
from shiplane.platform.reads import TenantReads
from shiplane.platform.secrets import mask_sealed
from shiplane.platform.versioning import check_version, etag
from shiplane.platform.writes import audit_change, ensure_name_free, flush_change
from shiplane.plugins.service import PluginService

LIST_SPEC = ListSpec(
    Environment,
    fields={
        "name": ListField(Environment.name, "string", unique=True),
        "displayName": ListField(Environment.display_name, "string"),
        "order": ListField(Environment.position, "integer"),
        "isProduction": ListField(Environment.is_production, "boolean"),
        "createdAt": ListField(Environment.created_at, "datetime"),
        "updatedAt": ListField(Environment.updated_at, "datetime"),
    },
    default_sort="order",
)


class EnvironmentService:
    """Environments of one tenant.

    Reads (``list_page``, ``read``) go through the platform read path, one hop each;
    writes run in the ORM session of ``run_write``'s transaction (``session``).
    """

    def __init__(self, session: AsyncSession | None, principal: Principal, plugins: PluginService) -> None:
        self._session = session
        self.principal = principal
        # Gates are capabilities of plugins: checked and sealed through the plugin service.
        self.plugins = plugins
        self._enabled: set[str] | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("a read-only EnvironmentService cannot write")
        return self._session

    async def out(self, env: Environment | Row[Any]) -> dict[str, Any]:
        """The API representation: secrets in gate configs masked, unusable gates flagged."""
        if self._enabled is None:
            self._enabled = await self.plugins.enabled_plugin_ids()
        problems = [self.plugins.config_problem("gate", g.get("type", ""), self._enabled) for g in env.gates]
        return environment_out(env, problems)

    async def list_page(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(LIST_SPEC, params)
        return Page([await self.out(row) for row in page.items], page.pagination)

    async def read(self, reads: TenantReads, environment_id: str) -> tuple[dict[str, Any], int]:
        """The environment as the API shows it, and its version (for the ETag)."""
        row = await reads.get(LIST_SPEC, environment_id)
        if row is None:
            raise not_found("environment", environment_id)
        return await self.out(row), row.version

    async def get(self, environment_id: str) -> Environment:
        """The environment to change, in the write's session."""
        env = await self.session.scalar(select(Environment).where(Environment.id == environment_id))
        if env is None:
            raise not_found("environment", environment_id)
        return env

    async def create(self, fields: EnvironmentFields) -> WriteResult:
        await ensure_name_free(self.session, Environment, fields.name, None, "environment")
        env = Environment(id=new_id(), tenant_id=self.principal.tenant_id)
        await self._apply(env, fields)
        self.session.add(env)
        await flush_change(self.session, "environment", "uq_environments_tenant_name", env.name)
        data = await self.out(env)
        await audit_change(self.session, self.principal, "environment.create", "environment", env.id, None, data)
        return WriteResult(data, 201, {"ETag": etag(env.version), "Location": f"/api/v1/environments/{env.id}"})

    async def replace(
        self, environment_id: str, fields: EnvironmentFields, expected_version: int | None
    ) -> WriteResult:
        env = await self.get(environment_id)
        check_version("environment", env.version, expected_version)
        before = await self.out(env)
        if fields.name != env.name:
            await ensure_name_free(self.session, Environment, fields.name, env.id, "environment")
        await self._apply(env, fields)
        await flush_change(self.session, "environment", "uq_environments_tenant_name", env.name)
        data = await self.out(env)
        await audit_change(self.session, self.principal, "environment.update", "environment", env.id, before, data)
        return WriteResult(data, 200, {"ETag": etag(env.version)})

    async def delete(self, environment_id: str, expected_version: int | None) -> WriteResult:
        env = await self.get(environment_id)
        check_version("environment", env.version, expected_version)
        from shiplane.targets.service import targets_in_environment  # the targets module builds on this one

        targets = await targets_in_environment(self.session, env.id)
        if targets:
            raise ApiError(
                "RESOURCE_IN_USE",
                f"environment {env.name!r} has targets: {', '.join(targets)}; delete or move them first",
                {"targets": targets},
            )
        dependants = [e.name for e in await self._all() if e.id != env.id and env.id in (e.required_predecessors or [])]
        if dependants:
            raise ApiError(
                "RESOURCE_IN_USE",
                f"environment {env.name!r} is a required predecessor of {', '.join(sorted(dependants))}",
                {"requiredBy": sorted(dependants)},
            )
        before = await self.out(env)
        await self.session.delete(env)
        await flush_change(self.session, "environment", "uq_environments_tenant_name", env.name)
        await audit_change(self.session, self.principal, "environment.delete", "environment", env.id, before, None)
        return WriteResult(None, 204)

    async def _all(self) -> list[Environment]:
        return list((await self.session.scalars(select(Environment))).all())

    async def _apply(self, env: Environment, fields: EnvironmentFields) -> None:
        if fields.order is None and env.position is not None:
            order = env.position  # a PUT that leaves order out keeps the environment where it is
        elif fields.order is None:
            highest = await self.session.scalar(select(func.max(Environment.position)).where(Environment.id != env.id))
            order = 0 if highest is None else highest + 1
        else:
            order = fields.order
        predecessors = None
        if fields.required_predecessors is not None:
            predecessors = await self._checked_predecessors(env, fields.required_predecessors)
        env.name = fields.name
        env.display_name = fields.display_name or fields.name
        env.description = fields.description
        env.position = order
        env.is_production = fields.is_production
        env.required_predecessors = predecessors
        env.gates = await self._checked_gates(env, fields)
        if fields.approval_policy_id is not None and fields.approval_policy_id != env.approval_policy_id:
            from shiplane.promotions.models import ApprovalPolicy

            found = await self.session.scalar(
                select(ApprovalPolicy.id).where(ApprovalPolicy.id == fields.approval_policy_id)
            )
            if found is None:
                raise validation_error(
                    "approvalPolicyId", f"no approval policy {fields.approval_policy_id!r}", "unknown"
                )
        env.approval_policy_id = fields.approval_policy_id
        env.deployment_template_id = fields.deployment_workflow_template_id
        env.protection = fields.protection.model_dump(mode="json", by_alias=True) if fields.protection else None
        policy = fields.rollback_policy
        env.rollback_policy = policy.model_dump(mode="json", by_alias=True) if policy else None
        if fields.variable_set_ids:
            from shiplane.variables.models import VariableSet

            known = set(
                await self.session.scalars(select(VariableSet.id).where(VariableSet.id.in_(fields.variable_set_ids)))
            )
            for index, set_id in enumerate(fields.variable_set_ids):
                if set_id not in known:
                    raise validation_error(f"variableSetIds.{index}", f"no variable set {set_id!r}", "unknown")
        env.variable_set_ids = list(dict.fromkeys(fields.variable_set_ids)) or None

    async def _checked_gates(self, env: Environment, fields: EnvironmentFields) -> list[dict[str, Any]]:
        # Stored gates are matched by their server-assigned id, never by position: removing
        # or reordering gates must not move one gate's secret to another.
        stored = {g["id"]: g for g in env.gates or [] if "id" in g}
        gates = []
        seen: set[str] = set()
        for index, gate in enumerate(fields.gates):
            previous = None
            if gate.id is not None:
                previous = stored.get(gate.id)
                if previous is None or gate.id in seen:
                    raise validation_error(
                        f"gates.{index}.id", "not a gate of this environment (leave it out for a new gate)"
                    )
                seen.add(gate.id)
            entry = {**gate.model_dump(by_alias=True, exclude_none=True), "id": gate.id or new_id()}
            kept: dict[str, Any] | None = None
            if previous is not None and previous.get("type") == gate.type:
                kept = previous.get("config", {})
            if kept is not None and mask_sealed(kept) == gate.config:
                # An unchanged gate stays as stored, even if its plugin is disabled now:
                # editing another field must not force the gate out (it reports its problem).
                gates.append({**entry, "config": kept})
                continue
            registered = await self.plugins.usable_capability("gate", gate.type, f"gates.{index}.type")
            sealed, _ = await self.plugins.validated_config(registered, gate.config, kept, f"gates.{index}.config")
            gates.append({**entry, "config": sealed})
        return gates

    async def _checked_predecessors(self, env: Environment, ids: list[str]) -> list[str]:
        everyone = {e.id: e for e in await self._all()}
        errors = []
        for index, pid in enumerate(ids):
            field = f"requiredPredecessors.{index}"
            if pid == env.id:
                errors.append(FieldError(field, "an environment cannot be its own predecessor", "self_reference"))
            elif pid not in everyone:
                errors.append(FieldError(field, f"no environment {pid!r}", "not_found"))
            elif ids.index(pid) != index:
                errors.append(FieldError(field, "listed twice", "duplicate"))
        if not errors and env.id is not None:
            cycle = _cycle_through(env.id, ids, everyone)
            if cycle:
                errors.append(
                    FieldError("requiredPredecessors", "would create a cycle: " + " -> ".join(cycle), "cycle")
                )
        if errors:
            raise ApiError("VALIDATION_ERROR", "invalid requiredPredecessors", None, errors)
        return ids


def _cycle_through(start: str, new_predecessors: list[str], everyone: dict[str, Environment]) -> list[str]:
    """Names along a cycle that ``start`` would close with ``new_predecessors``, or []."""

    def preds(node: str) -> list[str]:
        if node == start:
            return new_predecessors
        return list(everyone[node].required_predecessors or []) if node in everyone else []

    stack: list[tuple[str, list[str]]] = [(p, [start, p]) for p in new_predecessors]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        if node == start:
            return [everyone[n].name if n in everyone else n for n in path]
        if node in seen:
            continue
        seen.add(node)
        stack.extend((p, path + [p]) for p in preds(node))
    return []


def require_protected(env: Environment, principal: Principal, action: str) -> None:
    """403 with the reason unless ``principal`` may ``action`` (``promote``, ``rollback``) the
    protected environment ``env``."""
    protection = env.protection or {}
    roles, users = list(protection.get(f"{action}Roles") or []), list(protection.get(f"{action}Users") or [])
    if not roles and not users:
        return
    if principal.user_id in users or set(roles) & set(principal.roles):
        return
    allowed = " or ".join(
        ([f"the roles {', '.join(roles)}"] if roles else []) + ([f"the users {', '.join(users)}"] if users else [])
    )
    verb = "promote into" if action == "promote" else "roll back"
    raise ApiError(
        "FORBIDDEN",
        f"environment {env.name!r} is protected: only {allowed} may {verb} it",
        {"environmentId": env.id, "action": action, "roles": roles, "users": users},
    )
