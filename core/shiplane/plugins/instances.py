"""Plugin instances: a tenant's named, validated configurations of one capability."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row

from shiplane.platform.database import new_id
from shiplane.platform.envelope import rfc3339
from shiplane.platform.errors import ApiError, FieldError, not_found, validation_error
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.listing import ListField, ListParams, ListSpec, Page
from shiplane.platform.reads import TenantReads
from shiplane.platform.secrets import mask, mask_sealed, unseal
from shiplane.platform.versioning import check_version, etag
from shiplane.platform.writes import ensure_name_free, flush_change
from shiplane.plugins.models import PluginInstance
from shiplane.plugins.schemas import PluginInstanceFields
from shiplane.plugins.service import PluginService

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


class InstanceService:
    """Instances of one tenant; capability checks and config validation are the plugin service's."""

    def __init__(self, plugins: PluginService) -> None:
        self.plugins = plugins

    async def list_instances(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(INSTANCE_LIST_SPEC, params)
        enabled = await self.plugins.enabled_plugin_ids()
        return Page([self.instance_out(i, enabled) for i in page.items], page.pagination)

    async def read_instance(self, reads: TenantReads, instance_id: str) -> tuple[dict[str, Any], int]:
        """The instance as the API shows it, and its version (for the ETag)."""
        row = await reads.get(INSTANCE_LIST_SPEC, instance_id)
        if row is None:
            raise not_found("plugin instance", instance_id)
        return self.instance_out(row, await self.plugins.enabled_plugin_ids()), row.version

    async def get_instance(self, instance_id: str) -> PluginInstance:
        instance = await self.plugins.session.scalar(select(PluginInstance).where(PluginInstance.id == instance_id))
        if instance is None:
            raise not_found("plugin instance", instance_id)
        return instance

    def _secret_paths(self, instance: PluginInstance | Row[Any]) -> list[str]:
        return self.plugins.stored_secret_paths(
            instance.capability_kind, instance.capability_id, instance.config, instance.plugin_id
        )

    def instance_out(self, instance: PluginInstance | Row[Any], enabled: set[str]) -> dict[str, Any]:
        problem = None
        plugin = self.plugins.registry.plugins.get(instance.plugin_id)
        registered = self.plugins.registry.capabilities.get(instance.capability_kind, {}).get(instance.capability_id)
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
            # mask_sealed: a sealed value no known path names (its plugin gone) shows as *** too.
            "config": mask_sealed(mask(instance.config, self._secret_paths(instance))),
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
        if fields.plugin_id not in self.plugins.registry.plugins:
            raise validation_error("pluginId", f"no installed plugin {fields.plugin_id!r}", "unknown_plugin")
        registered = await self.plugins.usable_capability(fields.capability_kind, fields.capability_id, "capabilityId")
        if registered.plugin_id != fields.plugin_id:
            raise ApiError(
                "VALIDATION_ERROR",
                f"plugin {fields.plugin_id!r} does not provide {fields.capability_kind} {fields.capability_id!r}",
                None,
                [FieldError("capabilityId", f"provided by plugin {registered.plugin_id!r}", "wrong_plugin")],
            )
        return await self.plugins.validated_config(registered, fields.config, stored, "config")

    async def create_instance(self, fields: PluginInstanceFields) -> WriteResult:
        await ensure_name_free(self.plugins.session, PluginInstance, fields.name, None, "plugin instance")
        sealed, paths = await self._checked(fields, None)
        instance = PluginInstance(
            id=new_id(),
            tenant_id=self.plugins.principal.tenant_id,
            name=fields.name,
            description=fields.description,
            plugin_id=fields.plugin_id,
            capability_kind=fields.capability_kind,
            capability_id=fields.capability_id,
            config=sealed,
        )
        self.plugins.session.add(instance)
        await flush_change(self.plugins.session, "plugin instance", "uq_plugin_instances_tenant_name", fields.name)
        data = self.instance_out(instance, await self.plugins.enabled_plugin_ids())
        await self.plugins.audit("plugin_instance.create", "plugin_instance", instance.id, None, data)
        return WriteResult(
            data, 201, {"ETag": etag(instance.version), "Location": f"/api/v1/plugin-instances/{instance.id}"}
        )

    async def replace_instance(
        self, instance_id: str, fields: PluginInstanceFields, expected: int | None
    ) -> WriteResult:
        instance = await self.get_instance(instance_id)
        check_version("plugin instance", instance.version, expected)
        enabled = await self.plugins.enabled_plugin_ids()
        before = self.instance_out(instance, enabled)
        if fields.name != instance.name:
            await ensure_name_free(self.plugins.session, PluginInstance, fields.name, instance.id, "plugin instance")
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
        await flush_change(self.plugins.session, "plugin instance", "uq_plugin_instances_tenant_name", fields.name)
        data = self.instance_out(instance, enabled)
        await self.plugins.audit("plugin_instance.update", "plugin_instance", instance.id, before, data)
        return WriteResult(data, 200, {"ETag": etag(instance.version)})

    async def delete_instance(self, instance_id: str, expected: int | None) -> WriteResult:
        instance = await self.get_instance(instance_id)
        check_version("plugin instance", instance.version, expected)
        from shiplane.progressive.models import ABRelease
        from shiplane.progressive.states import TERMINAL

        users = list(
            await self.plugins.session.scalars(
                select(ABRelease.name)
                .where(ABRelease.router_instance_id == instance.id, ABRelease.state.not_in(sorted(TERMINAL)))
                .limit(20)
            )
        )
        if users:
            raise ApiError(
                "RESOURCE_IN_USE",
                f"plugin instance {instance.name!r} routes the traffic of A/B release(s) {', '.join(users)}",
                {"abReleases": users},
            )
        before = self.instance_out(instance, await self.plugins.enabled_plugin_ids())
        await self.plugins.session.delete(instance)
        await flush_change(self.plugins.session, "plugin instance", "uq_plugin_instances_tenant_name", instance.name)
        await self.plugins.audit("plugin_instance.delete", "plugin_instance", instance.id, before, None)
        return WriteResult(None, 204)

    def decrypted_config(self, instance: PluginInstance) -> dict[str, Any]:
        """The clear config, for handing to the plugin; never for output."""
        return unseal(instance.config, self._secret_paths(instance), self.plugins.box)
