from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, StringConstraints, field_validator

from shiplane.platform.envelope import rfc3339
from shiplane.platform.permissions import ROLES
from shiplane.platform.schemas import ApiModel, ApiOut, Integral

AccountName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9.-]{0,98}[a-z0-9])?$")]
# What a machine may be given: every person's role (not the agents' own).
GRANTABLE_ROLES = tuple(r for r in ROLES if r not in ("agent", "agent-registrar"))
# The same names as a type, so the OpenAPI document says which strings are accepted
# (an enum): a client or a fuzzer reads what the server will take.
GrantableRole = Literal["viewer", "developer", "release-manager", "approver", "admin"]
if set(get_args(GrantableRole)) != set(GRANTABLE_ROLES):  # pragma: no cover - a roles edit
    raise RuntimeError("GrantableRole is out of step with platform.permissions.ROLES")


def _distinct(roles: list[str]) -> list[str]:
    return list(dict.fromkeys(roles))


class ServiceAccountCreate(ApiModel):
    name: AccountName = Field(description="Unique per tenant")
    description: Annotated[str, StringConstraints(max_length=1000)] = ""
    roles: Annotated[list[GrantableRole], Field(min_length=1, max_length=10)] = Field(
        description="The roles its tokens carry (viewer, developer, release-manager, approver, admin)"
    )

    _roles = field_validator("roles")(_distinct)


class ServiceAccountUpdate(ApiModel):
    description: Annotated[str, StringConstraints(max_length=1000)] = ""
    roles: Annotated[list[GrantableRole], Field(min_length=1, max_length=10)]
    version: Annotated[int, Field(ge=1), Integral] | None = Field(
        default=None, description="The version read (or If-Match)"
    )

    _roles = field_validator("roles")(_distinct)


class ServiceAccountOut(ApiOut):
    id: str
    tenant_id: str
    name: str
    description: str
    roles: list[str] = Field(description="The roles its tokens carry")
    client_id: str = Field(description="Its OAuth client_id (the same as id)")
    state: Literal["active", "revoked"]
    secret_rotated_at: datetime = Field(description="When its current client secret was issued")
    revoked_at: datetime | None
    last_token_at: datetime | None = Field(description="When it was last issued an access token")
    created_by: str
    version: int
    created_at: datetime
    updated_at: datetime


class ServiceAccountSecretOut(ApiOut):
    """The answer of a create or a secret rotation: the only time the client secret is shown."""

    service_account: ServiceAccountOut
    client_id: str = Field(description="Its OAuth client_id")
    client_secret: str = Field(
        description="The client secret, in this answer only (the server keeps its hash): store it now"
    )


def account_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenantId": row.tenant_id,
        "name": row.name,
        "description": row.description,
        "roles": list(row.roles or []),
        "clientId": row.id,
        "state": "revoked" if row.revoked_at else "active",
        "secretRotatedAt": rfc3339(row.secret_rotated_at),
        "revokedAt": rfc3339(row.revoked_at) if row.revoked_at else None,
        "lastTokenAt": rfc3339(row.last_token_at) if row.last_token_at else None,
        "createdBy": row.created_by,
        "version": row.version,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }
