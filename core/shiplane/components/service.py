"""Components of one tenant and their versions, synced from a registry or SCM integration."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from shiplane_sdk import IntegrationType
from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.components.models import Component, ComponentVersion
from shiplane.components.schemas import ComponentFields, component_out, version_out
from shiplane.components.versions import Selection, VersionPatternError, check_pattern, select_versions
from shiplane.integrations.models import Integration
from shiplane.integrations.service import IntegrationService, Prepared
from shiplane.platform.database import new_id, utcnow
from shiplane.platform.envelope import rfc3339
from shiplane.platform.errors import ApiError, not_found, validation_error
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.listing import ListField, ListParams, ListSpec, Page
from shiplane.platform.reads import TenantReads
from shiplane.platform.versioning import check_version, etag
from shiplane.platform.writes import audit_change, ensure_name_free, flush_change
from shiplane.plugins.guard import PluginCallFailed
from shiplane.plugins.service import PluginService

LIST_SPEC = ListSpec(
    Component,
    fields={
        "name": ListField(Component.name, "string", unique=True),
        "integrationId": ListField(Component.integration_id, "string"),
        "reference": ListField(Component.reference, "string", sortable=False),
        "createdAt": ListField(Component.created_at, "datetime"),
        "updatedAt": ListField(Component.updated_at, "datetime"),
    },
    default_sort="name",
)
VERSION_SPEC = ListSpec(
    ComponentVersion,
    fields={
        # Newest first by semver, then time (components/versions.py); not a value to filter on.
        "precedence": ListField(ComponentVersion.precedence, "string", filterable=False),
        "tag": ListField(ComponentVersion.tag, "string", sortable=False),
        "digest": ListField(ComponentVersion.digest, "string", sortable=False),
        "createdAt": ListField(ComponentVersion.published_at, "datetime"),
        "discoveredAt": ListField(ComponentVersion.created_at, "datetime"),
    },
    default_sort="-precedence",
)
_UNIQUE = "uq_components_tenant_name"
# A sync's selection (pattern matching, ordering) runs in a thread with this bound.
SELECT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class SyncReport:
    added: list[dict[str, Any]]
    updated: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    unchanged: int
    listed: int
    skipped: int

    def out(self, component_id: str, synced_at: str) -> dict[str, Any]:
        return {
            "componentId": component_id,
            "syncedAt": synced_at,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "listed": self.listed,
            "skipped": self.skipped,
        }


class ComponentService:
    def __init__(self, plugins: PluginService) -> None:
        self.plugins = plugins

    @property
    def session(self) -> AsyncSession:
        return self.plugins.session

    # -- reads --------------------------------------------------------------------------------

    async def list_page(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(LIST_SPEC, params)
        return Page([component_out(row) for row in page.items], page.pagination)

    async def read(self, reads: TenantReads, component_id: str) -> tuple[dict[str, Any], int]:
        row = await reads.get(LIST_SPEC, component_id)
        if row is None:
            raise not_found("component", component_id)
        return component_out(row), row.version

    async def versions_page(self, reads: TenantReads, component_id: str, params: ListParams) -> Page:
        if await reads.get(LIST_SPEC, component_id) is None:
            raise not_found("component", component_id)
        own = ComponentVersion.component_id == component_id
        params.filter = own if params.filter is None else (own & params.filter)
        page = await reads.page(VERSION_SPEC, params)
        return Page([version_out(row) for row in page.items], page.pagination)

    async def get(self, component_id: str, *, lock: bool = False) -> Component:
        statement = select(Component).where(Component.id == component_id)
        if lock:
            # A change takes its turn with a running sync's upsert (which locks the row too).
            statement = statement.with_for_update()
        row = await self.session.scalar(statement)
        if row is None:
            raise not_found("component", component_id)
        return row

    # -- writes -------------------------------------------------------------------------------

    async def _check(self, fields: ComponentFields) -> None:
        integration = await self.session.scalar(select(Integration).where(Integration.id == fields.integration_id))
        if integration is None:
            raise validation_error("integrationId", f"no integration {fields.integration_id!r}", "unknown")
        registered = await self.plugins.usable_capability("integration_type", integration.type_id, "integrationId")
        capability = registered.capability
        if not (isinstance(capability, IntegrationType) and capability.supports("list_versions")):
            raise validation_error(
                "integrationId",
                f"integration {integration.name!r} (type {integration.type_id!r}) does not list versions",
                "unsupported",
            )
        try:
            check_pattern(fields.version_pattern, fields.version_pattern_type)
        except VersionPatternError as exc:
            raise validation_error("versionPattern", str(exc), "pattern") from None

    def _apply(self, row: Component, fields: ComponentFields) -> None:
        row.name, row.description = fields.name, fields.description
        row.integration_id, row.reference = fields.integration_id, fields.reference
        row.version_pattern, row.version_pattern_type = fields.version_pattern, fields.version_pattern_type

    async def create(self, fields: ComponentFields) -> WriteResult:
        await ensure_name_free(self.session, Component, fields.name, None, "component")
        await self._check(fields)
        row = Component(id=new_id(), tenant_id=self.plugins.principal.tenant_id)
        self._apply(row, fields)
        self.session.add(row)
        await flush_change(self.session, "component", _UNIQUE, row.name)
        data = component_out(row)
        await audit_change(self.session, self.plugins.principal, "component.create", "component", row.id, None, data)
        return WriteResult(data, 201, {"ETag": etag(row.version), "Location": f"/api/v1/components/{row.id}"})

    async def replace(self, component_id: str, fields: ComponentFields, expected: int | None) -> WriteResult:
        row = await self.get(component_id, lock=True)
        check_version("component", row.version, expected)
        before = component_out(row)
        if fields.name != row.name:
            await ensure_name_free(self.session, Component, fields.name, row.id, "component")
        await self._check(fields)
        source_changed = (fields.integration_id, fields.reference) != (row.integration_id, row.reference)
        self._apply(row, fields)
        if source_changed:
            # Versions of another repository are not this component's: the next sync lists them anew.
            await self.session.execute(delete(ComponentVersion).where(ComponentVersion.component_id == row.id))
            row.version_count, row.sync_status, row.sync_message, row.synced_at = 0, "never", "", None
        await flush_change(self.session, "component", _UNIQUE, row.name)
        data = component_out(row)
        await audit_change(self.session, self.plugins.principal, "component.update", "component", row.id, before, data)
        return WriteResult(data, 200, {"ETag": etag(row.version)})

    async def delete(self, component_id: str, expected: int | None) -> WriteResult:
        row = await self.get(component_id, lock=True)
        check_version("component", row.version, expected)
        from shiplane.releases.service import releases_using  # releases build on components

        using = await releases_using(self.session, row.id)
        if using:
            raise ApiError(
                "RESOURCE_IN_USE",
                f"component {row.name!r} is part of releases: {', '.join(using)}",
                {"releases": using},
            )
        before = component_out(row)
        await self.session.execute(delete(ComponentVersion).where(ComponentVersion.component_id == row.id))
        await self.session.delete(row)
        await flush_change(self.session, "component", _UNIQUE, row.name)
        await audit_change(self.session, self.plugins.principal, "component.delete", "component", row.id, before, None)
        return WriteResult(None, 204)

    # -- sync: list the versions through the integration, then store them -------------------
    # The plugin call runs with no transaction open (a slow registry must not hold a
    # connection, or SQLite's write lock); the upsert is one short transaction after it.

    async def prepare_sync(self, component_id: str) -> tuple[Component, Prepared]:
        row = await self.get(component_id)
        prepared = await IntegrationService(self.plugins).prepare(row.integration_id)
        return row, prepared

    async def list_versions(self, component: Component, prepared: Prepared) -> Selection:
        try:
            listed = await IntegrationService(self.plugins).call(prepared, "list_versions", component.reference)
        except PluginCallFailed as exc:
            raise ApiError(
                "INTEGRATION_FAILED",
                f"listing the versions of {component.reference!r} failed: {exc.reason}",
                {"integrationId": prepared.integration_id, "plugin": exc.plugin_id, "reason": exc.reason},
            ) from None
        if not isinstance(listed, list):
            raise ApiError(
                "INTEGRATION_FAILED",
                "list_versions returned something other than a list",
                {"integrationId": prepared.integration_id, "plugin": prepared.registered.plugin_id},
            )
        work = asyncio.to_thread(select_versions, listed, component.version_pattern, component.version_pattern_type)
        try:
            return await asyncio.wait_for(work, SELECT_TIMEOUT_SECONDS)
        except TimeoutError:
            raise ApiError(
                "INTEGRATION_FAILED",
                f"choosing among the {len(listed)} versions listed took longer than {SELECT_TIMEOUT_SECONDS:g} s",
                {"integrationId": prepared.integration_id, "plugin": prepared.registered.plugin_id},
            ) from None

    async def record_failure(self, component_id: str, message: str) -> None:
        """A failed sync leaves the versions as they were; only the component's sync status says it failed."""
        await self.session.execute(
            update(Component)
            .where(Component.id == component_id)
            .values(sync_status="failed", sync_message=message[:2000], synced_at=utcnow())
            .execution_options(synchronize_session=False)
        )

    async def store(self, component_id: str, expected_source: tuple[str, str], selection: Selection) -> WriteResult:
        # Concurrent syncs of one component take turns on its row (SQLite serialises writes anyway).
        row = await self.session.scalar(select(Component).where(Component.id == component_id).with_for_update())
        if row is None:
            raise not_found("component", component_id)
        if (row.integration_id, row.reference) != expected_source:
            raise ApiError("VERSION_CONFLICT", "the component's integration or reference changed during the sync")
        # Plain rows and bulk statements: a sync of 10,000 versions must not build 10,000 ORM
        # objects on the event loop.
        table: Table = ComponentVersion.__table__  # type: ignore[assignment]
        existing = {
            row.tag: row
            for row in await self.session.execute(
                select(
                    table.c.id, table.c.tag, table.c.digest, table.c.published_at, table.c.metadata, table.c.precedence
                ).where(table.c.component_id == component_id, table.c.tenant_id == self.plugins.principal.tenant_id)
            )
        }
        added: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        inserts: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        unchanged = 0
        tenant_id = self.plugins.principal.tenant_id
        now = utcnow()
        for found in selection.versions:
            current = existing.pop(found.tag, None)
            if current is None:
                inserts.append(
                    {
                        "id": new_id(),
                        "tenant_id": tenant_id,
                        "component_id": component_id,
                        "tag": found.tag,
                        "digest": found.digest,
                        "published_at": found.published_at,
                        "metadata": found.metadata,
                        "precedence": found.precedence,
                        "created_at": now,
                        "updated_at": now,
                        "version": 1,
                    }
                )
                added.append({"tag": found.tag, "digest": found.digest})
                continue
            fresh = (found.digest, found.published_at, found.metadata, found.precedence)
            if (current.digest, current.published_at, current.metadata, current.precedence) == fresh:
                unchanged += 1
                continue
            if current.digest != found.digest:
                updated.append({"tag": found.tag, "digest": found.digest, "previousDigest": current.digest})
            else:
                unchanged += 1
            changes.append(
                {
                    "row_id": current.id,
                    "new_digest": found.digest,
                    "new_published_at": found.published_at,
                    "new_metadata": found.metadata,
                    "new_precedence": found.precedence,
                    "new_updated_at": now,
                }
            )
        if inserts:
            await self.session.execute(insert(table), inserts)
        if changes:
            await self.session.execute(
                update(table)
                .where(table.c.id == bindparam("row_id"))
                .values(
                    digest=bindparam("new_digest"),
                    published_at=bindparam("new_published_at"),
                    metadata=bindparam("new_metadata"),
                    precedence=bindparam("new_precedence"),
                    updated_at=bindparam("new_updated_at"),
                    version=table.c.version + 1,
                ),
                changes,
                execution_options={"synchronize_session": False},
            )
        removed = [{"tag": row.tag, "digest": row.digest} for row in existing.values()]
        if existing:
            ids = [row.id for row in existing.values()]
            for start in range(0, len(ids), 500):
                await self.session.execute(delete(table).where(table.c.id.in_(ids[start : start + 500])))
        count = await self.session.scalar(
            select(func.count()).select_from(ComponentVersion).where(ComponentVersion.component_id == component_id)
        )
        await self.session.execute(
            update(Component)
            .where(Component.id == component_id)
            .values(sync_status="ok", sync_message="", synced_at=now, version_count=int(count or 0))
            .execution_options(synchronize_session=False)
        )
        report = SyncReport(added, updated, removed, unchanged, selection.listed, selection.skipped)
        data = report.out(component_id, rfc3339(now))
        summary = {
            "added": len(added),
            "updated": len(updated),
            "removed": len(removed),
            "versionCount": int(count or 0),
        }
        await audit_change(
            self.session, self.plugins.principal, "component.sync", "component", component_id, None, summary
        )
        return WriteResult(data, 200)


async def integration_in_use(session: AsyncSession, integration_id: str) -> list[str]:
    """Names of the components built on the integration."""
    rows = await session.scalars(select(Component.name).where(Component.integration_id == integration_id).limit(20))
    return list(rows)
