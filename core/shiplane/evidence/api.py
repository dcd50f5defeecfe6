"""RELEVI: evidence packets, version stickers, and the server's published signing keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from shiplane.evidence.service import (
    PACKETS,
    STICKERS,
    EvidencePacketDetailOut,
    EvidencePacketOut,
    EvidenceReads,
    SigningKeyOut,
    VersionStickerOut,
    packet_out,
    published_keys,
)
from shiplane.platform.auth import Principal, require
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import success
from shiplane.platform.listing import page_of, pagination_meta, parse_list_params
from shiplane.platform.openapi import download, list_parameters, returns
from shiplane.platform.reads import TenantReads

packets = APIRouter(prefix="/api/v1/evidence-packets", tags=["evidence"])
stickers = APIRouter(prefix="/api/v1/version-stickers", tags=["evidence"])
keys = APIRouter(prefix="/api/v1/signing-keys", tags=["evidence"])
promotion_evidence = APIRouter(prefix="/api/v1/promotions", tags=["promotions"])

Reader = Annotated[Principal, require("evidence:read")]
Reads = Annotated[TenantReads, Depends(tenant_reads)]


def _reads(request: Request, principal: Principal) -> EvidenceReads:
    return EvidenceReads(request.app.state.shiplane.db, principal)


#: What a download holds: the DSSE envelope (https://github.com/secure-systems-lab/dsse).
DSSE_ENVELOPE = {
    "type": "object",
    "required": ["payloadType", "payload", "signatures"],
    "properties": {
        "payloadType": {"type": "string"},
        "payload": {"type": "string", "contentEncoding": "base64"},
        "signatures": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sig"],
                "properties": {"keyid": {"type": "string"}, "sig": {"type": "string"}},
            },
        },
    },
}


@packets.get("", openapi_extra=list_parameters(PACKETS), responses=returns(EvidencePacketOut, many=True))
async def list_packets(request: Request, principal: Reader, reads: Reads) -> Response:
    """Evidence packets, newest first: ``kind`` (``promotion-decision``, ``deployment-outcome``),
    ``outcome``, ``releaseId``, ``environmentId``, ``promotionId``, ``deploymentJobId``, ``keyId``."""
    params = parse_list_params(request.query_params, PACKETS)
    page = await _reads(request, principal).packets(reads, params)
    return success(page.items, pagination=page.pagination)


@packets.get("/{packet_id}", responses=returns(EvidencePacketDetailOut))
async def get_packet(packet_id: str, request: Request, principal: Reader) -> Response:
    """The packet with its decoded in-toto Statement (``statement``)."""
    return success(packet_out(await _reads(request, principal).packet(packet_id), with_statement=True))


@packets.get("/{packet_id}/download", responses=download("application/json", schema=DSSE_ENVELOPE))
async def download_packet(packet_id: str, request: Request, principal: Reader) -> Response:
    """The DSSE envelope exactly as signed (verify it with ``shiplane evidence verify``)."""
    row = await _reads(request, principal).packet(packet_id)
    return Response(
        row.envelope.encode(),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="evidence-{row.id}.dsse.json"',
            "Digest": f"sha-256={row.payload_sha256}",
        },
    )


@promotion_evidence.get("/{promotion_id}/evidence", responses=returns(EvidencePacketDetailOut, many=True))
async def evidence_of_promotion(promotion_id: str, request: Request, principal: Reader) -> Response:
    """The promotion's packets, oldest first: its decision, then its deployment's outcome."""
    found = await _reads(request, principal).of_promotion(promotion_id)
    return success(found, pagination=pagination_meta(1, max(len(found), 1), len(found)))


@stickers.get("", openapi_extra=list_parameters(STICKERS), responses=returns(VersionStickerOut, many=True))
async def list_stickers(request: Request, principal: Reader, reads: Reads) -> Response:
    """Every sticker a deployment left, newest first: filter by ``targetId``, ``environmentId``,
    ``releaseId``, ``deploymentJobId``, and ``current`` (each target's latest)."""
    params = parse_list_params(request.query_params, STICKERS)
    page = await _reads(request, principal).stickers(reads, params)
    return success(page.items, pagination=page.pagination)


@stickers.get("/{sticker_id}", responses=returns(VersionStickerOut))
async def get_sticker(sticker_id: str, request: Request, principal: Reader) -> Response:
    return success(await _reads(request, principal).sticker(sticker_id))


@keys.get("", openapi_extra=list_parameters(), responses=returns(SigningKeyOut, many=True))
async def list_keys(request: Request, principal: Reader) -> Response:
    """Every public key the server has signed evidence and stickers with (PEM), old ones
    included, oldest first; ``current`` is the key the newest server process uses."""
    page = page_of(await published_keys(request.app.state.shiplane.db), request.query_params)
    return success(page.items, pagination=page.pagination)
