"""Idempotency-Key on POST, and the one way a mutation runs.

``run_write`` opens the write transaction, runs the service operation and, when
the request carries an ``Idempotency-Key``, stores the response in the same
transaction. A retry with the same key and body gets the first response again;
the same key with another body is 422 ``IDEMPOTENCY_KEY_REUSED``. Keys are scoped
to (tenant, user) and kept for ``RETENTION``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from sqlalchemy import JSON, Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.responses import Response

from shiplane.platform.auth import Principal
from shiplane.platform.database import Base, TenantScoped, UTCDateTime, new_id, utcnow
from shiplane.platform.envelope import success
from shiplane.platform.errors import ApiError, validation_error

RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class IdempotencyRecord(TenantScoped, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "key", name="uq_idempotency_tenant_user_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(255), nullable=False)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    response: Mapped[Any] = mapped_column(JSON, nullable=True)
    headers: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


@dataclass
class WriteResult:
    """What a service operation hands back to the router: the data and response headers."""

    data: Any
    status_code: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Operation = Callable[[AsyncSession], Awaitable[WriteResult]]


async def _request_hash(request: Request) -> str:
    body = await request.body()
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")) if body else ""
    except ValueError:
        canonical = body.decode("latin-1")
    return hashlib.sha256(f"{request.method} {request.url.path}\n{canonical}".encode()).hexdigest()


async def _stored(session: AsyncSession, principal: Principal, key: str) -> IdempotencyRecord | None:
    record = await session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.user_id == principal.user_id, IdempotencyRecord.key == key)
    )
    if record is not None and utcnow() - record.created_at > RETENTION:
        await session.delete(record)
        await session.flush()
        return None
    return record


def _replay(record: IdempotencyRecord, request_hash: str) -> Response:
    if record.request_hash != request_hash:
        raise ApiError(
            "IDEMPOTENCY_KEY_REUSED",
            "this Idempotency-Key was already used with a different request",
            {"idempotencyKey": record.key},
        )
    headers = dict(record.headers or {})
    headers["Idempotent-Replayed"] = "true"
    return success(record.response, record.status_code, headers=headers)


async def run_write(request: Request, principal: Principal, operation: Operation) -> Response:
    db = request.app.state.shiplane.db
    key = request.headers.get("idempotency-key") if request.method == "POST" else None
    if key is None:
        async with db.session(principal.tenant_id, write=True) as session:
            result = await operation(session)
        return success(result.data, result.status_code, headers=result.headers)

    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise validation_error("Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} printable characters")
    request_hash = await _request_hash(request)
    try:
        async with db.session(principal.tenant_id, write=True) as session:
            record = await _stored(session, principal, key)
            if record is not None:
                return _replay(record, request_hash)
            # Reserve the key before doing the work: a concurrent request with the same
            # key then waits on the unique index until this transaction ends, and either
            # replays what it committed or, if it rolled back, does the work itself.
            record = IdempotencyRecord(
                tenant_id=principal.tenant_id,
                user_id=principal.user_id,
                key=key,
                request_hash=request_hash,
                status_code=0,
                response=None,
                headers={},
            )
            session.add(record)
            await session.flush()
            result = await operation(session)
            record.status_code = result.status_code
            record.response = result.data
            record.headers = result.headers
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as a retry would.
        async with db.session(principal.tenant_id, write=False) as session:
            record = await _stored(session, principal, key)
        if record is None:
            raise
        return _replay(record, request_hash)
    return success(result.data, result.status_code, headers=result.headers)
