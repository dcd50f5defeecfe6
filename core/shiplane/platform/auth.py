"""The caller (Principal) and the permission check endpoints declare.

The middleware verifies the token once per request and leaves the result on the
request; these dependencies turn it into a 401, a 403 (audited when the attempt
was a mutation) or a Principal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from shiplane.platform.audit import Actor, record_audit
from shiplane.platform.context import current_request_id
from shiplane.platform.errors import ApiError
from shiplane.platform.jwt import VerifiedClaims
from shiplane.platform.permissions import effective_permissions, is_granted


@dataclass(frozen=True)
class Principal:
    user_id: str
    tenant_id: str
    roles: tuple[str, ...]
    permissions: frozenset[str]
    tier: str | None
    # Set when the caller authenticated with an agent credential: the agent it is.
    agent_id: str | None = None

    @classmethod
    def from_claims(cls, claims: VerifiedClaims) -> Principal:
        return cls(
            user_id=claims.user_id,
            tenant_id=claims.tenant_id,
            roles=tuple(claims.roles),
            permissions=effective_permissions(claims.roles, claims.permissions),
            tier=claims.tier,
        )

    @property
    def actor(self) -> Actor:
        return Actor("agent" if "agent" in self.roles else "user", self.user_id)

    def can(self, permission: str) -> bool:
        return is_granted(self.permissions, permission)


def unauthorized(reason: str) -> ApiError:
    return ApiError(
        "UNAUTHORIZED",
        f"authentication required: {reason}",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def current_principal(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise unauthorized(getattr(request.state, "auth_error", None) or "missing bearer token")
    return principal


def require(
    permission: str,
    *,
    audit_action: str | None = None,
    resource_type: str | None = None,
    alternatives: tuple[str, ...] = (),
) -> Any:
    """A dependency: the caller must hold ``permission`` (or one of ``alternatives``; the
    service then checks which one the action needs).

    For mutations pass ``audit_action`` and ``resource_type``: a refused attempt is
    then recorded in the tenant's audit chain with outcome ``denied``.
    """

    async def dependency(request: Request) -> Principal:
        principal = current_principal(request)
        if principal.can(permission) or any(principal.can(p) for p in alternatives):
            return principal
        if audit_action is not None:
            db = request.app.state.shiplane.db
            resource_id = next(iter(request.path_params.values()), None)
            async with db.session(principal.tenant_id, write=True) as session:
                await record_audit(
                    session,
                    tenant_id=principal.tenant_id,
                    actor=principal.actor,
                    action=audit_action,
                    resource_type=resource_type or "unknown",
                    resource_id=str(resource_id) if resource_id is not None else None,
                    outcome="denied",
                    request_id=current_request_id(),
                    details={"missingPermission": permission, "method": request.method, "path": request.url.path},
                )
        raise ApiError("FORBIDDEN", f"missing permission {permission!r}", {"permission": permission})

    return Depends(dependency)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
