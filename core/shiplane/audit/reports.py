"""Audit reports (docs/audit-reports.md): every change to the chosen environments in a
period (promotions and rollbacks) with who asked, who approved, the separation-of-duties
check, the gates, the overrides and the outcome, and a checkpoint of the tenant's audit
chain signed with the server's key; as JSON, CSV or printable HTML.

A report is made in the background: ``POST`` answers ``pending``; the server that took
the request makes it at once, and any server's sweep makes a report whose maker died
(claimed with a compare-and-set, so one process makes each).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import html
import io
import json
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator
from sqlalchemy import JSON, BigInteger, LargeBinary, String, Text, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.audit import chain_heads, checkpoint_payload
from shiplane.platform.auth import Principal
from shiplane.platform.database import Base, Database, TenantOwned, UTCDateTime, new_id, sort_indexes, utcnow
from shiplane.platform.envelope import rfc3339
from shiplane.platform.errors import ApiError, not_found, validation_error
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.listing import ListField, ListSpec
from shiplane.platform.schemas import ApiModel, ApiOut
from shiplane.platform.signing import signer_of
from shiplane.platform.writes import audit_change

log = logging.getLogger("shiplane.audit")

FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8"}
#: The longest period one report covers, and the most changes it lists.
MAX_PERIOD = timedelta(days=366)
MAX_CHANGES = 10_000
#: A pending report nobody has worked on for this long is made by the next sweep.
STALE_CLAIM = timedelta(minutes=5)
COUNTS: Counter[str] = Counter()


class AuditReport(TenantOwned, Base):
    __tablename__ = "audit_reports"
    __table_args__ = (*sort_indexes("audit_reports", "state", "created_at"),)

    period_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    environment_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    format: Mapped[str] = mapped_column(String(8), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    requested_by: Mapped[str] = mapped_column(String(255), nullable=False)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    changes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    digest: Mapped[str] = mapped_column(String(80), nullable=False, default="")
    size: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)


LIST_SPEC = ListSpec(
    AuditReport,
    fields={
        "state": ListField(AuditReport.state, "string"),
        "createdAt": ListField(AuditReport.created_at, "datetime"),
    },
    default_sort="-createdAt",
)


EnvironmentId = Annotated[str, StringConstraints(min_length=1, max_length=36)]


class AuditReportCreate(ApiModel):
    period_start: datetime = Field(strict=False, description="RFC 3339; changes requested at or after it")
    period_end: datetime = Field(strict=False, description="RFC 3339; changes requested before it")
    environment_ids: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=36)]], Field(max_length=100)
    ] = Field(default_factory=list, description="Only these environments (none: all)")
    format: Literal["json", "csv", "html"] = "json"

    @model_validator(mode="after")
    def _period(self) -> AuditReportCreate:
        if self.period_start.tzinfo is None or self.period_end.tzinfo is None:
            raise ValueError("periodStart and periodEnd need a time zone offset")
        if self.period_end <= self.period_start:
            raise ValueError("periodEnd must be after periodStart")
        if self.period_end - self.period_start > MAX_PERIOD:
            raise ValueError("a report covers at most 366 days")
        return self


class AuditReportOut(ApiOut):
    id: str
    tenant_id: str
    period_start: datetime
    period_end: datetime
    environment_ids: list[str] = Field(description="Only these environments (none: all)")
    format: Literal["json", "csv", "html"]
    state: Literal["pending", "ready", "failed"]
    message: str
    changes: int = Field(description="How many changes the report lists (0 until it is ready)")
    size: int | None = Field(description="Bytes of the report (null until it is ready)")
    digest: str | None = Field(description="sha256:... of the report's bytes (null until it is ready)")
    requested_by: str
    created_at: datetime
    finished_at: datetime | None


def report_out(row: AuditReport) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenantId": row.tenant_id,
        "periodStart": rfc3339(row.period_start),
        "periodEnd": rfc3339(row.period_end),
        "environmentIds": row.environment_ids,
        "format": row.format,
        "state": row.state,
        "message": row.message,
        "changes": row.changes,
        "size": row.size if row.state == "ready" else None,
        "digest": row.digest or None,
        "requestedBy": row.requested_by,
        "createdAt": rfc3339(row.created_at),
        "finishedAt": rfc3339(row.finished_at) if row.finished_at else None,
    }


async def create_report(session: AsyncSession, principal: Principal, body: AuditReportCreate) -> WriteResult:
    from shiplane.environments.models import Environment

    for index, env_id in enumerate(body.environment_ids):
        if await session.scalar(select(Environment.id).where(Environment.id == env_id)) is None:
            raise validation_error(f"environmentIds[{index}]", f"no environment {env_id!r}", "unknown")
    row = AuditReport(
        id=new_id(),
        tenant_id=principal.tenant_id,
        period_start=body.period_start,
        period_end=body.period_end,
        environment_ids=list(dict.fromkeys(body.environment_ids)),
        format=body.format,
        state="pending",
        message="waiting to be made",
        requested_by=principal.user_id,
        changes=0,
        digest="",
        size=0,
    )
    session.add(row)
    await session.flush()
    data = report_out(row)
    await audit_change(session, principal, "audit_report.create", "audit_report", row.id, None, data)
    return WriteResult(data, 202, {"Location": f"/api/v1/audit-reports/{row.id}"})


async def get_report(db: Database, tenant: str, report_id: str, *, content: bool = False) -> AuditReport:
    async with db.session(tenant, write=False) as session:
        query = select(AuditReport).where(AuditReport.id == report_id)
        if content:
            from sqlalchemy.orm import undefer

            query = query.options(undefer(AuditReport.content))
        row = await session.scalar(query)
        if row is None:
            raise not_found("audit report", report_id)
        return row


# -- making one ---------------------------------------------------------------------------------


async def due_reports(db: Database, limit: int = 20) -> list[tuple[str, str]]:
    async with db.session(None, write=False) as session:
        stale = utcnow() - STALE_CLAIM
        rows = await session.execute(
            select(AuditReport.tenant_id, AuditReport.id)
            .where(
                AuditReport.state == "pending",
                (AuditReport.claimed_at.is_(None)) | (AuditReport.claimed_at < stale),
            )
            .order_by(AuditReport.created_at)
            .limit(limit)
        )
        return [(r[0], r[1]) for r in rows]


async def make_report(db: Database, tenant: str, report_id: str) -> None:
    """Claim the pending report, gather its changes, render and store it (or fail it with why)."""
    async with db.session(tenant, write=True) as session:
        row = await session.scalar(select(AuditReport).where(AuditReport.id == report_id))
        stale = utcnow() - STALE_CLAIM
        if row is None or row.state != "pending" or (row.claimed_at is not None and row.claimed_at >= stale):
            return
        claimed = await session.execute(
            update(AuditReport)
            .where(AuditReport.id == report_id, AuditReport.version == row.version)
            .values(claimed_at=utcnow(), message="being made", version=row.version + 1)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return
        period = (row.period_start, row.period_end)
        environments, fmt = list(row.environment_ids or []), row.format
    try:
        async with db.session(tenant, write=False, snapshot=True) as session:
            report = await gather(session, tenant, period, environments)
        content = render(report, fmt)
        state, message = "ready", f"{len(report['changes'])} change(s)"
    except Exception as exc:  # noqa: BLE001 - a report that cannot be made says why
        log.exception("an audit report could not be made", extra={"report": report_id})
        content, state, message = b"", "failed", f"the report could not be made: {type(exc).__name__}"
        report = {"changes": []}
    async with db.session(tenant, write=True) as session:
        # Whoever finishes first while it is still pending writes it (a slow maker whose claim
        # was taken over is not thrown away; the same report made twice is the same report).
        await session.execute(
            update(AuditReport)
            .where(AuditReport.id == report_id, AuditReport.state == "pending")
            .values(
                state=state,
                message=message,
                content=content if state == "ready" else None,
                size=len(content),
                digest="sha256:" + hashlib.sha256(content).hexdigest() if state == "ready" else "",
                changes=len(report["changes"]),
                finished_at=utcnow(),
                version=AuditReport.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
    COUNTS[state] += 1


async def gather(
    session: AsyncSession, tenant: str, period: tuple[datetime, datetime], environment_ids: list[str]
) -> dict[str, Any]:
    from shiplane.deployments.models import DeploymentJob
    from shiplane.environments.models import Environment
    from shiplane.promotions.models import Promotion, PromotionApproval
    from shiplane.releases.models import Release

    start, end = period
    ordered = list(await session.scalars(select(Environment).order_by(Environment.position, Environment.name)))
    envs = {e.id: e.name for e in ordered}
    rank = {e.id: n for n, e in enumerate(ordered)}
    wanted = set(environment_ids) if environment_ids else set(envs)
    releases = {row.id: row.name for row in (await session.execute(select(Release.id, Release.name))).all()}
    changes: list[dict[str, Any]] = []
    promotions = list(
        await session.scalars(
            select(Promotion)
            .where(
                Promotion.created_at >= start,
                Promotion.created_at < end,
                Promotion.environment_id.in_(sorted(wanted)),
            )
            .order_by(Promotion.created_at, Promotion.id)
            .limit(MAX_CHANGES + 1)
        )
    )
    approvals: dict[str, list[PromotionApproval]] = {}
    ids = [p.id for p in promotions if p.environment_id in wanted]
    for chunk in range(0, len(ids), 500):
        for a in await session.scalars(
            select(PromotionApproval)
            .where(PromotionApproval.promotion_id.in_(ids[chunk : chunk + 500]))
            .order_by(PromotionApproval.created_at, PromotionApproval.id)
        ):
            approvals.setdefault(a.promotion_id, []).append(a)
    for p in promotions:
        if p.environment_id not in wanted:
            continue
        decided = approvals.get(p.id, [])
        deciders = [a.user_id for a in decided]
        allow_self = bool((p.policy or {}).get("allowSelfApproval"))
        needs = p.policy is not None
        self_approved = p.requested_by in deciders
        sod = (
            "not required"
            if not needs
            else "violated"
            if (self_approved and not allow_self) or len(set(deciders)) != len(deciders)
            # The policy let the requester decide: allowed, and flagged for a reviewer.
            else "self-approved (allowed by policy)"
            if self_approved
            else "held"
        )
        changes.append(
            {
                "kind": "promotion",
                "id": p.id,
                "at": rfc3339(p.created_at),
                "environmentId": p.environment_id,
                "environment": envs.get(p.environment_id, p.environment_id),
                "releaseId": p.release_id,
                "release": releases.get(p.release_id, p.release_id),
                "requestedBy": p.requested_by,
                "reason": p.reason,
                "approvers": [
                    {"userId": a.user_id, "decision": a.decision, "comment": a.comment, "at": rfc3339(a.created_at)}
                    for a in decided
                ],
                "separationOfDuties": sod,
                "selfApproved": self_approved,
                "gates": [
                    {
                        "type": g.get("type"),
                        "name": g.get("name"),
                        "status": g.get("status"),
                        "message": g.get("message"),
                    }
                    for g in (p.gates or [])
                ],
                "overrides": [p.freeze_override] if p.freeze_override else [],
                "outcome": p.state,
                "message": p.message,
            }
        )
    for job in await session.scalars(
        select(DeploymentJob)
        .where(
            DeploymentJob.kind == "rollback",
            DeploymentJob.created_at >= start,
            DeploymentJob.created_at < end,
            DeploymentJob.environment_id.in_(sorted(wanted)),
        )
        .order_by(DeploymentJob.created_at, DeploymentJob.id)
        .limit(MAX_CHANGES + 1)
    ):
        if job.environment_id not in wanted:
            continue
        changes.append(
            {
                "kind": "rollback",
                "id": job.id,
                "at": rfc3339(job.created_at),
                "environmentId": job.environment_id,
                "environment": envs.get(job.environment_id, job.environment_id),
                "releaseId": job.release_id,
                "release": releases.get(job.release_id, job.release_id),
                "requestedBy": job.created_by,
                "reason": job.reason,
                "approvers": [],
                "separationOfDuties": "not required (a rollback is not approved)",
                "selfApproved": False,
                "gates": [],
                "overrides": [],
                "outcome": job.state,
                "message": job.message,
            }
        )
    changes.sort(key=lambda c: (c["at"], c["id"]))
    truncated = len(changes) > MAX_CHANGES
    changes = changes[:MAX_CHANGES]
    # The audit chain's head now, signed: a reader can check the trail this report came
    # from was not rewritten afterwards (`shiplane audit verify --checkpoint`).
    signer = signer_of(session)
    heads = await chain_heads(session, tenant)
    checkpoint = None
    if heads:
        at = rfc3339(utcnow())
        payload = checkpoint_payload(tenant, heads[0].sequence, heads[0].hash, at)
        checkpoint = {
            "tenantId": tenant,
            "sequence": heads[0].sequence,
            "hash": heads[0].hash,
            "at": at,
            "keyId": signer.key_id,
            "signature": signer.sign(payload),
        }
    return {
        "tenantId": tenant,
        "periodStart": rfc3339(start),
        "periodEnd": rfc3339(end),
        "environments": [
            {"id": i, "name": envs[i]} for i in sorted(wanted, key=lambda i: rank.get(i, -1)) if i in envs
        ],
        "generatedAt": rfc3339(utcnow()),
        "truncated": truncated,
        "changes": changes,
        "checkpoint": checkpoint,
    }


CSV_COLUMNS = (
    "at",
    "kind",
    "environment",
    "release",
    "requestedBy",
    "approvers",
    "separationOfDuties",
    "gates",
    "overrides",
    "outcome",
    "reason",
    "id",
)


def _csv_cell(value: str) -> str:
    # A cell a spreadsheet would run as a formula is quoted as text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def render(report: dict[str, Any], fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(report, indent=2, sort_keys=True).encode()
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for c in report["changes"]:
            writer.writerow(
                _csv_cell(str(v))
                for v in (
                    c["at"],
                    c["kind"],
                    c["environment"],
                    c["release"],
                    c["requestedBy"],
                    "; ".join(f"{a['userId']} ({a['decision']})" for a in c["approvers"]),
                    c["separationOfDuties"],
                    "; ".join(f"{g['type']}: {g['status']}" for g in c["gates"]),
                    "; ".join(str(o.get("reason", "")) for o in c["overrides"]),
                    c["outcome"],
                    c["reason"],
                    c["id"],
                )
            )
        checkpoint = report.get("checkpoint")
        if checkpoint:
            writer.writerow([])
            writer.writerow(["# audit checkpoint", checkpoint["sequence"], checkpoint["hash"], checkpoint["at"]])
            writer.writerow(["# signature", checkpoint["keyId"], checkpoint["signature"]])
        return out.getvalue().encode()
    return _html(report).encode()


def _html(report: dict[str, Any]) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Audit report {e(report['periodStart'])} to {e(report['periodEnd'])}</title>",
        "<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}"
        "table{border-collapse:collapse;width:100%;margin:1em 0}th,td{border:1px solid #999;padding:4px 6px;"
        "text-align:left;vertical-align:top}th{background:#eee}.violated{color:#a00;font-weight:bold}"
        ".flagged{background:#fff3c4;font-weight:bold}"
        "h2{page-break-before:auto}@media print{body{margin:0}h2{page-break-before:always}"
        "h2:first-of-type{page-break-before:avoid}a{color:inherit}}</style></head><body>",
        "<h1>Audit report</h1>",
        f"<p>Tenant <strong>{e(report['tenantId'])}</strong>, changes requested from "
        f"<time>{e(report['periodStart'])}</time> to <time>{e(report['periodEnd'])}</time>; generated "
        f"<time>{e(report['generatedAt'])}</time>. {len(report['changes'])} change(s)"
        + (" (truncated at 10,000)" if report.get("truncated") else "")
        + ".</p>",
    ]
    by_env: dict[str, list[dict[str, Any]]] = {}
    for c in report["changes"]:
        by_env.setdefault(c["environment"], []).append(c)
    for env in [x["name"] for x in report["environments"]]:
        rows = by_env.get(env, [])
        parts.append(f"<h2>Environment {e(env)}</h2>")
        if not rows:
            parts.append("<p>No changes in the period.</p>")
            continue
        parts.append(
            "<table><thead><tr><th>Time</th><th>Change</th><th>Release</th><th>Requested by</th><th>Approvers</th>"
            "<th>Separation of duties</th><th>Gates</th><th>Overrides</th><th>Outcome</th></tr></thead><tbody>"
        )
        for c in rows:
            approvers = "<br>".join(
                f"{e(a['userId'])} ({e(a['decision'])}, {e(a['at'])})"
                + (f": {e(a['comment'])}" if a["comment"] else "")
                for a in c["approvers"]
            )
            gates = "<br>".join(f"{e(str(g['type']))}: {e(str(g['status']))}" for g in c["gates"])
            overrides = "<br>".join(e(str(o.get("reason", ""))) for o in c["overrides"])
            sod_class = (
                " class='violated'"
                if c["separationOfDuties"] == "violated"
                else " class='flagged'"
                if c.get("selfApproved")
                else ""
            )
            parts.append(
                f"<tr><td>{e(c['at'])}</td><td>{e(c['kind'])}</td><td>{e(str(c['release']))}</td>"
                f"<td>{e(c['requestedBy'])}</td><td>{approvers or '-'}</td>"
                f"<td{sod_class}>{e(c['separationOfDuties'])}</td><td>{gates or '-'}</td>"
                f"<td>{overrides or '-'}</td><td>{e(c['outcome'])}</td></tr>"
            )
        parts.append("</tbody></table>")
    parts.append("<h2>Timeline</h2><ol>")
    for c in report["changes"]:
        parts.append(
            f"<li><time>{e(c['at'])}</time>: {e(c['kind'])} of {e(str(c['release']))} to {e(c['environment'])} "
            f"by {e(c['requestedBy'])}: {e(c['outcome'])}</li>"
        )
    parts.append("</ol>")
    checkpoint = report.get("checkpoint")
    if checkpoint:
        parts.append(
            "<h2>Audit checkpoint</h2><p>The tenant's audit chain at "
            f"<time>{e(checkpoint['at'])}</time>: sequence {int(checkpoint['sequence'])}, hash "
            f"<code>{e(checkpoint['hash'])}</code>, signed with key <code>{e(checkpoint['keyId'])}</code>: "
            f"<code style='word-break:break-all'>{e(checkpoint['signature'])}</code></p>"
        )
    parts.append("</body></html>")
    return "".join(parts)


def start_making(db: Database, tenant: str, report_id: str) -> asyncio.Task[None]:
    """Make the report now, in this process (the sweep makes it if this one dies)."""

    async def run() -> None:
        try:
            await make_report(db, tenant, report_id)
        except Exception:  # noqa: BLE001 - the sweep tries again after STALE_CLAIM
            log.exception("making an audit report failed", extra={"report": report_id})

    task = asyncio.create_task(run(), name=f"shiplane-audit-report-{report_id}")
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    return task


_RUNNING: set[asyncio.Task[None]] = set()


def not_ready(row: AuditReport) -> ApiError:
    return ApiError(
        "INVALID_STATE",
        f"the report is {row.state}" + (f": {row.message}" if row.state == "failed" else ": try again shortly"),
        {"state": row.state},
    )
