"""Plugins as a tenant sees them: state, health, capabilities, instances, guarded use."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shiplane_sdk import ConfigError, Event, GateResult
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.platform.auth import Principal
from shiplane.platform.database import new_id, on_commit, utcnow
from shiplane.platform.envelope import render_json, rfc3339
from shiplane.platform.errors import ApiError, FieldError, not_found, validation_error
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.listing import ListField, ListParams, ListSpec, Page
from shiplane.platform.reads import TenantReads
from shiplane.platform.secrets import (
    MASK,
    SecretBox,
    keep_masked,
    mask,
    moved_destinations,
    seal,
    secret_paths_holding,
    secret_values,
    unseal,
)
from shiplane.platform.versioning import check_version, etag
from shiplane.platform.writes import audit_change, ensure_name_free, flush_change
from shiplane.plugins.guard import PluginCallFailed
from shiplane.plugins.manager import KIND_API_NAMES, LoadedPlugin, PluginRegistry, RegisteredCapability
from shiplane.plugins.models import PluginInstance, PluginTenantState
from shiplane.plugins.schemas import PluginInstanceFields
from shiplane.plugins.states import PluginStateCache

log = logging.getLogger("shiplane.plugins")
# Larger configurations are refused before any plugin code reads them.
MAX_CONFIG_BYTES = 64 * 1024

INSTANCE_LIST_SPEC = ListSpec(
    PluginInstance,
    fields={
        "name": ListField(PluginInstance.name, "string", unique=True),
        "pluginId": ListField(PluginInstance.plugin_id, "string"),
        "capabilityKind": ListField(PluginInstance.capability_kind, "string"),
        "capabilityId": ListField(PluginInstance.capability_id, "string"),
        "createdAt": ListField(PluginInstance.created_at, "datetime"),
        "updatedAt": ListField(PluginInstance.updated_at, "datetime"),
    },
    default_sort="name",
)


@dataclass
class CoreGateContext:
    """The core's GateContext (the SDK protocol)."""

    tenant_id: str
    release: dict[str, Any]
    environment: dict[str, Any]
    promotion: dict[str, Any] | None
    now: datetime
    lines: list[str] = field(default_factory=list)

    def log(self, line: str) -> None:
        self.lines.append(str(line))


class PluginService:
    """Plugins for one tenant.

    Built with a session (inside a write), it reads the tenant's decisions from the
    database, so what a change checks is never stale. Built without one (reads), it
    takes them from the process's cache (``PluginStateCache``).
    """

    def __init__(
        self,
        session: AsyncSession | None,
        principal: Principal,
        registry: PluginRegistry,
        box: SecretBox,
        states: PluginStateCache,
    ) -> None:
        self._session = session
        self.principal = principal
        self.registry = registry
        self.box = box
        self.states = states

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("this PluginService reads only; writes need one built with a session")
        return self._session

    # -- state per tenant ------------------------------------------------------------------

    async def _decisions(self) -> dict[str, bool]:
        if self._session is None:
            return await self.states.decisions(self.principal.tenant_id)
        return await _decisions(self._session)

    def _state(self, plugin: LoadedPlugin, decisions: dict[str, bool]) -> str:
        return _state(self.registry, plugin, decisions)

    async def enabled_plugin_ids(self) -> set[str]:
        return _enabled(self.registry, await self._decisions())

    def _plugin(self, plugin_id: str) -> LoadedPlugin:
        plugin = self.registry.plugins.get(plugin_id)
        if plugin is None:
            raise not_found("plugin", plugin_id)
        return plugin

    def _health_summary(self, plugin: LoadedPlugin, own: dict[str, Any] | None = None) -> str:
        """One rule for the list and the health endpoint: failed, degraded (breaker), the plugin's own."""
        if plugin.failed:
            return "failed"
        guard = self.registry.guard
        if (
            guard.breaker(plugin.id).state != "closed"
            or guard.breaker(plugin.id, self.principal.tenant_id).state != "closed"
        ):
            return "degraded"
        if own is None:
            own = self.registry.cached_health(plugin.id)
        if own is not None and own["status"] in ("failing", "degraded"):
            return str(own["status"])
        return "ok"

    def plugin_out(self, plugin: LoadedPlugin, state: str, *, detail: bool = False) -> dict[str, Any]:
        capabilities: dict[str, Any] = {}
        for kind, items in plugin.capabilities.items():
            if detail:
                capabilities[KIND_API_NAMES[kind]] = [c.describe() for c in items.values()]
            else:
                capabilities[KIND_API_NAMES[kind]] = sorted(items)
        return {
            "id": plugin.id,
            "name": plugin.name,
            "version": plugin.version,
            "vendor": plugin.vendor,
            "description": plugin.description,
            "homepage": plugin.homepage,
            "distribution": plugin.distribution,
            "sdkRequires": plugin.sdk_requires,
            "firstParty": plugin.first_party,
            "state": state,
            "loadError": plugin.load_error,
            "health": self._health_summary(plugin),
            "capabilities": capabilities,
        }

    async def list_plugins(self) -> list[dict[str, Any]]:
        decisions = await self._decisions()
        return [
            self.plugin_out(p, self._state(p, decisions))
            for p in sorted(self.registry.plugins.values(), key=lambda p: p.id)
        ]

    async def get_plugin(self, plugin_id: str) -> dict[str, Any]:
        plugin = self._plugin(plugin_id)
        return self.plugin_out(plugin, self._state(plugin, await self._decisions()), detail=True)

    async def set_enabled(self, plugin_id: str, enabled: bool) -> WriteResult:
        plugin = self._plugin(plugin_id)
        decisions = await self._decisions()
        before = self._state(plugin, decisions)
        if enabled and plugin.failed:
            raise ApiError(
                "INVALID_STATE",
                f"plugin {plugin_id!r} failed to load and cannot be enabled: {plugin.load_error}",
                {"state": "failed", "loadError": plugin.load_error},
            )
        # An upsert: enabling twice, or two admins at once, is not a conflict.
        dialect_insert = pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        now = utcnow()
        statement = dialect_insert(PluginTenantState).values(
            id=new_id(),
            tenant_id=self.principal.tenant_id,
            plugin_id=plugin_id,
            enabled=enabled,
            changed_by=self.principal.user_id,
            created_at=now,
            updated_at=now,
            version=1,
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["tenant_id", "plugin_id"],
                set_={
                    "enabled": enabled,
                    "changed_by": self.principal.user_id,
                    "updated_at": now,
                    "version": PluginTenantState.version + 1,
                },
            )
        )
        decisions[plugin_id] = enabled
        # Forget the cached decisions once this commits; other processes forget them
        # when they read this change's outbox event (PluginStateCache).
        on_commit(self.session, lambda: self.states.invalidate(self.principal.tenant_id))
        after = self._state(plugin, decisions)
        await self._audit(
            "plugin.enable" if enabled else "plugin.disable", "plugin", plugin_id, {"state": before}, {"state": after}
        )
        return WriteResult(self.plugin_out(plugin, after, detail=True), 200)

    async def health(self, plugin_id: str) -> dict[str, Any]:
        plugin = self._plugin(plugin_id)
        own = None if plugin.failed else await self.registry.plugin_health(plugin.id)
        status = self._health_summary(plugin, own)
        # This tenant's breaker: the one that decides its calls (the plugin's own shows in "status").
        breaker = self.registry.guard.breaker(plugin.id, self.principal.tenant_id)
        return {
            "pluginId": plugin.id,
            "status": status,
            "loadState": plugin.load_state,
            "loadError": plugin.load_error,
            "state": self._state(plugin, await self._decisions()),
            "breaker": breaker.as_dict(),
            "pluginHealth": own,
            "checkedAt": rfc3339(utcnow()),
        }

    # -- capabilities --------------------------------------------------------------------------

    async def capabilities(self, kind: str) -> list[RegisteredCapability]:
        enabled = await self.enabled_plugin_ids()
        found = [rc for rc in self.registry.capabilities[kind].values() if rc.plugin_id in enabled]
        return sorted(found, key=lambda rc: rc.capability.id)

    async def capability(self, kind: str, capability_id: str, *, for_new_object: bool = False) -> RegisteredCapability:
        """The capability if its plugin is enabled for the tenant.

        Reading a hidden capability is a 404; building a new object on a capability
        whose plugin is installed but disabled is a 422 PLUGIN_DISABLED.
        """
        registered = self.registry.capabilities[kind].get(capability_id)
        if registered is None:
            raise not_found(kind.replace("_", " "), capability_id)
        if registered.plugin_id not in await self.enabled_plugin_ids():
            if for_new_object:
                raise _plugin_disabled(registered.plugin_id, kind, capability_id)
            raise not_found(kind.replace("_", " "), capability_id)
        return registered

    @staticmethod
    def capability_out(registered: RegisteredCapability) -> dict[str, Any]:
        return {**registered.capability.describe(), "pluginId": registered.plugin_id}

    async def evaluate_gate(
        self, gate_id: str, ctx: CoreGateContext, config: dict[str, Any]
    ) -> tuple[GateResult, list[str]]:
        """Evaluate one gate, failing closed: a gate that cannot answer blocks."""
        try:
            registered = await self.capability("gate", gate_id, for_new_object=True)
        except ApiError as exc:
            return GateResult.failed(f"gate {gate_id!r} unavailable: {exc.message}", {"gate": gate_id}), []
        gate = registered.capability
        errors = gate.validate_config(config)
        if errors:
            details = {"gate": gate_id, "configErrors": [e.model_dump() for e in errors]}
            return GateResult.failed(f"gate {gate_id!r} has an invalid configuration", details), []
        secrets = secret_values(config, gate.secret_fields())
        try:
            result = await self.registry.guard.call(
                registered.plugin_id,
                f"gate {gate_id}",
                gate.evaluate,  # type: ignore[attr-defined]
                ctx,
                config,
                secrets=secrets,
                tenant_id=ctx.tenant_id,
            )
            if not isinstance(result, GateResult):
                raise PluginCallFailed(registered.plugin_id, f"gate {gate_id}", f"returned {type(result).__name__}")
        except PluginCallFailed as exc:
            return GateResult.failed(
                str(exc), {"gate": gate_id, "plugin": exc.plugin_id, "error": exc.reason}
            ), ctx.lines
        return result, ctx.lines

    # -- instances -------------------------------------------------------------------------------

    async def list_instances(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(INSTANCE_LIST_SPEC, params)
        enabled = await self.enabled_plugin_ids()
        return Page([self.instance_out(i, enabled) for i in page.items], page.pagination)

    async def read_instance(self, reads: TenantReads, instance_id: str) -> tuple[dict[str, Any], int]:
        """The instance as the API shows it, and its version (for the ETag)."""
        row = await reads.get(INSTANCE_LIST_SPEC, instance_id)
        if row is None:
            raise not_found("plugin instance", instance_id)
        return self.instance_out(row, await self.enabled_plugin_ids()), row.version

    async def get_instance(self, instance_id: str) -> PluginInstance:
        instance = await self.session.scalar(select(PluginInstance).where(PluginInstance.id == instance_id))
        if instance is None:
            raise not_found("plugin instance", instance_id)
        return instance

    def _secret_paths(self, instance: PluginInstance | Row[Any]) -> list[str]:
        registered = self.registry.capabilities.get(instance.capability_kind, {}).get(instance.capability_id)
        if registered is None or registered.plugin_id != instance.plugin_id:
            # Without the schema we cannot tell secrets apart: hide every value that is sealed.
            return [f"{k}" for k, v in instance.config.items() if isinstance(v, dict) and "$encrypted" in v]
        return registered.capability.secret_fields()

    def instance_out(self, instance: PluginInstance | Row[Any], enabled: set[str]) -> dict[str, Any]:
        problem = None
        plugin = self.registry.plugins.get(instance.plugin_id)
        registered = self.registry.capabilities.get(instance.capability_kind, {}).get(instance.capability_id)
        if plugin is None or plugin.failed:
            problem = {
                "code": "PLUGIN_UNAVAILABLE",
                "message": f"plugin {instance.plugin_id!r} is not installed or failed to load",
            }
        elif registered is None or registered.plugin_id != instance.plugin_id:
            problem = {
                "code": "CAPABILITY_MISSING",
                "message": f"plugin {instance.plugin_id!r} no longer provides {instance.capability_id!r}",
            }
        elif instance.plugin_id not in enabled:
            problem = {
                "code": "PLUGIN_DISABLED",
                "message": f"plugin {instance.plugin_id!r} is disabled for this tenant",
            }
        return {
            "id": instance.id,
            "tenantId": instance.tenant_id,
            "name": instance.name,
            "description": instance.description,
            "pluginId": instance.plugin_id,
            "capabilityKind": instance.capability_kind,
            "capabilityId": instance.capability_id,
            "config": mask(instance.config, self._secret_paths(instance)),
            "status": "active" if problem is None else "unavailable",
            "problem": problem,
            "version": instance.version,
            "createdAt": rfc3339(instance.created_at),
            "updatedAt": rfc3339(instance.updated_at),
        }

    async def _checked(
        self, fields: PluginInstanceFields, stored: dict[str, Any] | None
    ) -> tuple[dict[str, Any], list[str]]:
        # A reference in a body that does not resolve is a 400 naming the field (404 is for
        # the resource the URL addresses); a disabled plugin is 422 PLUGIN_DISABLED.
        if fields.plugin_id not in self.registry.plugins:
            raise validation_error("pluginId", f"no installed plugin {fields.plugin_id!r}", "unknown_plugin")
        registered = await self.usable_capability(fields.capability_kind, fields.capability_id, "capabilityId")
        if registered.plugin_id != fields.plugin_id:
            raise ApiError(
                "VALIDATION_ERROR",
                f"plugin {fields.plugin_id!r} does not provide {fields.capability_kind} {fields.capability_id!r}",
                None,
                [FieldError("capabilityId", f"provided by plugin {registered.plugin_id!r}", "wrong_plugin")],
            )
        return await self.validated_config(registered, fields.config, stored, "config")

    async def validated_config(
        self, registered: RegisteredCapability, config: dict[str, Any], stored: dict[str, Any] | None, field: str
    ) -> tuple[dict[str, Any], list[str]]:
        """``config`` checked against the capability's schema and sealed for storage.

        ``stored`` is the sealed config being replaced: a secret sent back as ``***``
        keeps its stored value. Errors name ``<field>.<path>`` and never quote a secret.
        """
        capability = registered.capability
        paths = capability.secret_fields()
        if stored is not None:
            kept = secret_paths_holding(config, paths, MASK)
            moved = moved_destinations(config, stored, capability.destination_fields()) if kept else []
            if moved:
                # A kept secret goes only where it was entered for: sending "***" beside a
                # new URL would let anyone who may edit the config send it elsewhere.
                raise ApiError(
                    "VALIDATION_ERROR",
                    f"{', '.join(moved)} changed: enter the secret again",
                    {"changedDestinations": [f"{field}.{m}" for m in moved]},
                    [
                        FieldError(
                            f"{field}.{p}",
                            f"enter the secret again: it was entered for another {', '.join(moved)}",
                            "secret_required",
                        )
                        for p in kept
                    ],
                )
            config = unseal(keep_masked(config, stored, paths), paths, self.box)
        unresolved = [p for p in secret_paths_holding(config, paths, MASK)]
        if unresolved:
            # "***" keeps a stored secret; with none stored it would become the secret itself.
            raise ApiError(
                "VALIDATION_ERROR",
                "a secret was sent as *** but there is no stored value to keep",
                None,
                [
                    FieldError(f"{field}.{p}", "send the secret itself; *** only keeps a stored one", "secret_required")
                    for p in unresolved
                ],
            )
        errors = await self._validate_in_guard(registered, config, paths, field)
        if errors:
            raise ApiError(
                "VALIDATION_ERROR",
                f"{field} does not match the schema of {capability.kind} {capability.id!r}",
                None,
                [FieldError(f"{field}.{e.field}" if e.field else field, e.message, e.code) for e in errors],
            )
        return seal(config, paths, self.box), paths

    async def _validate_in_guard(
        self, registered: RegisteredCapability, config: dict[str, Any], paths: list[str], field: str
    ) -> list[ConfigError]:
        """The plugin's validation of a tenant's config, bounded and off the event loop.

        A config is tenant input evaluated by plugin code (a policy gate compiles a
        JSON Schema): it gets a size limit first, then runs in the guard's threads with
        its timeout. It does not count towards the plugin's breaker: one tenant's
        hostile config must not make the plugin unusable for the others.
        """
        size = len(render_json(config))
        if size > MAX_CONFIG_BYTES:
            raise validation_error(
                field, f"a configuration may have at most {MAX_CONFIG_BYTES} bytes of JSON", "too_large"
            )
        try:
            errors: list[ConfigError] = await self.registry.guard.call(
                registered.plugin_id,
                f"validate {registered.capability.kind} {registered.capability.id}",
                registered.capability.validate_config,
                config,
                secrets=secret_values(config, paths),
                count=False,
                tenant_id=self.principal.tenant_id,
            )
        except PluginCallFailed as exc:
            raise validation_error(
                field, f"the configuration could not be checked: {exc.reason}", "unchecked"
            ) from None
        return errors

    async def usable_capability(self, kind: str, capability_id: str, field: str) -> RegisteredCapability:
        """The capability a new or changed object refers to: unknown is a 400 naming ``field``,
        installed but disabled for the tenant is a 422 PLUGIN_DISABLED."""
        try:
            return await self.capability(kind, capability_id, for_new_object=True)
        except ApiError as exc:
            if exc.code != "NOT_FOUND":
                raise
            label = kind.replace("_", " ")
            raise ApiError(
                "VALIDATION_ERROR",
                f"unknown {label} {capability_id!r}",
                None,
                [FieldError(field, f"no enabled plugin provides the {label} {capability_id!r}", "unknown_capability")],
            ) from None

    def config_problem(self, kind: str, capability_id: str, enabled: set[str]) -> dict[str, str] | None:
        """Why a stored object's capability cannot be used now, or None."""
        registered = self.registry.capabilities.get(kind, {}).get(capability_id)
        if registered is None:
            return {"code": "CAPABILITY_MISSING", "message": f"no installed plugin provides {capability_id!r}"}
        if registered.plugin_id not in enabled:
            return {
                "code": "PLUGIN_DISABLED",
                "message": f"plugin {registered.plugin_id!r} is disabled for this tenant",
            }
        return None

    async def create_instance(self, fields: PluginInstanceFields) -> WriteResult:
        await ensure_name_free(self.session, PluginInstance, fields.name, None, "plugin instance")
        sealed, paths = await self._checked(fields, None)
        instance = PluginInstance(
            id=new_id(),
            tenant_id=self.principal.tenant_id,
            name=fields.name,
            description=fields.description,
            plugin_id=fields.plugin_id,
            capability_kind=fields.capability_kind,
            capability_id=fields.capability_id,
            config=sealed,
        )
        self.session.add(instance)
        await flush_change(self.session, "plugin instance", "uq_plugin_instances_tenant_name", fields.name)
        data = self.instance_out(instance, await self.enabled_plugin_ids())
        await self._audit("plugin_instance.create", "plugin_instance", instance.id, None, data)
        return WriteResult(
            data, 201, {"ETag": etag(instance.version), "Location": f"/api/v1/plugin-instances/{instance.id}"}
        )

    async def replace_instance(
        self, instance_id: str, fields: PluginInstanceFields, expected: int | None
    ) -> WriteResult:
        instance = await self.get_instance(instance_id)
        check_version("plugin instance", instance.version, expected)
        enabled = await self.enabled_plugin_ids()
        before = self.instance_out(instance, enabled)
        if fields.name != instance.name:
            await ensure_name_free(self.session, PluginInstance, fields.name, instance.id, "plugin instance")
        same_capability = (fields.plugin_id, fields.capability_kind, fields.capability_id) == (
            instance.plugin_id,
            instance.capability_kind,
            instance.capability_id,
        )
        sealed, _paths = await self._checked(fields, instance.config if same_capability else None)
        instance.name = fields.name
        instance.description = fields.description
        instance.plugin_id = fields.plugin_id
        instance.capability_kind = fields.capability_kind
        instance.capability_id = fields.capability_id
        instance.config = sealed
        await flush_change(self.session, "plugin instance", "uq_plugin_instances_tenant_name", fields.name)
        data = self.instance_out(instance, enabled)
        await self._audit("plugin_instance.update", "plugin_instance", instance.id, before, data)
        return WriteResult(data, 200, {"ETag": etag(instance.version)})

    async def delete_instance(self, instance_id: str, expected: int | None) -> WriteResult:
        instance = await self.get_instance(instance_id)
        check_version("plugin instance", instance.version, expected)
        before = self.instance_out(instance, await self.enabled_plugin_ids())
        await self.session.delete(instance)
        await flush_change(self.session, "plugin instance", "uq_plugin_instances_tenant_name", instance.name)
        await self._audit("plugin_instance.delete", "plugin_instance", instance.id, before, None)
        return WriteResult(None, 204)

    def decrypted_config(self, instance: PluginInstance) -> dict[str, Any]:
        """The clear config, for handing to the plugin; never for output."""
        return unseal(instance.config, self._secret_paths(instance), self.box)

    async def _audit(self, action: str, rtype: str, rid: str, before: Any, after: Any) -> None:
        # Representations are already masked; record_audit redacts secret-looking keys too.
        await audit_change(self.session, self.principal, action, rtype, rid, before, after)


async def _decisions(session: AsyncSession) -> dict[str, bool]:
    rows = (await session.scalars(select(PluginTenantState))).all()
    return {row.plugin_id: row.enabled for row in rows}


def _state(registry: PluginRegistry, plugin: LoadedPlugin, decisions: dict[str, bool]) -> str:
    if plugin.failed:
        return "failed"
    enabled = decisions.get(plugin.id, registry.default_enabled(plugin))
    return "enabled" if enabled else "disabled"


async def enabled_plugin_ids(session: AsyncSession, registry: PluginRegistry) -> set[str]:
    """Ids of the plugins enabled for the session's tenant (loaded, and not disabled by its admin)."""
    return _enabled(registry, await _decisions(session))


def _enabled(registry: PluginRegistry, decisions: dict[str, bool]) -> set[str]:
    return {p.id for p in registry.loaded() if _state(registry, p, decisions) == "enabled"}


def _plugin_disabled(plugin_id: str, kind: str, capability_id: str) -> ApiError:
    return ApiError(
        "PLUGIN_DISABLED",
        f"{kind.replace('_', ' ')} {capability_id!r} belongs to plugin {plugin_id!r}, "
        "which is disabled for this tenant",
        {"pluginId": plugin_id, "capabilityKind": kind, "capabilityId": capability_id},
    )


async def dispatch_event(registry: PluginRegistry, enabled_plugin_ids: set[str], event: Event) -> list[str]:
    """Deliver an event to every enabled plugin with ``on_event``; fail open.

    Returns the ids of plugins whose delivery failed (already logged and counted
    against their breaker); delivery to the others goes on.
    """
    failed = []
    for plugin in registry.loaded():
        if plugin.id not in enabled_plugin_ids:
            continue
        impl = registry.hook_impl(plugin.id, "on_event")
        if impl is None:
            continue
        try:
            await registry.guard.call(plugin.id, "on_event", impl, event=event, tenant_id=event.tenant_id)
        except PluginCallFailed:
            failed.append(plugin.id)
    return failed
