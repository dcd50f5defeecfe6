"""Agents of one tenant: registration, reads, updates, deletion and heartbeats."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.agents.credentials import new_credential
from shiplane.agents.models import Agent
from shiplane.agents.schemas import AgentRegistration, AgentUpdate, Heartbeat, agent_out
from shiplane.platform.auth import Principal
from shiplane.platform.database import new_id, utcnow
from shiplane.platform.errors import ApiError, not_found
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.listing import ListField, ListParams, ListSpec, Page
from shiplane.platform.reads import TenantReads
from shiplane.platform.settings import Settings
from shiplane.platform.versioning import check_version, etag
from shiplane.platform.writes import audit_change, ensure_name_free, flush_change

LIST_SPEC = ListSpec(
    Agent,
    fields={
        "name": ListField(Agent.name, "string", unique=True),
        "hostname": ListField(Agent.hostname, "string"),
        "createdAt": ListField(Agent.created_at, "datetime"),
        "updatedAt": ListField(Agent.updated_at, "datetime"),
    },
    default_sort="name",
)
_UNIQUE = "uq_agents_tenant_name"


class AgentService:
    def __init__(self, session: AsyncSession | None, principal: Principal, settings: Settings) -> None:
        self._session = session
        self.principal = principal
        self.liveness = timedelta(seconds=settings.agent_liveness_seconds)
        self.heartbeat_seconds = settings.agent_heartbeat_seconds

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("a read-only AgentService cannot write")
        return self._session

    def out(self, row: Agent | Row[Any]) -> dict[str, Any]:
        return agent_out(row, utcnow(), self.liveness)

    async def list_page(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(LIST_SPEC, params)
        return Page([self.out(row) for row in page.items], page.pagination)

    async def read(self, reads: TenantReads, agent_id: str) -> tuple[dict[str, Any], int]:
        row = await reads.get(LIST_SPEC, agent_id)
        if row is None:
            raise not_found("agent", agent_id)
        return self.out(row), row.version

    async def get(self, agent_id: str) -> Agent:
        agent = await self.session.scalar(select(Agent).where(Agent.id == agent_id))
        if agent is None:
            raise not_found("agent", agent_id)
        return agent

    async def online_with(self, capability: str, labels: dict[str, str]) -> str | None:
        """The id of an online agent (not draining or disabled) that runs ``capability`` and
        carries ``labels``, the one heard from last; None if there is none."""
        cutoff = utcnow() - self.liveness
        rows = await self.session.scalars(
            select(Agent)
            .where(Agent.disabled.is_(False), Agent.draining.is_(False), Agent.last_heartbeat_at >= cutoff)
            .order_by(Agent.last_heartbeat_at.desc())
            .limit(500)
        )
        for agent in rows:
            carried = agent.labels or {}
            if capability in (agent.capabilities or []) and all(carried.get(k) == v for k, v in labels.items()):
                return agent.id
        return None

    async def register(self, body: AgentRegistration) -> WriteResult:
        await ensure_name_free(self.session, Agent, body.name, None, "agent")
        agent_id = new_id()
        credential, credential_hash = new_credential(agent_id)
        agent = Agent(
            id=agent_id,
            tenant_id=self.principal.tenant_id,
            name=body.name,
            hostname=body.hostname,
            agent_version=body.agent_version,
            capabilities=list(dict.fromkeys(body.capabilities)),
            labels=dict(body.labels),
            credential_hash=credential_hash,
            registered_by=self.principal.user_id,
        )
        self.session.add(agent)
        await flush_change(self.session, "agent", _UNIQUE, agent.name)
        data = self.out(agent)
        await audit_change(self.session, self.principal, "agent.register", "agent", agent.id, None, data)
        # The credential is in this response only: never stored, audited or logged.
        body_out = {"agent": data, "credential": credential, "heartbeatSeconds": self.heartbeat_seconds}
        return WriteResult(body_out, 201, {"Location": f"/api/v1/agents/{agent.id}", "Cache-Control": "no-store"})

    async def update(self, agent_id: str, body: AgentUpdate, expected_version: int | None) -> WriteResult:
        agent = await self.get(agent_id)
        check_version("agent", agent.version, expected_version)
        before = self.out(agent)
        agent.labels = dict(body.labels)
        agent.draining = body.draining
        agent.disabled = body.disabled
        await flush_change(self.session, "agent", _UNIQUE, agent.name)
        data = self.out(agent)
        await audit_change(self.session, self.principal, "agent.update", "agent", agent.id, before, data)
        return WriteResult(data, 200, {"ETag": etag(agent.version)})

    async def delete(self, agent_id: str, expected_version: int | None) -> WriteResult:
        agent = await self.get(agent_id)
        check_version("agent", agent.version, expected_version)
        before = self.out(agent)
        await self.session.delete(agent)
        await flush_change(self.session, "agent", _UNIQUE, agent.name)
        await audit_change(self.session, self.principal, "agent.delete", "agent", agent.id, before, None)
        return WriteResult(None, 204)

    async def heartbeat(self, agent_id: str, body: Heartbeat) -> WriteResult:
        """Only the agent itself heartbeats; not audited (every few seconds), its status shows it."""
        if self.principal.agent_id != agent_id:
            raise ApiError("FORBIDDEN", "only the agent itself can heartbeat", {"agentId": agent_id})
        # One UPDATE, and not a new version: a heartbeat every few seconds must neither cost
        # a read-modify-write nor turn an admin's If-Match into a conflict.
        values: dict[str, Any] = {"last_heartbeat_at": utcnow()}
        if body.agent_version is not None:
            values["agent_version"] = body.agent_version
        if body.capabilities is not None:
            values["capabilities"] = list(dict.fromkeys(body.capabilities))
        result = await self.session.execute(
            update(Agent)
            .where(Agent.id == agent_id)
            .values(**values)
            .returning(Agent.disabled, Agent.draining)
            .execution_options(synchronize_session=False)
        )
        row = result.first()
        if row is None:
            raise not_found("agent", agent_id)
        status = "disabled" if row.disabled else "draining" if row.draining else "online"
        return WriteResult({"status": status, "heartbeatSeconds": self.heartbeat_seconds}, 200)


async def ensure_local_agent(db: Any, tenant_id: str, capabilities: list[str]) -> tuple[str, str]:
    """The ``local`` agent of ``shiplane serve`` in ``tenant_id``: created the first time,
    given a fresh credential at every start (the previous one stops working)."""
    principal = Principal("shiplane-serve", tenant_id, ("admin",), frozenset({"*"}), None)
    async with db.session(tenant_id, write=True) as session:
        agent = await session.scalar(select(Agent).where(Agent.name == "local"))
        if agent is None:
            agent = Agent(
                id=new_id(),
                tenant_id=tenant_id,
                name="local",
                hostname="localhost",
                agent_version="in-process",
                capabilities=capabilities,
                labels={"shiplane.io/local": "true"},
                credential_hash="",
                registered_by=principal.user_id,
            )
            session.add(agent)
            created = True
        else:
            created = False
        credential, agent.credential_hash = new_credential(agent.id)
        agent.capabilities = capabilities
        await session.flush()
        if created:
            data = agent_out(agent, utcnow(), timedelta(seconds=30))
            await audit_change(session, principal, "agent.register", "agent", agent.id, None, data)
        return agent.id, credential
