"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.responses import Response

from shiplane.platform.envelope import success
from shiplane.platform.errors import ApiError
from shiplane.platform.migrate import current_revision, head_revision, is_current

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> Response:
    return success({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    db = request.app.state.shiplane.db
    try:
        async with db.read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        current = await current_revision(db.read_engine)
    except Exception as exc:  # any driver error means not ready
        raise ApiError("SERVICE_UNAVAILABLE", "database unreachable", {"error": type(exc).__name__}) from None
    head = head_revision()
    if request.app.state.shiplane.verifier.keys.stale_beyond_limit():
        raise ApiError(
            "SERVICE_UNAVAILABLE",
            "the identity provider's signing keys could not be refreshed for too long; tokens are refused",
            {"jwks": "stale"},
        )
    if not is_current(current):
        raise ApiError("SERVICE_UNAVAILABLE", "database migrations are not current", {"current": current, "head": head})
    return success({"status": "ready", "database": db.dialect, "migration": current})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    services = request.app.state.shiplane
    await services.queue.depth()  # the queue's depth as of this scrape (one grouped count)
    registry = services.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
