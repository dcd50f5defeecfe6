"""What every resource's write path shares: unique names, the flush that turns races into
409s, and the audit record of the change.

Services call these instead of writing their own: the same conflict gets the same code
and message shape whatever the resource.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from shiplane.platform.audit import record_audit
from shiplane.platform.auth import Principal
from shiplane.platform.context import current_request_id
from shiplane.platform.errors import ApiError


def name_taken(resource: str, name: str) -> ApiError:
    article = "an" if resource[:1] in "aeiou" else "a"
    return ApiError(
        "ALREADY_EXISTS", f"{article} {resource} named {name!r} already exists", {"field": "name", "name": name}
    )


async def ensure_name_free(session: AsyncSession, model: Any, name: str, own_id: str | None, resource: str) -> None:
    """409 ALREADY_EXISTS if another row of the tenant (the session filters by it) has ``name``."""
    existing = await session.scalar(select(model.id).where(model.name == name))
    if existing is not None and existing != own_id:
        raise name_taken(resource, name)


async def flush_change(session: AsyncSession, resource: str, unique_name_constraint: str, name: str) -> None:
    """Flush, turning the races the database catches into 409s.

    A concurrent update (the version compare-and-set matched no row) is
    VERSION_CONFLICT; a concurrent insert of the same name (the unique constraint
    fired) is ALREADY_EXISTS. Any other integrity error is a bug and propagates.
    """
    try:
        await session.flush()
    except StaleDataError:
        raise ApiError("VERSION_CONFLICT", f"the {resource} was changed concurrently; re-read and retry") from None
    except IntegrityError as exc:
        if unique_name_constraint in str(exc.orig) or ".name" in str(exc.orig):
            raise name_taken(resource, name) from None
        raise


async def audit_change(
    session: AsyncSession,
    principal: Principal,
    action: str,
    resource_type: str,
    resource_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """The change's audit record (and so its domain event), in the change's transaction."""
    await record_audit(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        request_id=current_request_id(),
        before=before,
        after=after,
    )
