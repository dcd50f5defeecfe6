"""Roles, permissions and the check an endpoint makes.

A permission is ``resource:action``. Grants may use ``*`` for either half
(``*:read`` is every read; ``*`` alone is everything). Effective permissions are
the union of the roles' grants and the token's own ``permissions`` claim.
"""

from __future__ import annotations

from collections.abc import Iterable

_VIEWER = {"*:read"}
_DEVELOPER = _VIEWER | {
    "components:write",
    "releases:write",
    "workflows:write",
    "workflows:run",
}
_RELEASE_MANAGER = _DEVELOPER | {
    "promotions:create",
    "rollbacks:create",
    "ab-releases:write",
    "workflows:approve",
    "variables:write",
    "audit-reports:create",
}
_APPROVER = _VIEWER | {"promotions:approve", "workflows:approve"}

ROLES: dict[str, frozenset[str]] = {
    "viewer": frozenset(_VIEWER),
    "developer": frozenset(_DEVELOPER),
    "release-manager": frozenset(_RELEASE_MANAGER),
    "approver": frozenset(_APPROVER),
    "admin": frozenset({"*"}),
    # An agent's credential reaches only its own heartbeat and task stream; the
    # endpoints bind it to the agent id in the token.
    "agent": frozenset({"agents:heartbeat", "agents:task-stream"}),
    # What a registration token carries (``shiplane token create --role agent-registrar``):
    # registering an agent, nothing else.
    "agent-registrar": frozenset({"agents:register"}),
}


def effective_permissions(roles: Iterable[str], permissions: Iterable[str]) -> frozenset[str]:
    granted: set[str] = set(permissions)
    for role in roles:
        granted |= ROLES.get(role, frozenset())
    return frozenset(granted)


def is_granted(granted: frozenset[str], required: str) -> bool:
    if required in granted or "*" in granted:
        return True
    resource, _, action = required.partition(":")
    return f"{resource}:*" in granted or f"*:{action}" in granted
