"""Releases: digest-pinned sets of component versions, sealed once and immutable after.

The manifest digest (``manifestDigest``) is ``sha256:`` + the SHA-256 of the release
manifest in RFC 8785 canonical JSON (UTF-8, keys sorted, no whitespace)::

    {"components": [{"componentId": ..., "digest": ..., "name": ..., "reference": ...,
                     "version": ...}, ...],            # sorted by component name
     "mediaType": "application/vnd.shiplane.release.manifest.v1+json"}

The release's own name, description and times are not part of it: two releases of
the same component versions and digests have the same manifest digest, and any
changed digest changes it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785
from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.components.models import Component, ComponentVersion
from shiplane.environments.models import Environment
from shiplane.platform.auth import Principal
from shiplane.platform.database import new_id, utcnow
from shiplane.platform.errors import ApiError, FieldError, not_found
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.listing import ListField, ListParams, ListSpec, Page
from shiplane.platform.reads import TenantReads, tenant_select
from shiplane.platform.versioning import check_version, etag
from shiplane.platform.writes import audit_change, ensure_name_free, flush_change
from shiplane.releases.models import Release
from shiplane.releases.schemas import (
    ReleaseComponentIn,
    ReleaseDeprecate,
    ReleaseFields,
    ReleaseFromLatest,
    release_out,
)

MANIFEST_MEDIA_TYPE = "application/vnd.shiplane.release.manifest.v1+json"
LIST_SPEC = ListSpec(
    Release,
    fields={
        "name": ListField(Release.name, "string", unique=True),
        "state": ListField(Release.state, "string"),
        "manifestDigest": ListField(Release.manifest_digest, "string", sortable=False),
        "sealedAt": ListField(Release.sealed_at, "datetime"),
        "createdAt": ListField(Release.created_at, "datetime"),
        "updatedAt": ListField(Release.updated_at, "datetime"),
    },
    default_sort="-createdAt",
)
_UNIQUE = "uq_releases_tenant_name"


def manifest_digest(components: list[dict[str, Any]]) -> str:
    """The documented canonical form's SHA-256 (see the module docstring)."""
    entries = [
        {
            "componentId": c["componentId"],
            "name": c["componentName"],
            "reference": c["reference"],
            "version": c["version"],
            "digest": c["digest"],
        }
        for c in sorted(components, key=lambda c: (c["componentName"], c["componentId"]))
    ]
    canonical = rfc8785.dumps({"mediaType": MANIFEST_MEDIA_TYPE, "components": entries})
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


class ReleaseService:
    def __init__(self, session: AsyncSession | None, principal: Principal) -> None:
        self._session = session
        self.principal = principal

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("a read-only ReleaseService cannot write")
        return self._session

    # -- reads --------------------------------------------------------------------------------

    async def list_page(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(LIST_SPEC, params)
        return Page([release_out(row) for row in page.items], page.pagination)

    async def read(self, reads: TenantReads, release_id: str) -> tuple[dict[str, Any], int]:
        row = await reads.get(LIST_SPEC, release_id)
        if row is None:
            raise not_found("release", release_id)
        return release_out(row), row.version

    async def compare(self, reads: TenantReads, release_id: str, other_id: str) -> dict[str, Any]:
        base = await reads.get(LIST_SPEC, release_id)
        if base is None:
            raise not_found("release", release_id)
        other = await reads.get(LIST_SPEC, other_id)
        if other is None:
            raise not_found("release", other_id)
        before = {c["componentId"]: c for c in base.components}
        after = {c["componentId"]: c for c in other.components}
        changed = []
        unchanged = []
        for component_id in sorted(before.keys() & after.keys(), key=lambda i: before[i]["componentName"]):
            old, new = before[component_id], after[component_id]
            if (old["version"], old["digest"]) == (new["version"], new["digest"]):
                unchanged.append(new)
                continue
            changed.append(
                {
                    "componentId": component_id,
                    "componentName": new["componentName"],
                    "from": {"version": old["version"], "digest": old["digest"]},
                    "to": {"version": new["version"], "digest": new["digest"]},
                    "versionChanged": old["version"] != new["version"],
                    "digestChanged": old["digest"] != new["digest"],
                }
            )

        def summary(row: Any) -> dict[str, Any]:
            return {"id": row.id, "name": row.name, "state": row.state, "manifestDigest": row.manifest_digest}

        return {
            "base": summary(base),
            "other": summary(other),
            "identical": base.manifest_digest is not None and base.manifest_digest == other.manifest_digest,
            "added": [after[i] for i in after if i not in before],
            "removed": [before[i] for i in before if i not in after],
            "changed": changed,
            "unchanged": unchanged,
        }

    async def state(self, reads: TenantReads, release_id: str) -> dict[str, Any]:
        row = await reads.get(LIST_SPEC, release_id)
        if row is None:
            raise not_found("release", release_id)
        statement = tenant_select(
            Environment.__table__, Environment.id, Environment.name, Environment.current_release_id
        ).order_by(Environment.position, Environment.id)
        environments = await reads.run(lambda conn: list(conn.execute(statement).all()))
        return {
            "releaseId": row.id,
            "releaseState": row.state,
            "environments": [
                {
                    "environmentId": env.id,
                    "environmentName": env.name,
                    "state": "deployed" if env.current_release_id == row.id else "never",
                }
                for env in environments
            ],
        }

    # -- writes -------------------------------------------------------------------------------

    async def get(self, release_id: str) -> Release:
        row = await self.session.scalar(select(Release).where(Release.id == release_id))
        if row is None:
            raise not_found("release", release_id)
        return row

    async def _resolve(self, entries: list[ReleaseComponentIn], seal: bool) -> list[dict[str, Any]]:
        """Every entry's component and version, checked together: one 400 lists every problem."""
        ids = [e.component_id for e in entries]
        components = {c.id: c for c in await self.session.scalars(select(Component).where(Component.id.in_(set(ids))))}
        wanted = [(e.component_id, e.version) for e in entries if e.component_id in components]
        stored: dict[tuple[str, str], ComponentVersion] = {}
        if wanted:
            rows = await self.session.scalars(
                select(ComponentVersion).where(
                    ComponentVersion.component_id.in_({c for c, _ in wanted}),
                    ComponentVersion.tag.in_({t for _, t in wanted}),
                )
            )
            stored = {(v.component_id, v.tag): v for v in rows}
        errors: list[FieldError] = []
        seen: set[str] = set()
        resolved: list[dict[str, Any]] = []
        for index, entry in enumerate(entries):
            field = f"components.{index}"
            component = components.get(entry.component_id)
            if component is None:
                errors.append(FieldError(f"{field}.componentId", f"no component {entry.component_id!r}", "unknown"))
                continue
            if entry.component_id in seen:
                errors.append(
                    FieldError(f"{field}.componentId", f"component {component.name!r} is listed twice", "duplicate")
                )
                continue
            seen.add(entry.component_id)
            version = stored.get((entry.component_id, entry.version))
            if version is None:
                errors.append(
                    FieldError(
                        f"{field}.version",
                        f"component {component.name!r} has no version {entry.version!r} "
                        "(POST /components/{id}/sync-versions stores what its integration lists)",
                        "unknown",
                    )
                )
                continue
            if entry.digest is not None and version.digest is not None and entry.digest != version.digest:
                errors.append(
                    FieldError(
                        f"{field}.digest",
                        f"{component.name} {entry.version} is now {version.digest}, not {entry.digest}",
                        "mismatch",
                    )
                )
                continue
            if seal and version.digest is None:
                errors.append(
                    FieldError(
                        f"{field}.version",
                        f"{component.name} {entry.version} has no digest, so the release cannot be sealed",
                        "no_digest",
                    )
                )
                continue
            resolved.append(
                {
                    "componentId": component.id,
                    "componentName": component.name,
                    "reference": component.reference,
                    "version": entry.version,
                    "digest": version.digest,
                }
            )
        if errors:
            raise ApiError(
                "VALIDATION_ERROR", "invalid components: " + "; ".join(e.message for e in errors[:5]), None, errors
            )
        return sorted(resolved, key=lambda c: (c["componentName"], c["componentId"]))

    def _seal(self, row: Release) -> None:
        row.state = "ready"
        row.manifest_digest = manifest_digest(row.components)
        row.sealed_at, row.sealed_by = utcnow(), self.principal.user_id

    async def create(self, fields: ReleaseFields) -> WriteResult:
        await ensure_name_free(self.session, Release, fields.name, None, "release")
        components = await self._resolve(fields.components, seal=fields.state == "ready")
        row = Release(
            id=new_id(),
            tenant_id=self.principal.tenant_id,
            name=fields.name,
            description=fields.description,
            state="draft",
            components=components,
            created_by=self.principal.user_id,
        )
        if fields.state == "ready":
            self._seal(row)
        self.session.add(row)
        await flush_change(self.session, "release", _UNIQUE, row.name)
        data = release_out(row)
        await audit_change(self.session, self.principal, "release.create", "release", row.id, None, data)
        if row.state == "ready":
            await audit_change(self.session, self.principal, "release.seal", "release", row.id, None, data)
        return WriteResult(data, 201, {"ETag": etag(row.version), "Location": f"/api/v1/releases/{row.id}"})

    async def replace(self, release_id: str, fields: ReleaseFields, expected: int | None) -> WriteResult:
        row = await self.get(release_id)
        if row.state != "draft":
            raise ApiError(
                "INVALID_STATE",
                f"release {row.name!r} is {row.state}: a sealed release is immutable (create a new release)",
                {"state": row.state},
            )
        check_version("release", row.version, expected)
        before = release_out(row)
        if fields.name != row.name:
            await ensure_name_free(self.session, Release, fields.name, row.id, "release")
        row.components = await self._resolve(fields.components, seal=fields.state == "ready")
        row.name, row.description = fields.name, fields.description
        if fields.state == "ready":
            self._seal(row)
        await flush_change(self.session, "release", _UNIQUE, row.name)
        data = release_out(row)
        await audit_change(self.session, self.principal, "release.update", "release", row.id, before, data)
        if row.state == "ready":
            await audit_change(self.session, self.principal, "release.seal", "release", row.id, before, data)
        return WriteResult(data, 200, {"ETag": etag(row.version)})

    async def from_latest(self, fields: ReleaseFromLatest) -> WriteResult:
        """A sealed release of the newest stored version of each chosen component."""
        entries: list[ReleaseComponentIn] = []
        errors: list[FieldError] = []
        for index, component_id in enumerate(fields.component_ids):
            newest = await self.session.scalar(
                select(ComponentVersion.tag)
                .where(ComponentVersion.component_id == component_id)
                .order_by(ComponentVersion.precedence.desc(), ComponentVersion.id.desc())
                .limit(1)
            )
            if newest is not None:
                entries.append(ReleaseComponentIn(component_id=component_id, version=newest))
                continue
            known = await self.session.scalar(select(Component.name).where(Component.id == component_id))
            message = (
                f"component {known!r} has no stored versions (POST /components/{{id}}/sync-versions first)"
                if known is not None
                else f"no component {component_id!r}"
            )
            errors.append(FieldError(f"componentIds.{index}", message, "no_versions" if known else "unknown"))
        if errors:
            raise ApiError(
                "VALIDATION_ERROR", "invalid componentIds: " + "; ".join(e.message for e in errors[:5]), None, errors
            )
        name = fields.name or f"latest-{utcnow():%Y%m%d-%H%M%S}"
        try:
            release = ReleaseFields(name=name, description=fields.description, components=entries, state="ready")
        except ValueError as exc:  # pragma: no cover - the inputs above are valid by construction
            raise ApiError("VALIDATION_ERROR", str(exc)) from None
        try:
            return await self.create(release)
        except ApiError as exc:
            # Name the request's own fields: componentIds.N rather than components.N.version.
            for error in exc.validation_errors:
                error.field = error.field.replace("components.", "componentIds.").rsplit(".", 1)[0]
            raise

    async def deprecate(self, release_id: str, body: ReleaseDeprecate) -> WriteResult:
        row = await self.get(release_id)
        if row.state != "ready":
            message = (
                f"release {row.name!r} is a draft: delete it instead"
                if row.state == "draft"
                else f"release {row.name!r} is already deprecated"
            )
            raise ApiError("INVALID_STATE", message, {"state": row.state})
        before = release_out(row)
        row.state = "deprecated"
        row.deprecated_at, row.deprecated_by, row.deprecation_reason = utcnow(), self.principal.user_id, body.reason
        await flush_change(self.session, "release", _UNIQUE, row.name)
        data = release_out(row)
        await audit_change(self.session, self.principal, "release.deprecate", "release", row.id, before, data)
        return WriteResult(data, 200, {"ETag": etag(row.version)})

    async def delete(self, release_id: str, expected: int | None) -> WriteResult:
        row = await self.get(release_id)
        check_version("release", row.version, expected)
        deployed = list(
            await self.session.scalars(select(Environment.name).where(Environment.current_release_id == row.id))
        )
        if row.first_promoted_at is not None or deployed:
            raise ApiError(
                "INVALID_STATE",
                f"release {row.name!r} has been promoted; it stays for the record (deprecate it instead)",
                {"environments": deployed},
            )
        from shiplane.progressive.models import ABRelease
        from shiplane.progressive.states import TERMINAL

        users = list(
            await self.session.scalars(
                select(ABRelease.name)
                .where(
                    (ABRelease.control_release_id == row.id) | (ABRelease.candidate_release_id == row.id),
                    ABRelease.state.not_in(sorted(TERMINAL)),
                )
                .limit(20)
            )
        )
        if users:
            raise ApiError(
                "RESOURCE_IN_USE",
                f"release {row.name!r} is a side of A/B release(s) {', '.join(users)}",
                {"abReleases": users},
            )
        before = release_out(row)
        await self.session.delete(row)
        await flush_change(self.session, "release", _UNIQUE, row.name)
        await audit_change(self.session, self.principal, "release.delete", "release", row.id, before, None)
        return WriteResult(None, 204)


async def releases_using(session: AsyncSession, component_id: str) -> list[str]:
    """Names of releases (at most 20) that include the component."""
    rows = await session.scalars(
        select(Release.name).where(cast(Release.components, Text).contains(component_id)).limit(20)
    )
    return list(rows)
