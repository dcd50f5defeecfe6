"""Variable sets (docs/variables.md): values scoped to environments, targets and target
labels, secrets sealed like plugin secrets, resolved for each target when a deployment
starts and kept with the job (a later change never alters a deployment already made).

Precedence, for one target and one name: the most specific matching value wins
(a value scoped to the target > to labels the target carries > to its environment >
unscoped); at equal specificity the later set in the environment's ``variableSetIds``
wins, and within a set the later entry.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.platform.auth import Principal
from shiplane.platform.database import new_id
from shiplane.platform.envelope import rfc3339
from shiplane.platform.errors import not_found, validation_error
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.listing import ListField, ListParams, ListSpec, Page
from shiplane.platform.reads import TenantReads
from shiplane.platform.schemas import ApiModel, ApiOut, Integral
from shiplane.platform.secrets import MASK, SecretBox, is_sealed
from shiplane.platform.versioning import check_version, etag
from shiplane.platform.writes import audit_change, ensure_name_free, flush_change
from shiplane.variables.models import VariableSet

Id = Annotated[str, StringConstraints(min_length=1, max_length=36)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=255)]
MAX_VARIABLES = 200  # with their scopes, a set stays well under the 1 MiB body limit


class VariableScope(ApiModel):
    environments: Annotated[list[Id], Field(max_length=50)] = Field(default_factory=list)
    targets: Annotated[list[Id], Field(max_length=200)] = Field(default_factory=list)
    target_labels: Annotated[dict[Label, Label], Field(max_length=20)] = Field(default_factory=dict)


class VariableIn(ApiModel):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
    value: Annotated[str, StringConstraints(max_length=32768)] = Field(
        description="For a secret, `***` keeps the stored value of the same name and scope"
    )
    secret: bool = False
    scope: VariableScope = Field(default_factory=VariableScope)


class VariableSetFields(ApiModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    variables: Annotated[list[VariableIn], Field(max_length=MAX_VARIABLES)] = Field(default_factory=list)


class VariableSetReplace(VariableSetFields):
    version: Annotated[int, Field(ge=1), Integral] | None = Field(
        default=None, description="Expected version (or If-Match)"
    )


LIST_SPEC = ListSpec(
    VariableSet,
    fields={
        "name": ListField(VariableSet.name, "string", unique=True),
        "createdAt": ListField(VariableSet.created_at, "datetime"),
        "updatedAt": ListField(VariableSet.updated_at, "datetime"),
    },
    default_sort="name",
)
_UNIQUE = "uq_variable_sets_tenant_name"


def _scope_key(variable: dict[str, Any]) -> str:
    return json.dumps([variable["name"], variable.get("scope") or {}], sort_keys=True)


class VariableScopeOut(ApiOut):
    environments: list[str]
    targets: list[str]
    target_labels: dict[str, str]


class VariableOut(ApiOut):
    name: str
    value: str = Field(description="A secret's value is shown as ***")
    secret: bool
    scope: VariableScopeOut


class VariableSetOut(ApiOut):
    id: str
    tenant_id: str
    name: str
    description: str
    variables: list[VariableOut]
    revision: int = Field(description="Bumped by every change; a deployment records the revision it used")
    created_by: str
    version: int
    created_at: datetime
    updated_at: datetime


def variable_set_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenantId": row.tenant_id,
        "name": row.name,
        "description": row.description,
        "variables": [{**v, "value": MASK if v.get("secret") else v.get("value")} for v in row.variables or []],
        "revision": row.revision,
        "createdBy": row.created_by,
        "version": row.version,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }


class VariableSetService:
    def __init__(self, session: AsyncSession | None, principal: Principal, box: SecretBox) -> None:
        self._session = session
        self.principal = principal
        self.box = box

    @property
    def session(self) -> AsyncSession:
        assert self._session is not None
        return self._session

    async def list_page(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(LIST_SPEC, params)
        return Page([variable_set_out(row) for row in page.items], page.pagination)

    async def read(self, reads: TenantReads, set_id: str) -> tuple[dict[str, Any], int]:
        row = await reads.get(LIST_SPEC, set_id)
        if row is None:
            raise not_found("variable set", set_id)
        return variable_set_out(row), row.version

    async def get(self, set_id: str) -> VariableSet:
        row = await self.session.scalar(select(VariableSet).where(VariableSet.id == set_id))
        if row is None:
            raise not_found("variable set", set_id)
        return row

    def _stored(self, fields: VariableSetFields, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = {_scope_key(v): v for v in before if v.get("secret")}
        stored, seen = [], set()
        for index, variable in enumerate(fields.variables):
            entry = {
                "name": variable.name,
                "secret": variable.secret,
                "scope": variable.scope.model_dump(mode="json", by_alias=True),
            }
            key = _scope_key(entry)
            if key in seen:
                raise validation_error(
                    f"variables.{index}", "the same name with the same scope appears twice", "duplicate"
                )
            seen.add(key)
            if variable.secret and variable.value == MASK:
                previous = kept.get(key)
                if previous is None:
                    raise validation_error(
                        f"variables.{index}.value",
                        "`***` keeps a stored secret, and there is none of that name and scope",
                        "unknown",
                    )
                entry["value"] = previous["value"]
            elif variable.secret:
                entry["value"] = self.box.encrypt(variable.value)
            else:
                entry["value"] = variable.value
            stored.append(entry)
        return stored

    async def create(self, fields: VariableSetFields) -> WriteResult:
        await ensure_name_free(self.session, VariableSet, fields.name, None, "variable set")
        row = VariableSet(
            id=new_id(),
            tenant_id=self.principal.tenant_id,
            name=fields.name,
            description=fields.description,
            variables=self._stored(fields, []),
            revision=1,
            created_by=self.principal.user_id,
        )
        self.session.add(row)
        await flush_change(self.session, "variable set", _UNIQUE, row.name)
        data = variable_set_out(row)
        await audit_change(self.session, self.principal, "variable_set.create", "variable_set", row.id, None, data)
        return WriteResult(data, 201, {"ETag": etag(row.version), "Location": f"/api/v1/variable-sets/{row.id}"})

    async def replace(self, set_id: str, fields: VariableSetFields, expected: int | None) -> WriteResult:
        row = await self.get(set_id)
        check_version("variable set", row.version, expected)
        before = variable_set_out(row)
        if fields.name != row.name:
            await ensure_name_free(self.session, VariableSet, fields.name, row.id, "variable set")
        row.name, row.description = fields.name, fields.description
        row.variables = self._stored(fields, list(row.variables or []))
        row.revision += 1
        await flush_change(self.session, "variable set", _UNIQUE, row.name)
        data = variable_set_out(row)
        await audit_change(self.session, self.principal, "variable_set.update", "variable_set", row.id, before, data)
        return WriteResult(data, 200, {"ETag": etag(row.version)})

    async def delete(self, set_id: str, expected: int | None) -> WriteResult:
        row = await self.get(set_id)
        check_version("variable set", row.version, expected)
        before = variable_set_out(row)
        await self.session.delete(row)
        await self.session.flush()
        await audit_change(self.session, self.principal, "variable_set.delete", "variable_set", row.id, before, None)
        return WriteResult(None, 204)


def _specificity(scope: dict[str, Any]) -> int:
    if scope.get("targets"):
        return 4
    if scope.get("targetLabels"):
        return 3
    if scope.get("environments"):
        return 2
    return 1


def _matches(scope: dict[str, Any], environment_id: str, target_id: str, labels: dict[str, str]) -> bool:
    if scope.get("environments") and environment_id not in scope["environments"]:
        return False
    if scope.get("targets") and target_id not in scope["targets"]:
        return False
    wanted = scope.get("targetLabels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


async def resolve(
    session: AsyncSession, set_ids: list[str], environment_id: str, targets: list[tuple[str, dict[str, str]]]
) -> dict[str, Any]:
    """The snapshot a deployment keeps: ``{sets: [{id, name, revision}], targets: {targetId:
    {name: {value, secret}}}}``, secret values still sealed."""
    rows = {r.id: r for r in await session.scalars(select(VariableSet).where(VariableSet.id.in_(set_ids or [""])))}
    ordered = [rows[i] for i in set_ids if i in rows]
    snapshot: dict[str, Any] = {
        "sets": [{"id": r.id, "name": r.name, "revision": r.revision} for r in ordered],
        "targets": {},
    }
    for target_id, labels in targets:
        chosen: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}
        for set_index, row in enumerate(ordered):
            for entry_index, variable in enumerate(row.variables or []):
                scope = variable.get("scope") or {}
                if not _matches(scope, environment_id, target_id, labels):
                    continue
                rank = (_specificity(scope), set_index, entry_index)
                if variable["name"] not in chosen or rank > chosen[variable["name"]][0]:
                    chosen[variable["name"]] = (rank, variable)
        snapshot["targets"][target_id] = {
            name: {"value": v["value"], "secret": bool(v.get("secret"))} for name, (_rank, v) in sorted(chosen.items())
        }
    return snapshot


def clear_values(resolved: dict[str, dict[str, Any]], box: SecretBox) -> dict[str, str]:
    """One target's variables as its deploy gets them (secrets opened)."""
    return {name: str(box.decrypt(v["value"]) if is_sealed(v["value"]) else v["value"]) for name, v in resolved.items()}


def shown(snapshot: dict[str, Any] | None) -> dict[str, Any] | None:
    """The snapshot with secret values as ``***`` (what the API and evidence show)."""
    if snapshot is None:
        return None
    return {
        "sets": snapshot.get("sets", []),
        "targets": {
            target: {name: MASK if v.get("secret") else v.get("value") for name, v in values.items()}
            for target, values in (snapshot.get("targets") or {}).items()
        },
    }
