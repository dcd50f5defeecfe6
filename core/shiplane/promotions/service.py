"""Promotions: a sealed release into an environment, through the environment's gates and
approval policy (docs/promotions.md).

Gates are evaluated with no transaction open (each through the plugin guard, off the
event loop); the outcome is then written as a compare-and-set on the promotion's
version, so concurrent approvals, re-evaluations and cancels never both move it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from shiplane.engine.queue import WorkQueue
from shiplane.environments.models import Environment
from shiplane.environments.service import require_protected
from shiplane.evidence.service import record_promotion_decision
from shiplane.platform.auth import Principal
from shiplane.platform.database import Database, new_id, utcnow
from shiplane.platform.envelope import rfc3339
from shiplane.platform.errors import ApiError, not_found, validation_error
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.listing import ListField, ListParams, ListSpec, Page
from shiplane.platform.reads import TenantReads
from shiplane.platform.secrets import mask_sealed, unseal
from shiplane.platform.writes import audit_change, ensure_name_free, flush_change
from shiplane.plugins.gates import CoreGateContext, evaluate_gate
from shiplane.plugins.service import PluginService
from shiplane.promotions.context import environment_for_gates, release_for_gates
from shiplane.promotions.models import ApprovalPolicy, Promotion, PromotionApproval
from shiplane.promotions.schemas import (
    ApprovalPolicyCreate,
    PromotionCreate,
    approval_out,
    approval_policy_out,
    promotion_out,
)
from shiplane.promotions.states import OPEN, allow, transition
from shiplane.releases.models import Release

LIST_SPEC = ListSpec(
    Promotion,
    fields={
        "state": ListField(Promotion.state, "string"),
        "releaseId": ListField(Promotion.release_id, "string"),
        "environmentId": ListField(Promotion.environment_id, "string"),
        "requestedBy": ListField(Promotion.requested_by, "string", sortable=False),
        "createdAt": ListField(Promotion.created_at, "datetime"),
        "updatedAt": ListField(Promotion.updated_at, "datetime"),
    },
    default_sort="-createdAt",
)
POLICY_SPEC = ListSpec(
    ApprovalPolicy,
    fields={
        "name": ListField(ApprovalPolicy.name, "string", unique=True),
        "createdAt": ListField(ApprovalPolicy.created_at, "datetime"),
        "updatedAt": ListField(ApprovalPolicy.updated_at, "datetime"),
    },
    default_sort="name",
)
_POLICY_UNIQUE = "uq_approval_policies_tenant_name"
#: How long a promotion blocked by something other than a freeze window waits before the
#: sweep evaluates it again (a freeze window's block is evaluated again when it ends).
DEFAULT_RECHECK = timedelta(seconds=60)
_SETTLE_ATTEMPTS = 5


#: Promotion moves in this process, by the state reached (for /metrics).
COUNTS: Counter[str] = Counter()


def system_principal(tenant_id: str) -> Principal:
    """Who the re-evaluation sweep acts as (what the audit trail shows)."""
    return Principal(
        user_id="shiplane:promotions",
        tenant_id=tenant_id,
        roles=("system",),
        permissions=frozenset({"*:read"}),
        tier=None,
    )


# -- approval policies --------------------------------------------------------------------------


class ApprovalPolicyService:
    def __init__(self, session: AsyncSession | None, principal: Principal) -> None:
        self._session = session
        self.principal = principal

    async def list_page(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(POLICY_SPEC, params)
        return Page([approval_policy_out(row) for row in page.items], page.pagination)

    async def create(self, body: ApprovalPolicyCreate) -> WriteResult:
        assert self._session is not None
        await ensure_name_free(self._session, ApprovalPolicy, body.name, None, "approval policy")
        policy = ApprovalPolicy(
            id=new_id(),
            tenant_id=self.principal.tenant_id,
            name=body.name,
            description=body.description,
            required_approvals=body.required_approvals,
            approver_roles=list(dict.fromkeys(body.approver_roles)),
            approver_users=list(dict.fromkeys(body.approver_users)),
            allow_self_approval=body.allow_self_approval,
            expires_after_seconds=body.expires_after_seconds,
            created_by=self.principal.user_id,
        )
        self._session.add(policy)
        await flush_change(self._session, "approval policy", _POLICY_UNIQUE, policy.name)
        data = approval_policy_out(policy)
        await audit_change(
            self._session, self.principal, "approval_policy.create", "approval_policy", policy.id, None, data
        )
        return WriteResult(data, 201, {"Location": f"/api/v1/approval-policies/{policy.id}"})


def policy_snapshot(policy: ApprovalPolicy) -> dict[str, Any]:
    return {
        "id": policy.id,
        "name": policy.name,
        "requiredApprovals": policy.required_approvals,
        "approverRoles": list(policy.approver_roles),
        "approverUsers": list(policy.approver_users),
        "allowSelfApproval": policy.allow_self_approval,
        "expiresAfterSeconds": policy.expires_after_seconds,
    }


# -- evaluation -----------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """What the gates said and the state it leads to."""

    state: str
    message: str
    gates: list[dict[str, Any]]
    recheck_at: datetime | None = None
    failing: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Subject:
    """What an evaluation judges: read in one session, evaluated with none open."""

    release: dict[str, Any]
    environment: dict[str, Any]
    gates: list[dict[str, Any]]  # the environment's gate configs, sealed
    policy: dict[str, Any] | None


async def load_subject(session: AsyncSession, release: Release, env: Environment) -> Subject:
    policy: dict[str, Any] | None = None
    if env.approval_policy_id:
        row = await session.scalar(select(ApprovalPolicy).where(ApprovalPolicy.id == env.approval_policy_id))
        if row is not None:
            policy = policy_snapshot(row)
    if policy is None:
        gate = next((g for g in env.gates or [] if g.get("type") == "approval"), None)
        if gate is not None:
            wanted = int((gate.get("config") or {}).get("requiredApprovals", 1))
            policy = {
                "id": None,
                "name": gate.get("name") or "approval gate",
                "requiredApprovals": wanted,
                "approverRoles": [],
                "approverUsers": [],
                "allowSelfApproval": False,
                "expiresAfterSeconds": None,
            }
    return Subject(
        await release_for_gates(session, release),
        await environment_for_gates(session, env),
        list(env.gates or []),
        policy,
    )


def _freeze_end(details: dict[str, Any]) -> datetime | None:
    ends = []
    for window in details.get("activeWindows") or []:
        if window.get("nextEnd"):
            ends.append(datetime.fromisoformat(str(window["nextEnd"]).replace("Z", "+00:00")))
    return min(ends) if ends else None


async def evaluate(
    plugins: PluginService,
    subject: Subject,
    promotion: dict[str, Any] | None,
    approvals: list[dict[str, Any]],
) -> Evaluation:
    """Every gate of the environment, in order, then the approval requirement."""
    now = utcnow()
    results: list[dict[str, Any]] = []
    for gate in subject.gates:
        gate_type = str(gate.get("type", ""))
        registered = plugins.registry.capabilities.get("gate", {}).get(gate_type)
        paths = registered.capability.secret_fields() if registered is not None else []
        config = unseal(gate.get("config") or {}, paths, plugins.box)
        ctx = CoreGateContext(plugins.principal.tenant_id, subject.release, subject.environment, promotion, now)
        result, lines = await evaluate_gate(plugins, gate_type, ctx, config)
        results.append(
            {
                "gateId": gate.get("id"),
                "type": gate_type,
                "name": gate.get("name") or gate_type,
                "status": result.status,
                "message": result.message,
                "details": result.details,
                "inputs": {
                    "config": mask_sealed(gate.get("config") or {}),
                    "releaseId": subject.release.get("id"),
                    "manifestDigest": subject.release.get("manifestDigest"),
                    "environmentId": subject.environment.get("id"),
                    "approvals": len(approvals),
                    "freezeOverride": (promotion or {}).get("freezeOverride"),
                },
                "log": lines,
                "evaluatedAt": rfc3339(now),
            }
        )
    policy = subject.policy
    approved_by = sorted({a["userId"] for a in approvals if a["decision"] == "approve"})
    rejected = [a for a in approvals if a["decision"] == "reject"]
    if policy is not None:
        wanted = int(policy["requiredApprovals"])
        results.append(
            {
                "gateId": None,
                "type": "approval-policy",
                "name": policy.get("name") or "approval policy",
                "status": "fail" if rejected else "pass" if len(approved_by) >= wanted else "pending",
                "message": f"rejected by {rejected[0]['userId']}"
                if rejected
                else f"{len(approved_by)} of {wanted} approval(s)",
                "details": {"required": wanted, "approvedBy": approved_by, "policy": policy},
                "inputs": {"approvals": len(approvals)},
                "log": [],
                "evaluatedAt": rfc3339(now),
            }
        )
    if rejected:
        who = rejected[0]
        note = f": {who['comment']}" if who.get("comment") else ""
        return Evaluation("rejected", f"rejected by {who['userId']}{note}", results)
    people = ("approval", "approval-policy")
    failing = [r for r in results if r["type"] not in people and r["status"] in ("fail", "pending")]
    if failing:
        ends = [_freeze_end(r["details"]) for r in failing if r["type"] == "freeze-window"]
        only_freezes = all(r["type"] == "freeze-window" for r in failing) and all(ends)
        recheck = min(e for e in ends if e) if only_freezes else now + DEFAULT_RECHECK
        names = ", ".join(f"{r['name']} ({r['message']})" for r in failing)
        return Evaluation("blocked", f"blocked by {names}", results, recheck, failing)
    waiting = [r for r in results if r["type"] in people and r["status"] != "pass"]
    if waiting:
        return Evaluation("awaiting_approval", waiting[0]["message"], results)
    return Evaluation("approved", "every gate passed", results)


def failing_details(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "gates": [
            {
                "gateId": g["gateId"],
                "type": g["type"],
                "name": g["name"],
                "status": g["status"],
                "message": g["message"],
            }
            for g in evaluation.failing
        ],
        "recheckAt": rfc3339(evaluation.recheck_at) if evaluation.recheck_at else None,
    }


# -- promotions ------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """A promotion request checked and evaluated before its write transaction."""

    body: PromotionCreate
    release: Release
    environment: Environment
    subject: Subject
    evaluation: Evaluation
    freeze_override: dict[str, Any] | None


class PromotionService:
    def __init__(self, db: Database, plugins: PluginService, queue: WorkQueue | None = None) -> None:
        self.db = db
        self.plugins = plugins
        self.queue = queue

    @property
    def principal(self) -> Principal:
        return self.plugins.principal

    @property
    def tenant(self) -> str:
        return self.principal.tenant_id

    async def list_page(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(LIST_SPEC, params)
        return Page([promotion_out(row) for row in page.items], page.pagination)

    async def _approvals(self, session: AsyncSession, promotion_id: str) -> list[dict[str, Any]]:
        rows = await session.scalars(
            select(PromotionApproval)
            .where(PromotionApproval.promotion_id == promotion_id)
            .order_by(PromotionApproval.created_at, PromotionApproval.id)
        )
        return [approval_out(r) for r in rows]

    async def get(self, promotion_id: str) -> dict[str, Any]:
        async with self.db.session(self.tenant, write=False) as session:
            row = await session.scalar(select(Promotion).where(Promotion.id == promotion_id))
            if row is None:
                raise not_found("promotion", promotion_id)
            return promotion_out(row, await self._approvals(session, promotion_id))

    async def decision(self, promotion_id: str) -> dict[str, Any]:
        async with self.db.session(self.tenant, write=False) as session:
            row = await session.scalar(select(Promotion).where(Promotion.id == promotion_id))
            if row is None:
                raise not_found("promotion", promotion_id)
            approvals = await self._approvals(session, promotion_id)
        return {
            "promotionId": row.id,
            "state": row.state,
            "outcome": row.message,
            "evaluatedAt": rfc3339(row.evaluated_at) if row.evaluated_at else None,
            "gates": row.gates,
            "approvalPolicy": row.policy,
            "approvals": approvals,
            "freezeOverride": row.freeze_override,
        }

    async def approvals(self, promotion_id: str) -> list[dict[str, Any]]:
        async with self.db.session(self.tenant, write=False) as session:
            if await session.scalar(select(Promotion.id).where(Promotion.id == promotion_id)) is None:
                raise not_found("promotion", promotion_id)
            return await self._approvals(session, promotion_id)

    # -- request ----------------------------------------------------------------------------

    async def _subject_of(
        self, session: AsyncSession, release_id: str, environment_id: str
    ) -> tuple[Release, Environment, Subject]:
        release = await session.scalar(select(Release).where(Release.id == release_id))
        if release is None:
            raise validation_error("releaseId", f"no release {release_id!r}", "unknown")
        env = await session.scalar(select(Environment).where(Environment.id == environment_id))
        if env is None:
            raise validation_error("environmentId", f"no environment {environment_id!r}", "unknown")
        if release.state == "deprecated":
            raise ApiError(
                "RELEASE_DEPRECATED",
                f"release {release.name!r} is deprecated: it cannot be promoted anywhere",
                {"releaseId": release.id, "reason": release.deprecation_reason},
            )
        if release.state != "ready":
            raise ApiError(
                "INVALID_STATE",
                f"release {release.name!r} is a draft: seal it before promoting it",
                {"state": release.state, "action": "promote"},
            )
        return release, env, await load_subject(session, release, env)

    def _override(self, body: PromotionCreate, subject: Subject) -> dict[str, Any] | None:
        if body.freeze_override is None:
            return None
        active = [w for w in subject.environment.get("freezeWindows") or [] if w.get("active")]
        if not active:
            raise validation_error("freezeOverride", "no freeze window is active in this environment", "not_needed")
        roles = set(self.principal.roles)
        for window in active:
            allowed = set(window.get("overrideRoles") or [])
            if not roles & allowed:
                raise ApiError(
                    "FORBIDDEN",
                    f"overriding the freeze window {window['id']!r} ({window.get('reason') or 'no reason given'}) "
                    f"takes one of the roles {sorted(allowed) or 'none: it cannot be overridden'}",
                    {"freezeWindowId": window["id"], "overrideRoles": sorted(allowed)},
                )
        return {
            "by": self.principal.user_id,
            "roles": sorted(roles),
            "reason": body.freeze_override.reason,
            "windows": [w["id"] for w in active],
            "at": rfc3339(utcnow()),
        }

    async def prepare(self, body: PromotionCreate) -> Prepared:
        """Checked and evaluated, before anything is written (no transaction open while the
        gates run)."""
        async with self.db.session(self.tenant, write=False) as session:
            release, env, subject = await self._subject_of(session, body.release_id, body.environment_id)
        require_protected(env, self.principal, "promote")
        override = self._override(body, subject)
        promotion: dict[str, Any] = {
            "id": None,
            "requestedBy": self.principal.user_id,
            "approvals": [],
            "freezeOverride": override,
        }
        evaluation = await evaluate(self.plugins, subject, promotion, [])
        return Prepared(body, release, env, subject, evaluation, override)

    async def preview(self, release_id: str, environment_id: str) -> dict[str, Any]:
        async with self.db.session(self.tenant, write=False) as session:
            _release, _env, subject = await self._subject_of(session, release_id, environment_id)
        # No promotion yet: the gates judge the release and the environment only.
        evaluation = await evaluate(self.plugins, subject, None, [])
        return {
            "releaseId": release_id,
            "environmentId": environment_id,
            "outcome": evaluation.state,
            "message": evaluation.message,
            "gates": evaluation.gates,
            "approvalPolicy": subject.policy,
        }

    async def create(self, session: AsyncSession, prepared: Prepared) -> WriteResult:
        evaluation, now = prepared.evaluation, utcnow()
        policy = prepared.subject.policy
        expires = None
        if policy is not None and policy.get("expiresAfterSeconds"):
            expires = now + timedelta(seconds=int(policy["expiresAfterSeconds"]))
        row = Promotion(
            id=new_id(),
            tenant_id=self.tenant,
            release_id=prepared.release.id,
            environment_id=prepared.environment.id,
            reason=prepared.body.reason,
            requested_by=self.principal.user_id,
            state=evaluation.state,
            message=evaluation.message,
            gates=evaluation.gates,
            evaluated_at=now,
            policy=policy,
            freeze_override=prepared.freeze_override,
            recheck_at=evaluation.recheck_at,
            expires_at=expires,
            finished_at=now if evaluation.state in ("rejected",) else None,
        )
        session.add(row)
        release = await session.scalar(select(Release).where(Release.id == prepared.release.id))
        if release is not None and release.first_promoted_at is None:
            release.first_promoted_at = now  # from now on the release cannot be deleted
        await session.flush()
        if row.state == "approved":
            await self._start_deployment(session, row)
        await record_promotion_decision(session, row)
        data = promotion_out(row, [])
        COUNTS[row.state] += 1
        await audit_change(session, self.principal, "promotion.create", "promotion", row.id, None, data)
        if prepared.freeze_override is not None:
            await audit_change(
                session,
                self.principal,
                "promotion.freeze_override",
                "promotion",
                row.id,
                None,
                {"freezeOverride": prepared.freeze_override},
            )
        return WriteResult(data, 201, {"Location": f"/api/v1/promotions/{row.id}"})

    # -- people -----------------------------------------------------------------------------

    async def decide(self, session: AsyncSession, promotion_id: str, decision: str, comment: str) -> WriteResult:
        """Record one person's approval or rejection (the promotion row locked: one at a time);
        the promotion then settles (``settle``) with no transaction open."""
        row = await session.scalar(select(Promotion).where(Promotion.id == promotion_id).with_for_update())
        if row is None:
            raise not_found("promotion", promotion_id)
        action = "approve" if decision == "approve" else "reject"
        allow(row.state, action)
        policy = row.policy
        if policy is None:
            raise ApiError(
                "INVALID_STATE",
                "this promotion needs no approval",
                {"state": row.state, "action": action},
            )
        who = self.principal
        if who.user_id == row.requested_by and not policy.get("allowSelfApproval"):
            raise ApiError(
                "SELF_APPROVAL_FORBIDDEN",
                "the requester of a promotion may not approve or reject it (separation of duties)",
                {"requestedBy": row.requested_by},
            )
        roles, users = list(policy.get("approverRoles") or []), list(policy.get("approverUsers") or [])
        if (roles or users) and who.user_id not in users and not set(roles) & set(who.roles):
            raise ApiError(
                "FORBIDDEN",
                f"the approval policy {policy.get('name')!r} lets only "
                + " or ".join(
                    ([f"the roles {', '.join(roles)}"] if roles else [])
                    + ([f"the users {', '.join(users)}"] if users else [])
                )
                + " decide",
                {"approverRoles": roles, "approverUsers": users},
            )
        if await session.scalar(
            select(PromotionApproval.id).where(
                PromotionApproval.promotion_id == row.id, PromotionApproval.user_id == who.user_id
            )
        ):
            raise ApiError(
                "INVALID_STATE",
                f"{who.user_id} already decided this promotion; one person counts once",
                {"state": row.state, "action": action},
            )
        session.add(
            PromotionApproval(
                id=new_id(),
                tenant_id=self.tenant,
                promotion_id=row.id,
                user_id=who.user_id,
                decision=action,
                comment=comment,
                roles=list(who.roles),
                created_at=utcnow(),
            )
        )
        # A change of the row (its version): an evaluation made before this decision cannot
        # write its outcome over it. The sweep settles it if this process does not.
        row.message = f"{action}d by {who.user_id}"
        row.recheck_at = utcnow()
        try:
            await session.flush()
        except IntegrityError:
            raise ApiError(
                "INVALID_STATE", f"{who.user_id} already decided this promotion; one person counts once"
            ) from None
        approvals = await self._approvals(session, row.id)
        data = promotion_out(row, approvals)
        await audit_change(
            session,
            self.principal,
            f"promotion.{action}",
            "promotion",
            row.id,
            None,
            {"decision": action, "comment": comment, "userId": who.user_id, "roles": list(who.roles)},
        )
        return WriteResult(data, 200)

    async def cancel(self, session: AsyncSession, promotion_id: str, comment: str) -> WriteResult:
        row = await session.scalar(select(Promotion).where(Promotion.id == promotion_id).with_for_update())
        if row is None:
            raise not_found("promotion", promotion_id)
        allow(row.state, "cancel")
        before = promotion_out(row)
        row.state, row.finished_at = "cancelled", utcnow()
        row.message = f"cancelled by {self.principal.user_id}" + (f": {comment}" if comment else "")
        row.recheck_at = None
        await session.flush()
        await record_promotion_decision(session, row)
        data = promotion_out(row, await self._approvals(session, row.id))
        await audit_change(session, self.principal, "promotion.cancel", "promotion", row.id, before, data)
        return WriteResult(data, 200)

    async def settle(self, promotion_id: str) -> dict[str, Any] | None:
        """Evaluate an open promotion again and write the outcome, if nothing changed it
        meanwhile (its version); tried again when something did. The promotion as it is after."""
        for _ in range(_SETTLE_ATTEMPTS):
            async with self.db.session(self.tenant, write=False) as session:
                row = await session.scalar(select(Promotion).where(Promotion.id == promotion_id))
                if row is None:
                    return None
                if row.state not in OPEN:
                    return promotion_out(row, await self._approvals(session, row.id))
                release = await session.scalar(select(Release).where(Release.id == row.release_id))
                env = await session.scalar(select(Environment).where(Environment.id == row.environment_id))
                approvals = await self._approvals(session, row.id)
                seen = row.version
                if release is None or env is None:
                    subject = None
                else:
                    subject = await load_subject(session, release, env)
                    subject.policy = row.policy  # the requirement as it was when requested
            now = utcnow()
            if subject is None:
                evaluation = Evaluation("cancelled", "the release or the environment no longer exists", [])
            elif row.state == "awaiting_approval" and row.expires_at is not None and row.expires_at <= now:
                evaluation = Evaluation("cancelled", "expired: not approved in time", row.gates)
            elif release is not None and release.state == "deprecated":
                evaluation = Evaluation("cancelled", "the release was deprecated", row.gates)
            else:
                promotion = {
                    "id": row.id,
                    "requestedBy": row.requested_by,
                    "approvals": [{"userId": a["userId"], "decision": a["decision"]} for a in approvals],
                    "freezeOverride": row.freeze_override,
                }
                evaluation = await evaluate(self.plugins, subject, promotion, approvals)
            try:
                async with self.db.session(self.tenant, write=True) as session:
                    current = await session.scalar(select(Promotion).where(Promotion.id == promotion_id))
                    if current is None:
                        return None
                    if current.version != seen:
                        continue  # decided or cancelled meanwhile: evaluate again
                    before = promotion_out(current)
                    current.state, current.message = evaluation.state, evaluation.message
                    current.gates, current.evaluated_at = evaluation.gates, now
                    current.recheck_at = evaluation.recheck_at
                    if evaluation.state in ("rejected", "cancelled"):
                        current.finished_at = now
                    await session.flush()
                    if current.state == "approved":
                        # In the transaction that approves it (the compare-and-set): exactly
                        # one deployment starts, however many approvals raced.
                        await self._start_deployment(session, current)
                        await session.flush()
                    await record_promotion_decision(session, current)
                    data = promotion_out(current, await self._approvals(session, current.id))
                    if before["state"] != current.state:
                        COUNTS[current.state] += 1
                        await audit_change(
                            session,
                            self.principal,
                            "promotion.evaluate",
                            "promotion",
                            current.id,
                            {"state": before["state"]},
                            {"state": current.state, "message": current.message},
                        )
                return data
            except StaleDataError:
                continue
        return await self.get(promotion_id)

    async def _start_deployment(self, session: AsyncSession, row: Promotion) -> None:
        """An approved promotion runs its environment's deployment workflow (default: one
        ``deploy`` step); ``deploying`` until the run ends (``finish_promotion``)."""
        if self.queue is None:
            return  # a process without the work queue (never in serve or worker)
        from shiplane.workflows.service import WorkflowService

        env = await session.scalar(select(Environment).where(Environment.id == row.environment_id))
        principal = system_principal(self.tenant)
        plugins = PluginService(session, principal, self.plugins.registry, self.plugins.box, self.plugins.states)
        workflows = WorkflowService(plugins, self.queue)
        try:
            template_id = (env.deployment_template_id if env is not None else None) or await default_template(workflows)
            started = await workflows.create_run(
                template_id,
                None,
                {},
                {"promotionId": row.id, "releaseId": row.release_id, "environmentId": row.environment_id},
            )
        except ApiError as exc:
            row.state, row.finished_at = "failed", utcnow()
            row.message = f"the deployment workflow could not start: {exc.message}"
            return
        row.state = transition("approved", "deploy")
        row.workflow_run_id = str(started.data["id"])
        row.message = f"deploying: workflow run {row.workflow_run_id}"

    async def pending_for(self, principal: Principal) -> list[dict[str, Any]]:
        """What ``principal`` may approve now: waiting promotions whose policy admits them,
        that they did not request (unless self-approval is allowed) and have not decided."""
        if not principal.can("promotions:approve"):
            return []
        async with self.db.session(self.tenant, write=False) as session:
            rows = list(
                await session.scalars(
                    select(Promotion)
                    .where(Promotion.state.in_(("awaiting_approval", "blocked")), Promotion.policy.is_not(None))
                    .order_by(Promotion.created_at, Promotion.id)
                    .limit(500)
                )
            )
            decided = set(
                await session.scalars(
                    select(PromotionApproval.promotion_id).where(
                        PromotionApproval.user_id == principal.user_id,
                        PromotionApproval.promotion_id.in_([r.id for r in rows] or [""]),
                    )
                )
            )
        now = utcnow()
        found = []
        for row in rows:
            policy = row.policy or {}
            if row.id in decided or (row.expires_at is not None and row.expires_at <= now):
                continue
            if row.requested_by == principal.user_id and not policy.get("allowSelfApproval"):
                continue
            roles, users = policy.get("approverRoles") or [], policy.get("approverUsers") or []
            if (roles or users) and principal.user_id not in users and not set(roles) & set(principal.roles):
                continue
            found.append(promotion_out(row))
        return found


async def due_promotions(db: Database, limit: int = 100) -> list[tuple[str, str]]:
    """(tenant, promotion id) of every promotion the sweep should evaluate again now: blocked
    ones whose recheck time came, waiting ones past their expiry."""
    now = utcnow()
    async with db.session(None, write=False) as session:
        rows = await session.execute(
            select(Promotion.tenant_id, Promotion.id)
            .where(
                (Promotion.state.in_(("blocked", "awaiting_approval")) & (Promotion.recheck_at <= now))
                | ((Promotion.state == "awaiting_approval") & (Promotion.expires_at <= now))
            )
            .order_by(Promotion.recheck_at)
            .limit(limit)
        )
        return [(r[0], r[1]) for r in rows]


async def default_template(workflows: Any) -> str:
    """The tenant's default deployment workflow (one ``deploy`` step, all at once), made the
    first time an environment without a template of its own needs it."""
    from shiplane.workflows.models import WorkflowTemplate
    from shiplane.workflows.schemas import TemplateFields
    from shiplane.workflows.service import DEFAULT_DEPLOY_TEMPLATE

    session = workflows.session
    found = await session.scalar(select(WorkflowTemplate.id).where(WorkflowTemplate.name == DEFAULT_DEPLOY_TEMPLATE))
    if found is not None:
        return str(found)
    fields = TemplateFields.model_validate(
        {
            "name": DEFAULT_DEPLOY_TEMPLATE,
            "description": "The default deployment workflow of promotions: deploy to every target at once.",
            "nodes": [{"id": "deploy", "type": "deploy", "config": {"strategy": "all-at-once"}}],
        }
    )
    try:
        # In a savepoint: a concurrent first use that made it already leaves this
        # transaction usable, and its template is taken.
        async with session.begin_nested():
            created = await workflows.create_template(fields, system=True)
        return str(created.data["id"])
    except ApiError:
        found = await session.scalar(
            select(WorkflowTemplate.id).where(WorkflowTemplate.name == DEFAULT_DEPLOY_TEMPLATE)
        )
        if found is None:
            raise
        return str(found)


async def finish_promotion(session: AsyncSession, run: Any) -> None:
    """The deployment workflow of a promotion ended (engine.RUN_FINISHED, in its transaction):
    the promotion succeeds with it, or fails."""
    promotion_id = (run.context or {}).get("promotionId")
    if not promotion_id:
        return
    row = await session.scalar(select(Promotion).where(Promotion.id == promotion_id).with_for_update())
    if row is None or row.state != "deploying" or row.workflow_run_id != run.id:
        return
    before = row.state
    from shiplane.deployments.models import DeploymentJob

    undone = await session.scalar(
        select(DeploymentJob.id).where(DeploymentJob.promotion_id == row.id, DeploymentJob.state == "rolled_back")
    )
    action = "succeed" if run.state == "succeeded" else "roll_back" if undone else "fail"
    row.state = transition(before, action)
    if run.state == "succeeded":
        row.message = "deployed"
    elif undone:
        row.message = f"rolled back by itself: deployment job {undone} failed its post-deployment checks"
    else:
        from shiplane.workflows.models import WorkflowStep

        failed = await session.execute(
            select(WorkflowStep.node_id, WorkflowStep.message).where(
                WorkflowStep.run_id == run.id, WorkflowStep.state == "failed"
            )
        )
        why = "; ".join(f"{node}: {message}" for node, message in failed) or run.message
        row.message = f"the deployment workflow {run.state}: {why}"[:4000]
    row.finished_at = utcnow()
    COUNTS[row.state] += 1
    await session.flush()
    await audit_change(
        session,
        system_principal(row.tenant_id),
        "promotion.finish",
        "promotion",
        row.id,
        {"state": before},
        {"state": row.state, "message": row.message, "workflowRunId": run.id},
    )
