"""Evidence packets (docs/evidence.md): every promotion decision and every deployment
job's outcome leaves an in-toto Statement signed in a DSSE envelope, written in the
transaction that makes the decision, so there is no decision without its packet.

Version stickers: each target a job deployed keeps a signed sticker; the server keeps
every one, and marks each target's latest ``current``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from datetime import datetime
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.evidence.dsse import canonical, sign_statement, statement
from shiplane.evidence.models import EvidencePacket, SigningKey, VersionSticker
from shiplane.platform.auth import Principal
from shiplane.platform.database import Database, new_id, utcnow
from shiplane.platform.envelope import rfc3339
from shiplane.platform.errors import not_found
from shiplane.platform.listing import ListField, ListParams, ListSpec, Page
from shiplane.platform.reads import TenantReads
from shiplane.platform.schemas import ApiOut
from shiplane.platform.signing import Signer, signer_of

log = logging.getLogger("shiplane.evidence")

DECISION = "promotion-decision"
OUTCOME = "deployment-outcome"
AB_DECISION = "ab-release-decision"
#: The measurements an A/B release's packet lists in full (the newest); all are counted.
AB_MEASUREMENTS = 200
#: Packets written in this process by kind (for /metrics).
COUNTS: Counter[str] = Counter()

PACKETS = ListSpec(
    EvidencePacket,
    fields={
        "kind": ListField(EvidencePacket.kind, "string"),
        "releaseId": ListField(EvidencePacket.release_id, "string"),
        "environmentId": ListField(EvidencePacket.environment_id, "string"),
        "promotionId": ListField(EvidencePacket.promotion_id, "string", sortable=False),
        "deploymentJobId": ListField(EvidencePacket.deployment_job_id, "string", sortable=False),
        "outcome": ListField(EvidencePacket.outcome, "string", sortable=False),
        "keyId": ListField(EvidencePacket.key_id, "string", sortable=False),
        "createdAt": ListField(EvidencePacket.created_at, "datetime"),
    },
    default_sort="-createdAt",
)

STICKERS = ListSpec(
    VersionSticker,
    fields={
        "targetId": ListField(VersionSticker.target_id, "string"),
        "environmentId": ListField(VersionSticker.environment_id, "string"),
        "releaseId": ListField(VersionSticker.release_id, "string"),
        "deploymentJobId": ListField(VersionSticker.deployment_job_id, "string", sortable=False),
        "current": ListField(VersionSticker.current, "boolean", sortable=False),
        "createdAt": ListField(VersionSticker.created_at, "datetime"),
    },
    default_sort="-createdAt",
)


# -- keys -----------------------------------------------------------------------------------


async def register_key(db: Database, signer: Signer) -> None:
    """Publish this process's public key at start (kept for ever: old packets name old
    keys). A database not migrated yet is no reason not to start: the key is then
    published by the first transaction that signs (``publish_key``)."""
    for _ in range(3):
        try:
            async with db.session(None, write=True) as session:
                row = await session.get(SigningKey, signer.key_id)
                if row is None:
                    session.add(SigningKey(key_id=signer.key_id, algorithm="ed25519", public_key=signer.public_pem))
                else:
                    row.last_started_at = utcnow()
            signer.published = True
            return
        except IntegrityError:
            continue  # another process registered it at the same moment
        except SQLAlchemyError as exc:
            log.warning("the signing key could not be published at start: %s", type(exc).__name__)
            return


async def publish_key(session: AsyncSession, signer: Signer) -> None:
    """In a signing transaction: the key is published (once per process; a concurrent
    insert of the same key is no conflict)."""
    if signer.published:
        return
    values = {
        "key_id": signer.key_id,
        "algorithm": "ed25519",
        "public_key": signer.public_pem,
        "created_at": utcnow(),
        "last_started_at": utcnow(),
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(insert(SigningKey).values(**values).on_conflict_do_nothing(index_elements=["key_id"]))


class SigningKeyOut(ApiOut):
    key_id: str
    algorithm: Literal["ed25519"]
    public_key: str = Field(description="PEM")
    created_at: datetime
    last_started_at: datetime = Field(description="When a server process last started with this key")
    current: bool = Field(description="The key the newest server process signs with")


def key_out(row: SigningKey, newest: str | None) -> dict[str, Any]:
    return {
        "keyId": row.key_id,
        "algorithm": row.algorithm,
        "publicKey": row.public_key,
        "createdAt": rfc3339(row.created_at),
        "lastStartedAt": rfc3339(row.last_started_at),
        "current": row.key_id == newest,
    }


async def published_keys(db: Database) -> list[dict[str, Any]]:
    async with db.session(None, write=False) as session:
        rows = list(await session.scalars(select(SigningKey).order_by(SigningKey.created_at, SigningKey.key_id)))
    newest = max(rows, key=lambda r: r.last_started_at).key_id if rows else None
    return [key_out(r, newest) for r in rows]


# -- packets --------------------------------------------------------------------------------


def _release_part(release: Any) -> dict[str, Any]:
    return {
        "id": release.id,
        "name": release.name,
        "manifestDigest": release.manifest_digest,
        "components": [
            {"name": c.get("componentName") or c.get("name"), "version": c.get("version"), "digest": c.get("digest")}
            for c in release.components or []
        ],
    }


async def _write(
    session: AsyncSession,
    tenant: str,
    kind: str,
    outcome: str,
    release: Any,
    environment: Any,
    predicate: dict[str, Any],
    *,
    promotion_id: str | None = None,
    job_id: str | None = None,
) -> EvidencePacket:
    signer = signer_of(session)
    await publish_key(session, signer)
    digest = release.manifest_digest or "sha256:" + hashlib.sha256(canonical(_release_part(release))).hexdigest()
    value = statement(
        f"release/{release.name}",
        digest,
        kind,
        {
            "tenantId": tenant,
            "outcome": outcome,
            "release": _release_part(release),
            "environment": {"id": environment.id, "name": environment.name} if environment is not None else None,
            **predicate,
            "recordedAt": rfc3339(utcnow()),
        },
    )
    envelope = sign_statement(signer, value)
    row = EvidencePacket(
        id=new_id(),
        tenant_id=tenant,
        kind=kind,
        outcome=outcome,
        promotion_id=promotion_id,
        deployment_job_id=job_id,
        release_id=release.id,
        environment_id=environment.id if environment is not None else "",
        subject_digest=digest,
        key_id=signer.key_id,
        payload_sha256=hashlib.sha256(canonical(value)).hexdigest(),
        envelope=json.dumps(envelope, indent=2),
    )
    session.add(row)
    COUNTS[kind] += 1
    return row


async def record_promotion_decision(session: AsyncSession, promotion: Any) -> None:
    """The packet of a decided promotion (approved, rejected, cancelled, or failed to start),
    written once, in the transaction that decides it."""
    from shiplane.environments.models import Environment
    from shiplane.promotions.models import PromotionApproval
    from shiplane.releases.models import Release

    outcome = {"deploying": "approved"}.get(promotion.state, promotion.state)
    if outcome not in ("approved", "rejected", "cancelled", "failed"):
        return
    exists = await session.scalar(
        select(EvidencePacket.id).where(EvidencePacket.promotion_id == promotion.id, EvidencePacket.kind == DECISION)
    )
    release = await session.scalar(select(Release).where(Release.id == promotion.release_id))
    if exists is not None or release is None:
        return
    environment = await session.scalar(select(Environment).where(Environment.id == promotion.environment_id))
    approvals = list(
        await session.scalars(
            select(PromotionApproval)
            .where(PromotionApproval.promotion_id == promotion.id)
            .order_by(PromotionApproval.created_at, PromotionApproval.id)
        )
    )
    policy = promotion.policy or None
    deciders = [a.user_id for a in approvals]
    predicate = {
        "promotion": {
            "id": promotion.id,
            "state": promotion.state,
            "message": promotion.message,
            "reason": promotion.reason,
            "requestedBy": promotion.requested_by,
            "requestedAt": rfc3339(promotion.created_at),
            "evaluatedAt": rfc3339(promotion.evaluated_at) if promotion.evaluated_at else None,
            "workflowRunId": promotion.workflow_run_id,
        },
        "gates": promotion.gates or [],
        "approvalPolicy": policy,
        "approvals": [
            {
                "userId": a.user_id,
                "decision": a.decision,
                "comment": a.comment,
                "roles": a.roles,
                "at": rfc3339(a.created_at),
            }
            for a in approvals
        ],
        "separationOfDuties": {
            "requestedBy": promotion.requested_by,
            "deciders": deciders,
            "selfApprovalAllowed": bool((policy or {}).get("allowSelfApproval")),
            "requesterDecided": promotion.requested_by in deciders,
            "distinctDeciders": len(set(deciders)) == len(deciders),
        },
        "overrides": [promotion.freeze_override] if promotion.freeze_override else [],
    }
    await _write(
        session, promotion.tenant_id, DECISION, outcome, release, environment, predicate, promotion_id=promotion.id
    )


async def record_ab_decision(session: AsyncSession, ab: Any) -> None:
    """The packet of an A/B release's end (promoted or rolled back, by a person or by its
    analysis): the two releases, the steps reached, the analysis and its measurements."""
    from shiplane.environments.models import Environment
    from shiplane.progressive.models import ABMeasurement
    from shiplane.releases.models import Release

    candidate = await session.scalar(select(Release).where(Release.id == ab.candidate_release_id))
    control = await session.scalar(select(Release).where(Release.id == ab.control_release_id))
    if candidate is None:
        return
    environment = await session.scalar(select(Environment).where(Environment.id == ab.environment_id))
    await session.flush()
    # Bounded, whatever the release's length: counts by verdict in SQL, the newest ones in full.
    verdicts = {
        str(verdict): int(count)
        for verdict, count in await session.execute(
            select(ABMeasurement.verdict, func.count())
            .where(ABMeasurement.ab_release_id == ab.id)
            .group_by(ABMeasurement.verdict)
        )
    }
    rows = list(
        await session.scalars(
            select(ABMeasurement)
            .where(ABMeasurement.ab_release_id == ab.id)
            .order_by(ABMeasurement.id.desc())
            .limit(AB_MEASUREMENTS)
        )
    )
    rows.reverse()
    measured = [
        {
            "step": m.step,
            "kind": m.kind,
            "name": m.name,
            "query": m.query,
            "values": m.values,
            "threshold": m.threshold,
            "verdict": m.verdict,
            "at": rfc3339(m.at),
        }
        for m in rows
    ]
    predicate = {
        "abRelease": {
            "id": ab.id,
            "name": ab.name,
            "strategy": ab.strategy,
            "steps": ab.steps,
            "reachedStep": ab.step_index,
            "weights": ab.weights,
            "message": ab.message,
            "createdBy": ab.created_by,
            "startedAt": rfc3339(ab.started_at) if ab.started_at else None,
            "finishedAt": rfc3339(ab.finished_at) if ab.finished_at else None,
        },
        "control": _release_part(control) if control is not None else {"id": ab.control_release_id},
        "analysis": ab.analysis,
        "measurements": {
            "count": sum(verdicts.values()),
            "verdicts": verdicts,
            "newest": measured,
        },
    }
    await _write(session, ab.tenant_id, AB_DECISION, ab.state, candidate, environment, predicate)


def _lines_sha256(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


async def record_job_outcome(
    session: AsyncSession, job: Any, tasks: list[Any], stickers: list[Any], job_log: list[str]
) -> None:
    """The packet of a finished deployment or rollback job; ``job_log``: the lines the job
    wrote to its workflow step's log (the step ends after the job)."""
    from shiplane.environments.models import Environment
    from shiplane.releases.models import Release
    from shiplane.workflows.models import WorkflowEvent

    release = await session.scalar(select(Release).where(Release.id == job.release_id))
    if release is None:
        return
    environment = await session.scalar(select(Environment).where(Environment.id == job.environment_id))
    step_logs: dict[str, list[str]] = {}
    if job.workflow_run_id:
        for node_id, data in await session.execute(
            select(WorkflowEvent.node_id, WorkflowEvent.data)
            .where(WorkflowEvent.run_id == job.workflow_run_id, WorkflowEvent.kind == "log")
            .order_by(WorkflowEvent.seq)
        ):
            step_logs.setdefault(str(node_id), []).append(str((data or {}).get("line", "")))
    predicate: dict[str, Any] = {
        "job": {
            "id": job.id,
            "kind": job.kind,
            "state": job.state,
            "message": job.message,
            "reason": job.reason,
            "strategy": job.strategy,
            "strategyConfig": job.strategy_config,
            "createdBy": job.created_by,
            "startedAt": rfc3339(job.started_at) if job.started_at else None,
            "finishedAt": rfc3339(job.finished_at) if job.finished_at else None,
            "workflowRunId": job.workflow_run_id,
        },
        "promotionId": job.promotion_id,
        "previousReleaseId": job.previous_release_id,
        # Which version of each variable set was used; never the values.
        "variableSets": [
            {"id": s.get("id"), "name": s.get("name"), "revision": s.get("revision")}
            for s in (job.variables or {}).get("sets", [])
        ],
        "tasks": [
            {
                "targetId": t.target_id,
                "targetName": t.target_name,
                "agentId": t.agent_id,
                "batch": t.batch,
                "state": t.state,
                "message": t.message,
                "startedAt": rfc3339(t.started_at) if t.started_at else None,
                "finishedAt": rfc3339(t.finished_at) if t.finished_at else None,
                "log": {"lines": len(t.log or []), "sha256": _lines_sha256(list(t.log or []))},
            }
            for t in tasks
        ],
        "jobLog": {"lines": len(job_log), "sha256": _lines_sha256(job_log)},
        # The run's steps that logged before this job ended.
        "stepLogs": [
            {"nodeId": node, "lines": len(lines), "sha256": _lines_sha256(lines)}
            for node, lines in sorted(step_logs.items())
        ],
        "stickers": [
            {"id": s.id, "targetId": s.target_id, "keyId": s.key_id, "signature": s.sticker.get("signature")}
            for s in stickers
        ],
    }
    if job.kind == "rollback":
        predicate["rollback"] = {
            "reason": job.reason,
            "skipped": ["gates", "approvals", "analysis"],
            "note": "a rollback returns to a release that ran here before; it is not gated, approved or analysed",
        }
    await _write(
        session,
        job.tenant_id,
        OUTCOME,
        job.state,
        release,
        environment,
        predicate,
        promotion_id=job.promotion_id,
        job_id=job.id,
    )


async def lock_sticker_targets(session: AsyncSession, target_ids: list[str]) -> None:
    """Lock the targets whose stickers this transaction will replace, in id order (no
    deadlock between two jobs), so two jobs finishing on one target at once cannot both
    leave a ``current`` sticker: the second waits, then sees the first's. (SQLite writers
    are serialised already; the unique partial index is the last line.)"""
    from shiplane.targets.models import Target

    ids = sorted(set(target_ids))
    if ids:
        await session.execute(select(Target.id).where(Target.id.in_(ids)).order_by(Target.id).with_for_update())


async def record_sticker(
    session: AsyncSession, job: Any, target_id: str, target_name: str, sticker: dict[str, Any]
) -> VersionSticker:
    """Keep the signed sticker a job left on a target; it becomes the target's current one
    (lock the targets first: ``lock_sticker_targets``)."""
    await session.execute(
        update(VersionSticker)
        .where(VersionSticker.target_id == target_id, VersionSticker.current.is_(True))
        .values(current=False)
        .execution_options(synchronize_session=False)
    )
    row = VersionSticker(
        id=new_id(),
        tenant_id=job.tenant_id,
        target_id=target_id,
        target_name=target_name,
        environment_id=job.environment_id,
        release_id=job.release_id,
        deployment_job_id=job.id,
        manifest_digest=str((sticker.get("release") or {}).get("manifestDigest") or ""),
        actor=str(sticker.get("actor") or job.created_by),
        deployed_at=utcnow(),
        current=True,
        key_id=str((sticker.get("signature") or {}).get("keyId") or ""),
        sticker=sticker,
    )
    session.add(row)
    return row


# -- reads ----------------------------------------------------------------------------------


class EvidencePacketOut(ApiOut):
    id: str
    tenant_id: str
    kind: Literal["promotion-decision", "deployment-outcome", "ab-release-decision"]
    outcome: Literal[
        "approved", "rejected", "cancelled", "failed", "succeeded", "partially_applied", "rolled_back", "promoted"
    ] = Field(
        description="A promotion's decision (approved, rejected, cancelled, failed), a deployment job's final "
        "state, or an A/B release's end (promoted, rolled_back)"
    )
    promotion_id: str | None
    deployment_job_id: str | None
    release_id: str
    environment_id: str = Field(description="Empty when the environment was gone when the packet was written")
    subject_digest: str
    payload_type: str = Field(description="The DSSE envelope's payloadType")
    key_id: str = Field(description="The signing key (GET /signing-keys)")
    payload_sha256: str
    created_at: datetime


class EvidencePacketDetailOut(EvidencePacketOut):
    statement: dict[str, Any] = Field(description="The signed in-toto Statement, decoded")


def packet_out(row: EvidencePacket, with_statement: bool = False) -> dict[str, Any]:
    envelope = json.loads(row.envelope)
    data: dict[str, Any] = {
        "id": row.id,
        "tenantId": row.tenant_id,
        "kind": row.kind,
        "outcome": row.outcome,
        "promotionId": row.promotion_id,
        "deploymentJobId": row.deployment_job_id,
        "releaseId": row.release_id,
        "environmentId": row.environment_id,
        "subjectDigest": row.subject_digest,
        "payloadType": envelope.get("payloadType"),
        "keyId": row.key_id,
        "payloadSha256": row.payload_sha256,
        "createdAt": rfc3339(row.created_at),
    }
    if with_statement:
        import base64

        data["statement"] = json.loads(base64.b64decode(envelope["payload"]))
    return data


class VersionStickerOut(ApiOut):
    id: str
    tenant_id: str
    target_id: str
    target_name: str
    environment_id: str
    release_id: str
    deployment_job_id: str
    manifest_digest: str
    actor: str
    deployed_at: datetime
    current: bool = Field(description="The target's latest sticker")
    key_id: str
    sticker: dict[str, Any] = Field(description="The sticker as signed and written on the target, with its signature")
    created_at: datetime


def sticker_out(row: VersionSticker) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenantId": row.tenant_id,
        "targetId": row.target_id,
        "targetName": row.target_name,
        "environmentId": row.environment_id,
        "releaseId": row.release_id,
        "deploymentJobId": row.deployment_job_id,
        "manifestDigest": row.manifest_digest,
        "actor": row.actor,
        "deployedAt": rfc3339(row.deployed_at),
        "current": row.current,
        "keyId": row.key_id,
        "sticker": row.sticker,
        "createdAt": rfc3339(row.created_at),
    }


class EvidenceReads:
    def __init__(self, db: Database, principal: Principal) -> None:
        self.db = db
        self.principal = principal

    async def packets(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(PACKETS, params)
        return Page([packet_out(row) for row in page.items], page.pagination)

    async def packet(self, packet_id: str) -> EvidencePacket:
        async with self.db.session(self.principal.tenant_id, write=False) as session:
            row = await session.scalar(select(EvidencePacket).where(EvidencePacket.id == packet_id))
            if row is None:
                raise not_found("evidence packet", packet_id)
            return row

    async def of_promotion(self, promotion_id: str) -> list[dict[str, Any]]:
        from shiplane.promotions.models import Promotion

        async with self.db.session(self.principal.tenant_id, write=False) as session:
            if await session.scalar(select(Promotion.id).where(Promotion.id == promotion_id)) is None:
                raise not_found("promotion", promotion_id)
            rows = await session.scalars(
                select(EvidencePacket)
                .where(EvidencePacket.promotion_id == promotion_id)
                .order_by(EvidencePacket.created_at, EvidencePacket.id)
            )
            return [packet_out(r, with_statement=True) for r in rows]

    async def stickers(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(STICKERS, params)
        return Page([sticker_out(row) for row in page.items], page.pagination)

    async def sticker(self, sticker_id: str) -> dict[str, Any]:
        async with self.db.session(self.principal.tenant_id, write=False) as session:
            row = await session.scalar(select(VersionSticker).where(VersionSticker.id == sticker_id))
            if row is None:
                raise not_found("version sticker", sticker_id)
            return sticker_out(row)
