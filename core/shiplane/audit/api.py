"""GET /api/v1/audit-events: the tenant's audit trail (an addition to the spec)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from sqlalchemy.engine import Row
from starlette.responses import Response

from shiplane.audit.reports import (
    FORMATS,
    AuditReportCreate,
    AuditReportOut,
    create_report,
    get_report,
    not_ready,
    report_out,
    start_making,
)
from shiplane.audit.reports import LIST_SPEC as REPORT_LIST
from shiplane.platform.audit import AuditEvent
from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import rfc3339, success
from shiplane.platform.idempotency import run_write
from shiplane.platform.listing import ListField, ListSpec, parse_list_params
from shiplane.platform.openapi import download, list_parameters, returns
from shiplane.platform.reads import TenantReads
from shiplane.platform.schemas import ApiOut

router = APIRouter(prefix="/api/v1/audit-events", tags=["audit"])

LIST_SPEC = ListSpec(
    AuditEvent,
    fields={
        "sequence": ListField(AuditEvent.sequence, "integer", unique=True),
        "occurredAt": ListField(AuditEvent.occurred_at, "datetime"),
        "action": ListField(AuditEvent.action, "string"),
        "actorType": ListField(AuditEvent.actor_type, "string"),
        "actorId": ListField(AuditEvent.actor_id, "string"),
        "resourceType": ListField(AuditEvent.resource_type, "string"),
        "resourceId": ListField(AuditEvent.resource_id, "string"),
        "outcome": ListField(AuditEvent.outcome, "string"),
        "requestId": ListField(AuditEvent.request_id, "string"),
    },
    default_sort="-sequence",
)


class AuditActorOut(ApiOut):
    type: Literal["user", "agent", "system"]
    id: str


class AuditEventOut(ApiOut):
    id: str
    tenant_id: str
    sequence: int = Field(description="The event's place in the tenant's chain")
    occurred_at: datetime
    actor: AuditActorOut
    action: str
    resource_type: str
    resource_id: str | None
    request_id: str | None
    outcome: Literal["success", "denied", "failure"]
    changes: dict[str, Any] = Field(description="before, after and details, each when recorded; secrets redacted")
    prev_hash: str
    hash: str = Field(description="sha256 of prevHash and the event's canonical form")


def audit_event_out(event: AuditEvent | Row[Any]) -> dict[str, Any]:
    return {
        "id": event.id,
        "tenantId": event.tenant_id,
        "sequence": event.sequence,
        "occurredAt": rfc3339(event.occurred_at),
        "actor": {"type": event.actor_type, "id": event.actor_id},
        "action": event.action,
        "resourceType": event.resource_type,
        "resourceId": event.resource_id,
        "requestId": event.request_id,
        "outcome": event.outcome,
        "changes": event.changes,
        "prevHash": event.prev_hash,
        "hash": event.hash,
    }


@router.get("", openapi_extra=list_parameters(LIST_SPEC), responses=returns(AuditEventOut, many=True))
async def list_audit_events(
    request: Request,
    _principal: Annotated[Principal, require("audit:read")],
    reads: Annotated[TenantReads, Depends(tenant_reads)],
) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    page = await reads.page(LIST_SPEC, params)
    return success([audit_event_out(e) for e in page.items], pagination=page.pagination)


# -- audit reports ------------------------------------------------------------------------------

reports = APIRouter(prefix="/api/v1/audit-reports", tags=["audit"])


@reports.post("", status_code=202, responses=returns(AuditReportOut, status=202))
async def create_audit_report(
    body: AuditReportCreate,
    request: Request,
    principal: Annotated[
        Principal, require("audit-reports:create", audit_action="audit_report.create", resource_type="audit_report")
    ],
) -> Response:
    """Ask for a report of the changes in a period (``pending``; made in the background)."""
    response = await run_write(request, principal, lambda s: create_report(s, principal, body))
    if response.status_code == 202:
        report_id = json.loads(bytes(response.body))["data"]["id"]
        start_making(request.app.state.shiplane.db, principal.tenant_id, report_id)
    return response


@reports.get("", openapi_extra=list_parameters(REPORT_LIST), responses=returns(AuditReportOut, many=True))
async def list_audit_reports(
    request: Request,
    _principal: Annotated[Principal, require("audit:read")],
    reads: Annotated[TenantReads, Depends(tenant_reads)],
) -> Response:
    params = parse_list_params(request.query_params, REPORT_LIST)
    page = await reads.page(REPORT_LIST, params)
    return success([report_out(r) for r in page.items], pagination=page.pagination)


@reports.get("/{report_id}", responses=returns(AuditReportOut))
async def get_audit_report(
    report_id: str, request: Request, principal: Annotated[Principal, require("audit:read")]
) -> Response:
    """The report's state (``pending``, ``ready``, ``failed``), period, format and size."""
    return success(report_out(await get_report(request.app.state.shiplane.db, principal.tenant_id, report_id)))


@reports.get(
    "/{report_id}/download",
    responses={
        **download("application/json", "text/csv", "text/html"),
        409: {"description": "INVALID_STATE: the report is not ready"},
    },
)
async def download_audit_report(
    report_id: str, request: Request, principal: Annotated[Principal, require("audit:read")]
) -> Response:
    """The report itself (JSON, CSV or HTML); 409 until it is ready."""
    row = await get_report(request.app.state.shiplane.db, principal.tenant_id, report_id, content=True)
    if row.state != "ready" or row.content is None:
        raise not_ready(row)
    extension = row.format
    return Response(
        row.content,
        media_type=FORMATS[row.format],
        headers={
            "Content-Disposition": f'attachment; filename="audit-report-{row.id}.{extension}"',
            "Digest": row.digest,
        },
    )
