"""Integrations of one tenant: configured instances of integration types, and the calls
that reach the external system through them (test, discover, health)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from shiplane_sdk import ConnectionTestResult, DiscoveredItem, HealthReport, IntegrationType
from sqlalchemy import select, update
from sqlalchemy.engine import Row

from shiplane.integrations.models import Integration
from shiplane.integrations.schemas import IntegrationFields, health_of, integration_out
from shiplane.platform.database import new_id, utcnow
from shiplane.platform.envelope import rfc3339
from shiplane.platform.errors import ApiError, not_found
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.listing import ListField, ListParams, ListSpec, Page
from shiplane.platform.reads import TenantReads
from shiplane.platform.secrets import mask, mask_sealed, secret_values, unseal
from shiplane.platform.versioning import check_version, etag
from shiplane.platform.writes import audit_change, ensure_name_free, flush_change
from shiplane.plugins.guard import PluginCallFailed
from shiplane.plugins.manager import RegisteredCapability
from shiplane.plugins.service import PluginService

LIST_SPEC = ListSpec(
    Integration,
    fields={
        "name": ListField(Integration.name, "string", unique=True),
        "typeId": ListField(Integration.type_id, "string"),
        "healthStatus": ListField(Integration.health_status, "string"),
        "createdAt": ListField(Integration.created_at, "datetime"),
        "updatedAt": ListField(Integration.updated_at, "datetime"),
    },
    default_sort="name",
)
_UNIQUE = "uq_integrations_tenant_name"
KIND = "integration_type"
MAX_DISCOVERED = 10_000


class IntegrationService:
    def __init__(self, plugins: PluginService) -> None:
        self.plugins = plugins
        self._enabled: set[str] | None = None

    async def out(self, row: Integration | Row[Any]) -> dict[str, Any]:
        if self._enabled is None:
            self._enabled = await self.plugins.enabled_plugin_ids()
        problem = self.plugins.config_problem(KIND, row.type_id, self._enabled)
        # mask_sealed: a sealed value no known path names (its type gone) shows as *** too.
        config = mask_sealed(mask(row.config, self.plugins.stored_secret_paths(KIND, row.type_id, row.config)))
        return integration_out(row, config, problem)

    # -- reads --------------------------------------------------------------------------------

    async def list_page(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(LIST_SPEC, params)
        return Page([await self.out(row) for row in page.items], page.pagination)

    async def read(self, reads: TenantReads, integration_id: str) -> tuple[dict[str, Any], int]:
        row = await reads.get(LIST_SPEC, integration_id)
        if row is None:
            raise not_found("integration", integration_id)
        return await self.out(row), row.version

    async def get(self, integration_id: str) -> Integration:
        row = await self.plugins.session.scalar(select(Integration).where(Integration.id == integration_id))
        if row is None:
            raise not_found("integration", integration_id)
        return row

    # -- writes -------------------------------------------------------------------------------

    async def create(self, fields: IntegrationFields) -> WriteResult:
        session = self.plugins.session
        await ensure_name_free(session, Integration, fields.name, None, "integration")
        registered = await self.plugins.usable_capability(KIND, fields.type_id, "typeId")
        sealed, _paths = await self.plugins.validated_config(registered, fields.config, None, "config")
        row = Integration(
            id=new_id(),
            tenant_id=self.plugins.principal.tenant_id,
            name=fields.name,
            description=fields.description,
            type_id=fields.type_id,
            config=sealed,
        )
        session.add(row)
        await flush_change(session, "integration", _UNIQUE, row.name)
        data = await self.out(row)
        await audit_change(session, self.plugins.principal, "integration.create", "integration", row.id, None, data)
        return WriteResult(data, 201, {"ETag": etag(row.version), "Location": f"/api/v1/integrations/{row.id}"})

    async def replace(self, integration_id: str, fields: IntegrationFields, expected: int | None) -> WriteResult:
        session = self.plugins.session
        row = await self.get(integration_id)
        check_version("integration", row.version, expected)
        before = await self.out(row)
        if fields.name != row.name:
            await ensure_name_free(session, Integration, fields.name, row.id, "integration")
        registered = await self.plugins.usable_capability(KIND, fields.type_id, "typeId")
        stored = row.config if fields.type_id == row.type_id else None
        sealed, _paths = await self.plugins.validated_config(registered, fields.config, stored, "config")
        row.name, row.description, row.type_id, row.config = fields.name, fields.description, fields.type_id, sealed
        await flush_change(session, "integration", _UNIQUE, row.name)
        data = await self.out(row)
        await audit_change(session, self.plugins.principal, "integration.update", "integration", row.id, before, data)
        return WriteResult(data, 200, {"ETag": etag(row.version)})

    async def delete(self, integration_id: str, expected: int | None) -> WriteResult:
        session = self.plugins.session
        row = await self.get(integration_id)
        check_version("integration", row.version, expected)
        from shiplane.components.service import integration_in_use  # components build on integrations

        components = await integration_in_use(session, row.id)
        if components:
            raise ApiError(
                "RESOURCE_IN_USE",
                f"integration {row.name!r} is used by components: {', '.join(components)}",
                {"components": components},
            )
        before = await self.out(row)
        await session.delete(row)
        await flush_change(session, "integration", _UNIQUE, row.name)
        await audit_change(session, self.plugins.principal, "integration.delete", "integration", row.id, before, None)
        return WriteResult(None, 204)

    # -- calls into the external system -------------------------------------------------------
    # No transaction is open while the plugin runs: a slow registry must not hold a
    # database connection (on SQLite, the write lock) for the call's duration.

    async def prepare(self, integration_id: str) -> Prepared:
        """In a read session: the integration, its capability (422 PLUGIN_DISABLED if the
        plugin is disabled) and its clear config, for a call made after the session ends."""
        row = await self.get(integration_id)
        registered = await self.plugins.usable_capability(KIND, row.type_id, "typeId")
        paths = registered.capability.secret_fields()
        config = unseal(row.config, paths, self.plugins.box)
        return Prepared(row.id, row.type_id, registered, config, secret_values(config, paths), health_of(row))

    async def call(self, prepared: Prepared, operation: str, *args: Any) -> Any:
        function = getattr(prepared.registered.capability, operation)
        return await self.plugins.registry.guard.call(
            prepared.registered.plugin_id,
            f"integration {operation}",
            function,
            prepared.config,
            *args,
            secrets=prepared.secrets,
            tenant_id=self.plugins.principal.tenant_id,
        )

    async def test(self, prepared: Prepared) -> dict[str, Any]:
        """``{ok, latencyMs, message, details}``: also when the check failed."""
        started = time.perf_counter()
        try:
            result = await self.call(prepared, "test")
            if not isinstance(result, ConnectionTestResult):
                raise PluginCallFailed(prepared.registered.plugin_id, "test", f"returned {type(result).__name__}")
            ok, message, details = result.ok, result.message, dict(result.details)
        except PluginCallFailed as exc:
            ok, message, details = False, exc.reason, {"plugin": exc.plugin_id}
        latency = round((time.perf_counter() - started) * 1000, 1)
        return {"ok": ok, "latencyMs": latency, "message": message, "details": details}

    async def current_health(self, prepared: Prepared) -> dict[str, Any]:
        """The health now: the type's ``health`` if it has one, else its ``test``."""
        capability = prepared.registered.capability
        operation = "health" if isinstance(capability, IntegrationType) and capability.supports("health") else "test"
        started = time.perf_counter()
        try:
            result = await self.call(prepared, operation)
            if isinstance(result, HealthReport):
                status, message = result.status, result.message
            elif isinstance(result, ConnectionTestResult):
                status, message = ("ok" if result.ok else "failing"), result.message
            else:
                status, message = "failing", f"{operation} returned {type(result).__name__}"
        except PluginCallFailed as exc:
            status, message = "failing", exc.reason
        latency = round((time.perf_counter() - started) * 1000, 1)
        return {"status": status, "message": message, "checkedAt": rfc3339(utcnow()), "latencyMs": latency}

    async def discover(self, prepared: Prepared, query: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            items = await self.call(prepared, "discover", query)
        except PluginCallFailed as exc:
            if exc.kind == "CapabilityNotSupported":
                raise ApiError(
                    "INVALID_STATE",
                    f"integration type {prepared.type_id!r} does not support discover",
                    {"typeId": prepared.type_id},
                ) from None
            raise ApiError(
                "INTEGRATION_FAILED",
                f"discover failed: {exc.reason}",
                {"integrationId": prepared.integration_id, "plugin": exc.plugin_id, "reason": exc.reason},
            ) from None
        if not isinstance(items, list) or not all(isinstance(i, DiscoveredItem) for i in items):
            raise ApiError("INVALID_STATE", "discover returned something other than a list of DiscoveredItem")
        return [i.model_dump(mode="json", by_alias=True) for i in items[:MAX_DISCOVERED]]

    async def record(self, integration_id: str, status: str, message: str, latency: float) -> None:
        """Store the health found, without a new version (a check is not an edit)."""
        await self.plugins.session.execute(
            update(Integration)
            .where(Integration.id == integration_id)
            .values(
                health_status=status if status in ("ok", "degraded", "failing") else "failing",
                health_message=message[:2000],
                health_checked_at=utcnow(),
                health_latency_ms=latency,
            )
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True)
class Prepared:
    integration_id: str
    type_id: str
    registered: RegisteredCapability
    config: dict[str, Any]
    secrets: list[str]
    last_known: dict[str, Any]
