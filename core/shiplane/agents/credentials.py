"""Agent credentials: ``shpa.<agent id>.<secret>``, shown once at registration.

Only the SHA-256 of the secret is stored. A credential authenticates as its agent
(role ``agent``: its own heartbeat and task stream), for as long as the agent exists:
deleting the agent revokes it. Checked on every request (one primary-key read), so a
revocation holds at once, in every process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select

from shiplane.agents.models import Agent
from shiplane.platform.auth import Principal
from shiplane.platform.jwt import TokenError
from shiplane.platform.permissions import effective_permissions
from shiplane.platform.reads import ReadStore

PREFIX = "shpa."
_TABLE = Agent.__table__


def new_credential(agent_id: str) -> tuple[str, str]:
    """A new credential for ``agent_id`` and the hash to store."""
    secret = secrets.token_urlsafe(32)
    return f"{PREFIX}{agent_id}.{secret}", digest(secret)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_agent_credential(token: str) -> bool:
    return token.startswith(PREFIX)


async def authenticate(reads: ReadStore, token: str) -> Principal:
    """The agent's principal, or TokenError (401) for a malformed, unknown or revoked credential."""
    agent_id, _, secret = token[len(PREFIX) :].partition(".")
    if not agent_id or len(agent_id) > 36 or not secret or len(secret) > 128:
        raise TokenError("malformed agent credential")
    statement = select(_TABLE.c.tenant_id, _TABLE.c.credential_hash).where(_TABLE.c.id == agent_id)
    row = await reads.run(None, lambda conn: conn.execute(statement).first(), bounded=True)
    if row is None or not hmac.compare_digest(row.credential_hash, digest(secret)):
        raise TokenError("unknown or revoked agent credential")
    roles = ("agent",)
    return Principal(agent_id, row.tenant_id, roles, effective_permissions(roles, ()), None, agent_id=agent_id)
