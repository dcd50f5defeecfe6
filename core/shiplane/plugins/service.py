"""Plugins as a tenant sees them: state, health, capabilities, instances, guarded use."""

from __future__ import annotations

import logging
from typing import Any

from shiplane_sdk import ConfigError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.platform.auth import Principal
from shiplane.platform.database import new_id, on_commit, utcnow
from shiplane.platform.envelope import render_json, rfc3339
from shiplane.platform.errors import ApiError, FieldError, not_found, validation_error
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.secrets import (
    MASK,
    SecretBox,
    keep_masked,
    moved_destinations,
    seal,
    secret_paths_holding,
    secret_values,
    unseal,
)
from shiplane.platform.writes import audit_change
from shiplane.plugins.guard import PluginCallFailed
from shiplane.plugins.manager import KIND_API_NAMES, LoadedPlugin, PluginRegistry, RegisteredCapability
from shiplane.plugins.models import PluginTenantState
from shiplane.plugins.states import PluginStateCache

log = logging.getLogger("shiplane.plugins")
# Larger configurations are refused before any plugin code reads them.
MAX_CONFIG_BYTES = 64 * 1024


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
            "runtime": self.registry.runtime(plugin, detail=detail),
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
        await self.audit(
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
        errors = await self.check_config(registered, config, paths, field)
        if errors:
            raise ApiError(
                "VALIDATION_ERROR",
                f"{field} does not match the schema of {capability.kind} {capability.id!r}",
                None,
                [FieldError(f"{field}.{e.field}" if e.field else field, e.message, e.code) for e in errors],
            )
        return seal(config, paths, self.box), paths

    async def check_config(
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
                breaker_free=True,
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

    def stored_secret_paths(
        self, kind: str, capability_id: str, config: dict[str, Any], plugin_id: str | None = None
    ) -> list[str]:
        """The secret paths of a stored config: its capability's, or, without the schema (the
        plugin gone, or not the one named), every value that is sealed."""
        registered = self.registry.capabilities.get(kind, {}).get(capability_id)
        if registered is None or (plugin_id is not None and registered.plugin_id != plugin_id):
            return [k for k, v in config.items() if isinstance(v, dict) and "$encrypted" in v]
        return registered.capability.secret_fields()

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

    async def audit(self, action: str, rtype: str, rid: str, before: Any, after: Any) -> None:
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
