from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import success
from shiplane.platform.errors import ApiError
from shiplane.platform.idempotency import run_write
from shiplane.platform.listing import page_of, pagination_meta, parse_list_params
from shiplane.platform.openapi import list_parameters, returns
from shiplane.platform.reads import TenantReads
from shiplane.plugins.deps import plugin_reads
from shiplane.promotions.schemas import (
    ApprovalPolicyCreate,
    ApprovalPolicyOut,
    GatePreview,
    PromotionApprovalOut,
    PromotionCreate,
    PromotionDecision,
    PromotionDecisionOut,
    PromotionDetailOut,
    PromotionGatePreviewOut,
    PromotionOut,
)
from shiplane.promotions.service import LIST_SPEC, POLICY_SPEC, ApprovalPolicyService, PromotionService

router = APIRouter(prefix="/api/v1/promotions", tags=["promotions"])
policies = APIRouter(prefix="/api/v1/approval-policies", tags=["promotions"])
mine = APIRouter(prefix="/api/v1/my", tags=["promotions"])

Reader = Annotated[Principal, require("promotions:read")]
Reads = Annotated[TenantReads, Depends(tenant_reads)]


def _requester(action: str) -> Any:
    return require("promotions:create", audit_action=f"promotion.{action}", resource_type="promotion")


def _approver(action: str) -> Any:
    return require("promotions:approve", audit_action=f"promotion.{action}", resource_type="promotion")


def _service(request: Request, principal: Principal) -> PromotionService:
    services = request.app.state.shiplane
    return PromotionService(services.db, plugin_reads(request, principal), services.queue)


@router.post("", status_code=201, responses=returns(PromotionDetailOut, status=201))
async def create_promotion(
    body: PromotionCreate, request: Request, principal: Annotated[Principal, _requester("create")]
) -> Response:
    """Evaluate the environment's gates and record the promotion: ``approved``,
    ``awaiting_approval``, or ``blocked`` (then 422 PROMOTION_BLOCKED with every failing
    gate in ``details``; the promotion is kept and moves on by itself when the cause ends)."""
    service = _service(request, principal)
    prepared = await service.prepare(body)
    response = await run_write(request, principal, lambda s: service.create(s, prepared))
    data = json.loads(bytes(response.body))["data"]
    if data.get("state") == "blocked":
        raise ApiError(
            "PROMOTION_BLOCKED",
            f"promotion {data['id']} is blocked: {data['message']}",
            {
                "promotionId": data["id"],
                "gates": [
                    g
                    for g in data["gates"]
                    if g["type"] not in ("approval", "approval-policy") and g["status"] in ("fail", "pending")
                ],
                "recheckAt": data.get("recheckAt"),
            },
        )
    return response


@router.get("", openapi_extra=list_parameters(LIST_SPEC), responses=returns(PromotionOut, many=True))
async def list_promotions(request: Request, principal: Reader, reads: Reads) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    page = await _service(request, principal).list_page(reads, params)
    return success(page.items, pagination=page.pagination)


@router.post("/preview-gates", responses=returns(PromotionGatePreviewOut))
async def preview_gates(
    body: GatePreview, request: Request, principal: Annotated[Principal, require("promotions:create")]
) -> Response:
    """Evaluate the environment's gates for a release now, creating nothing."""
    return success(await _service(request, principal).preview(body.release_id, body.environment_id))


@router.get("/{promotion_id}", responses=returns(PromotionDetailOut))
async def get_promotion(promotion_id: str, request: Request, principal: Reader) -> Response:
    return success(await _service(request, principal).get(promotion_id))


@router.get("/{promotion_id}/decision", responses=returns(PromotionDecisionOut))
async def promotion_decision(promotion_id: str, request: Request, principal: Reader) -> Response:
    """Every gate's inputs, result, message, log and time, the approvals, the outcome."""
    return success(await _service(request, principal).decision(promotion_id))


@router.get("/{promotion_id}/approvals", responses=returns(PromotionApprovalOut, many=True))
async def promotion_approvals(promotion_id: str, request: Request, principal: Reader) -> Response:
    found = await _service(request, principal).approvals(promotion_id)
    return success(found, pagination=pagination_meta(1, max(len(found), 1), len(found)))


async def _decide(request: Request, principal: Principal, promotion_id: str, decision: str, comment: str) -> Response:
    service = _service(request, principal)
    await run_write(request, principal, lambda s: service.decide(s, promotion_id, decision, comment))
    # The decision is recorded; the promotion settles with no transaction open (its gates
    # run again when the approvals are complete).
    return success(await service.settle(promotion_id))


@router.post("/{promotion_id}/approve", responses=returns(PromotionDetailOut))
async def approve_promotion(
    promotion_id: str, body: PromotionDecision, request: Request, principal: Annotated[Principal, _approver("approve")]
) -> Response:
    """One approval (each person once; not the requester's unless the policy allows it)."""
    return await _decide(request, principal, promotion_id, "approve", body.comment)


@router.post("/{promotion_id}/reject", responses=returns(PromotionDetailOut))
async def reject_promotion(
    promotion_id: str, body: PromotionDecision, request: Request, principal: Annotated[Principal, _approver("reject")]
) -> Response:
    """One rejection ends the promotion (``rejected``)."""
    return await _decide(request, principal, promotion_id, "reject", body.comment)


@router.post("/{promotion_id}/cancel", responses=returns(PromotionDetailOut))
async def cancel_promotion(
    promotion_id: str, body: PromotionDecision, request: Request, principal: Annotated[Principal, _requester("cancel")]
) -> Response:
    service = _service(request, principal)
    return await run_write(request, principal, lambda s: service.cancel(s, promotion_id, body.comment))


@policies.post("", status_code=201, responses=returns(ApprovalPolicyOut, status=201))
async def create_policy(
    body: ApprovalPolicyCreate,
    request: Request,
    principal: Annotated[
        Principal,
        require("approval-policies:write", audit_action="approval_policy.create", resource_type="approval_policy"),
    ],
) -> Response:
    return await run_write(request, principal, lambda s: ApprovalPolicyService(s, principal).create(body))


@policies.get("", openapi_extra=list_parameters(POLICY_SPEC), responses=returns(ApprovalPolicyOut, many=True))
async def list_policies(
    request: Request, principal: Annotated[Principal, require("approval-policies:read")], reads: Reads
) -> Response:
    params = parse_list_params(request.query_params, POLICY_SPEC)
    page = await ApprovalPolicyService(None, principal).list_page(reads, params)
    return success(page.items, pagination=page.pagination)


@mine.get("/pending-approvals", openapi_extra=list_parameters(), responses=returns(PromotionOut, many=True))
async def my_pending_approvals(request: Request, principal: Reader) -> Response:
    """Promotions the caller may approve now, oldest first."""
    page = page_of(await _service(request, principal).pending_for(principal), request.query_params)
    return success(page.items, pagination=page.pagination)
