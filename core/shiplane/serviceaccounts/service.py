"""Service accounts of one tenant: created with a client secret shown once, rotated,
revoked, changed and deleted by an admin; every change audited (never the secret)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.platform.auth import Principal
from shiplane.platform.database import utcnow
from shiplane.platform.errors import ApiError, not_found
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.listing import ListField, ListParams, ListSpec, Page
from shiplane.platform.reads import TenantReads
from shiplane.platform.versioning import check_version, etag
from shiplane.platform.writes import audit_change, ensure_name_free, flush_change
from shiplane.serviceaccounts.models import ServiceAccount
from shiplane.serviceaccounts.schemas import ServiceAccountCreate, ServiceAccountUpdate, account_out
from shiplane.serviceaccounts.tokens import new_secret

LIST_SPEC = ListSpec(
    ServiceAccount,
    fields={
        "name": ListField(ServiceAccount.name, "string", unique=True),
        "createdAt": ListField(ServiceAccount.created_at, "datetime"),
        "updatedAt": ListField(ServiceAccount.updated_at, "datetime"),
    },
    default_sort="name",
)
_UNIQUE = "uq_service_accounts_tenant_name"
_NO_STORE = {"Cache-Control": "no-store"}


class ServiceAccountService:
    def __init__(self, session: AsyncSession | None, principal: Principal) -> None:
        self._session = session
        self.principal = principal

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("a read-only ServiceAccountService cannot write")
        return self._session

    async def list_page(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(LIST_SPEC, params)
        return Page([account_out(row) for row in page.items], page.pagination)

    async def read(self, reads: TenantReads, account_id: str) -> tuple[dict[str, Any], int]:
        row = await reads.get(LIST_SPEC, account_id)
        if row is None:
            raise not_found("service account", account_id)
        return account_out(row), row.version

    async def _get(self, account_id: str) -> ServiceAccount:
        row = await self.session.scalar(select(ServiceAccount).where(ServiceAccount.id == account_id))
        if row is None:
            raise not_found("service account", account_id)
        return row

    async def _audit(self, action: str, account_id: str, before: Any, after: Any) -> None:
        await audit_change(
            self.session, self.principal, f"service_account.{action}", "service_account", account_id, before, after
        )

    def _with_secret(self, row: ServiceAccount, secret: str, status: int) -> WriteResult:
        # The secret is in this response only: never stored, audited or logged.
        body = {"serviceAccount": account_out(row), "clientId": row.id, "clientSecret": secret}
        headers = {**_NO_STORE, "ETag": etag(row.version)}
        if status == 201:
            headers["Location"] = f"/api/v1/service-accounts/{row.id}"
        return WriteResult(body, status, headers)

    async def create(self, body: ServiceAccountCreate) -> WriteResult:
        await ensure_name_free(self.session, ServiceAccount, body.name, None, "service account")
        secret, hashed = new_secret()
        row = ServiceAccount(
            tenant_id=self.principal.tenant_id,
            name=body.name,
            description=body.description,
            roles=list(body.roles),
            secret_hash=hashed,
            secret_rotated_at=utcnow(),
            created_by=self.principal.user_id,
        )
        self.session.add(row)
        await flush_change(self.session, "service account", _UNIQUE, row.name)
        await self._audit("create", row.id, None, account_out(row))
        return self._with_secret(row, secret, 201)

    async def update(self, account_id: str, body: ServiceAccountUpdate, expected: int | None) -> WriteResult:
        row = await self._get(account_id)
        check_version("service account", row.version, expected)
        before = account_out(row)
        row.description = body.description
        row.roles = list(body.roles)
        await flush_change(self.session, "service account", _UNIQUE, row.name)
        data = account_out(row)
        await self._audit("update", row.id, before, data)
        return WriteResult(data, 200, {"ETag": etag(row.version)})

    async def rotate(self, account_id: str) -> WriteResult:
        """A new secret at once; the old one stops working (tokens already issued live on
        until they expire: revoke to end them)."""
        row = await self._get(account_id)
        if row.revoked_at is not None:
            raise ApiError("INVALID_STATE", "the service account is revoked: create a new one", {"state": "revoked"})
        before = account_out(row)
        secret, row.secret_hash = new_secret()
        row.secret_rotated_at = utcnow()
        await flush_change(self.session, "service account", _UNIQUE, row.name)
        await self._audit("rotate_secret", row.id, before, account_out(row))
        return self._with_secret(row, secret, 200)

    async def revoke(self, account_id: str) -> WriteResult:
        """Its secret and every token issued to it stop working at once, in every process."""
        row = await self._get(account_id)
        if row.revoked_at is not None:
            return WriteResult(account_out(row), 200, {"ETag": etag(row.version)})
        before = account_out(row)
        row.revoked_at = utcnow()
        await flush_change(self.session, "service account", _UNIQUE, row.name)
        data = account_out(row)
        await self._audit("revoke", row.id, before, data)
        return WriteResult(data, 200, {"ETag": etag(row.version)})

    async def delete(self, account_id: str, expected: int | None) -> WriteResult:
        row = await self._get(account_id)
        check_version("service account", row.version, expected)
        before = account_out(row)
        await self.session.delete(row)
        await flush_change(self.session, "service account", _UNIQUE, row.name)
        await self._audit("delete", row.id, before, None)
        return WriteResult(None, 204)
