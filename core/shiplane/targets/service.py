"""Targets of one tenant: where releases are deployed, and which agent deploys there."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.agents.service import AgentService
from shiplane.environments.service import EnvironmentService
from shiplane.platform.auth import Principal
from shiplane.platform.database import new_id, utcnow
from shiplane.platform.envelope import rfc3339
from shiplane.platform.errors import ApiError, validation_error
from shiplane.platform.errors import not_found as _not_found
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.listing import ListField, ListParams, ListSpec, Page
from shiplane.platform.reads import TenantReads
from shiplane.platform.secrets import mask, unseal
from shiplane.platform.settings import Settings
from shiplane.platform.versioning import check_version, etag
from shiplane.platform.writes import audit_change, ensure_name_free, flush_change
from shiplane.plugins.service import PluginService
from shiplane.targets.models import Target
from shiplane.targets.schemas import TargetFields, target_out

LIST_SPEC = ListSpec(
    Target,
    fields={
        "name": ListField(Target.name, "string", unique=True),
        "environmentId": ListField(Target.environment_id, "string"),
        "type": ListField(Target.type, "string"),
        "healthStatus": ListField(Target.health_status, "string"),
        "createdAt": ListField(Target.created_at, "datetime"),
        "updatedAt": ListField(Target.updated_at, "datetime"),
    },
    default_sort="name",
)
_UNIQUE = "uq_targets_tenant_name"


async def targets_in_environment(session: AsyncSession, environment_id: str) -> list[str]:
    """Names of the tenant's targets in the environment (the session filters by tenant)."""
    rows = await session.scalars(select(Target.name).where(Target.environment_id == environment_id).limit(20))
    return sorted(rows.all())


class TargetService:
    def __init__(
        self, session: AsyncSession | None, principal: Principal, plugins: PluginService, settings: Settings
    ) -> None:
        self._session = session
        self.principal = principal
        self.plugins = plugins
        self.settings = settings
        self._enabled: set[str] | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("a read-only TargetService cannot write")
        return self._session

    async def out(self, row: Target | Row[Any]) -> dict[str, Any]:
        if self._enabled is None:
            self._enabled = await self.plugins.enabled_plugin_ids()
        problem = self.plugins.config_problem("target_type", row.type, self._enabled)
        return target_out(
            row, mask(row.config, self.plugins.stored_secret_paths("target_type", row.type, row.config)), problem
        )

    async def list_page(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(LIST_SPEC, params)
        return Page([await self.out(row) for row in page.items], page.pagination)

    async def read(self, reads: TenantReads, target_id: str) -> tuple[dict[str, Any], int]:
        row = await reads.get(LIST_SPEC, target_id)
        if row is None:
            raise _not_found("target", target_id)
        return await self.out(row), row.version

    async def get(self, target_id: str) -> Target:
        target = await self.session.scalar(select(Target).where(Target.id == target_id))
        if target is None:
            raise _not_found("target", target_id)
        return target

    async def _checked(self, fields: TargetFields, stored: dict[str, Any] | None) -> dict[str, Any]:
        """The sealed config, after every reference in the body resolved (400 naming the field)."""
        try:
            await EnvironmentService(self.session, self.principal, self.plugins).get(fields.environment_id)
        except ApiError as exc:
            if exc.code != "NOT_FOUND":
                raise
            raise validation_error("environmentId", f"no environment {fields.environment_id!r}", "unknown") from None
        if fields.agent_id is not None and fields.agent_labels is not None:
            raise validation_error("agentLabels", "give agentId or agentLabels, not both", "conflict")
        if fields.agent_id is not None:
            try:
                await AgentService(self.session, self.principal, self.settings).get(fields.agent_id)
            except ApiError as exc:
                if exc.code != "NOT_FOUND":
                    raise
                raise validation_error("agentId", f"no agent {fields.agent_id!r}", "unknown") from None
        registered = await self.plugins.usable_capability("target_type", fields.type, "type")
        sealed, _paths = await self.plugins.validated_config(registered, fields.config, stored, "config")
        return sealed

    def _apply(self, target: Target, fields: TargetFields, sealed: dict[str, Any]) -> None:
        target.name = fields.name
        target.description = fields.description
        target.environment_id = fields.environment_id
        target.type = fields.type
        target.config = sealed
        target.labels = dict(fields.labels)
        target.agent_id = fields.agent_id
        target.agent_labels = dict(fields.agent_labels) if fields.agent_labels is not None else None

    async def create(self, fields: TargetFields) -> WriteResult:
        await ensure_name_free(self.session, Target, fields.name, None, "target")
        sealed = await self._checked(fields, None)
        target = Target(id=new_id(), tenant_id=self.principal.tenant_id)
        self._apply(target, fields, sealed)
        self.session.add(target)
        await flush_change(self.session, "target", _UNIQUE, target.name)
        data = await self.out(target)
        await audit_change(self.session, self.principal, "target.create", "target", target.id, None, data)
        return WriteResult(data, 201, {"ETag": etag(target.version), "Location": f"/api/v1/targets/{target.id}"})

    async def replace(self, target_id: str, fields: TargetFields, expected: int | None) -> WriteResult:
        target = await self.get(target_id)
        check_version("target", target.version, expected)
        before = await self.out(target)
        if fields.name != target.name:
            await ensure_name_free(self.session, Target, fields.name, target.id, "target")
        sealed = await self._checked(fields, target.config if fields.type == target.type else None)
        self._apply(target, fields, sealed)
        await flush_change(self.session, "target", _UNIQUE, target.name)
        data = await self.out(target)
        await audit_change(self.session, self.principal, "target.update", "target", target.id, before, data)
        return WriteResult(data, 200, {"ETag": etag(target.version)})

    async def request_check(self, target_id: str, tasks: Any) -> WriteResult:
        """Queue a health check (with the sticker and the inspected state) for the target's agent."""
        target = await self.get(target_id)
        agent_id = await self._agent_for(target)
        task_id = await tasks.enqueue(self.session, agent_id, "health-check", target.id)
        data = {"taskId": task_id, "agentId": agent_id, "targetId": target.id, "state": "queued"}
        await audit_change(self.session, self.principal, "target.check", "target", target.id, None, data)
        return WriteResult(data, 202)

    async def _agent_for(self, target: Target) -> str:
        """The agent that runs the target's tasks: its own, or an online one with the labels and the type."""
        agents = AgentService(self.session, self.principal, self.settings)
        if target.agent_id is not None:
            try:
                agent = await agents.get(target.agent_id)
            except ApiError:
                raise ApiError(
                    "INVALID_STATE", f"target {target.name!r} is bound to agent {target.agent_id!r}, which is gone"
                ) from None
            if agent.disabled:
                raise ApiError("INVALID_STATE", f"agent {agent.name!r} of target {target.name!r} is disabled")
            return agent.id
        chosen = await agents.online_with(target.type, dict(target.agent_labels or {}))
        if chosen is None:
            wanted = {"type": target.type, "labels": dict(target.agent_labels or {})}
            raise ApiError(
                "INVALID_STATE",
                f"no online agent runs {target.type!r} targets with the labels {wanted['labels']}",
                {"agentsWanted": wanted},
            )
        return chosen

    def report(self, row: Target | Row[Any]) -> dict[str, Any]:
        """What the agent last found on the target, and whether it drifted from what is expected."""
        return {
            "targetId": row.id,
            **drift(row.expected_state, row.sticker, row.observed_state),
            "expected": row.expected_state,
            "sticker": row.sticker,
            "observed": row.observed_state,
            "readAt": rfc3339(row.sticker_read_at) if row.sticker_read_at else None,
        }

    async def delete(self, target_id: str, expected: int | None) -> WriteResult:
        target = await self.get(target_id)
        check_version("target", target.version, expected)
        before = await self.out(target)
        await self.session.delete(target)
        await flush_change(self.session, "target", _UNIQUE, target.name)
        await audit_change(self.session, self.principal, "target.delete", "target", target.id, before, None)
        return WriteResult(None, 204)


# -- what agents report -----------------------------------------------------------------------------

HEALTH = {"ok": "healthy", "degraded": "degraded", "failing": "unhealthy"}


async def target_for_agent(
    session: AsyncSession, target_id: str, registry: Any, box: Any, agent_id: str
) -> dict[str, Any] | None:
    """The target as ``agent_id`` gets it (config with secrets decrypted), or None if it is
    gone or now bound to another agent (its secrets go only to the agent that runs it)."""
    target = await session.scalar(select(Target).where(Target.id == target_id))
    if target is None or (target.agent_id is not None and target.agent_id != agent_id):
        return None
    registered = registry.capabilities.get("target_type", {}).get(target.type)
    paths = registered.capability.secret_fields() if registered is not None else []
    return {
        "id": target.id,
        "name": target.name,
        "type": target.type,
        "labels": dict(target.labels or {}),
        "config": unseal(target.config, paths, box),
    }


async def record_observation(
    session: AsyncSession, target_id: str, action: str, outcome: str, body: dict[str, Any]
) -> None:
    """Apply an agent's report on the target: health, the sticker read, the inspected state."""
    target = await session.scalar(select(Target).where(Target.id == target_id))
    if target is None:
        return
    was = drift(target.expected_state, target.sticker, target.observed_state)["status"]
    now = utcnow()
    health = body.get("health")
    if outcome != "succeeded":
        target.health_status = "unreachable"
        target.health_message = str(body.get("error") or outcome)[:2000]
        target.health_checked_at = now
    elif isinstance(health, dict):
        target.health_status = HEALTH.get(str(health.get("status")), "unknown")
        target.health_message = str(health.get("message", ""))[:2000]
        target.health_checked_at = now
    if "sticker" in body:
        target.sticker = body["sticker"] if isinstance(body["sticker"], dict) else None
        target.sticker_read_at = now
        if target.expected_state is None and target.sticker is not None:
            # Until deployments exist, the expected state is the first sticker recorded.
            target.expected_state = target.sticker
    if isinstance(body.get("observed"), dict):
        target.observed_state = body["observed"]
    if action == "deploy" and outcome == "succeeded" and isinstance(body.get("sticker"), dict):
        target.expected_state = body["sticker"]
    found = drift(target.expected_state, target.sticker, target.observed_state)
    if found["status"] != was and "drifted" in (was, found["status"]):
        # Drift found or gone: audited (the dashboard stream and event subscribers see it).
        observer = Principal(
            user_id="shiplane:drift",
            tenant_id=target.tenant_id,
            roles=("system",),
            permissions=frozenset({"*:read"}),
            tier=None,
        )
        await audit_change(
            session,
            observer,
            "target.drift_change",
            "target",
            target.id,
            {"drift": was},
            {"name": target.name, "environmentId": target.environment_id, "drift": found["status"], **found},
        )


def drift(
    expected: dict[str, Any] | None, sticker: dict[str, Any] | None, observed: dict[str, Any] | None
) -> dict[str, Any]:
    """``in_sync``, ``drifted`` (with the differing components) or ``unknown``."""
    if expected is None or observed is None or "components" not in observed:
        return {"status": "unknown", "differences": []}

    def by_name(state: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
        items = (state or {}).get("components") or []
        return {str(c.get("name")): c for c in items if isinstance(c, dict)}

    want, have, stuck = by_name(expected), by_name(observed), by_name(sticker)
    differences = []
    for name in sorted(set(want) | set(have)):
        expected_item, actual = want.get(name), have.get(name)
        same = (
            expected_item is not None
            and actual is not None
            and all(expected_item.get(key) == actual.get(key) for key in ("version", "digest"))
        )
        if not same:
            differences.append({"component": name, "expected": _version(expected_item), "actual": _version(actual)})
    if sticker is not None and by_name(sticker) != want and not differences:
        differences = [
            {"component": name, "expected": _version(want.get(name)), "sticker": _version(stuck.get(name))}
            for name in sorted(set(want) | set(stuck))
            if _version(want.get(name)) != _version(stuck.get(name))
        ]
    return {"status": "drifted" if differences else "in_sync", "differences": differences}


def _version(item: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if item is None else {"version": item.get("version"), "digest": item.get("digest")}
