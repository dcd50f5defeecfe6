"""GET /api/v1/audit-events: the tenant's audit trail (an addition to the spec)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.engine import Row
from starlette.responses import Response

from shiplane.platform.audit import AuditEvent
from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import rfc3339, success
from shiplane.platform.listing import ListField, ListSpec, parse_list_params
from shiplane.platform.openapi import list_parameters
from shiplane.platform.reads import TenantReads

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


@router.get("", openapi_extra=list_parameters(LIST_SPEC))
async def list_audit_events(
    request: Request,
    _principal: Annotated[Principal, require("audit:read")],
    reads: Annotated[TenantReads, Depends(tenant_reads)],
) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    page = await reads.page(LIST_SPEC, params)
    return success([audit_event_out(e) for e in page.items], pagination=page.pagination)
