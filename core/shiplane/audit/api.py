"""GET /api/v1/audit-events: the tenant's audit trail (an addition to the spec)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from shiplane.platform.audit import AuditEvent
from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import read_session
from shiplane.platform.envelope import rfc3339, success
from shiplane.platform.listing import ListField, ListSpec, paginate, parse_list_params

router = APIRouter(prefix="/api/v1/audit-events", tags=["audit"])

LIST_SPEC = ListSpec(
    fields={
        "sequence": ListField(AuditEvent.sequence, "integer"),
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


def audit_event_out(event: AuditEvent) -> dict[str, Any]:
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


@router.get("")
async def list_audit_events(
    request: Request,
    _principal: Annotated[Principal, require("audit:read")],
    session: Annotated[AsyncSession, Depends(read_session)],
) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    page = await paginate(session, select(AuditEvent), params, LIST_SPEC, AuditEvent.id)
    return success([audit_event_out(e) for e in page.items], pagination=page.pagination)
