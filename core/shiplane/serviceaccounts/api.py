"""Service accounts (``/api/v1/service-accounts``), and the server's OAuth 2.0 authority
for them: the client-credentials grant at ``POST /oauth/token`` (RFC 6749 §4.4: a form
in, RFC 6749 JSON out, errors included), the OpenID discovery document and the JWKS."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from urllib.parse import parse_qs, unquote_plus

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from shiplane.platform.audit import Actor, record_audit
from shiplane.platform.auth import Principal, require
from shiplane.platform.context import current_request_id
from shiplane.platform.database import utcnow
from shiplane.platform.deps import tenant_reads
from shiplane.platform.envelope import success
from shiplane.platform.idempotency import run_write
from shiplane.platform.listing import parse_list_params
from shiplane.platform.openapi import list_parameters, returns
from shiplane.platform.reads import TenantReads
from shiplane.platform.versioning import etag, expected_version
from shiplane.serviceaccounts.models import ServiceAccount
from shiplane.serviceaccounts.schemas import (
    ServiceAccountCreate,
    ServiceAccountOut,
    ServiceAccountSecretOut,
    ServiceAccountUpdate,
)
from shiplane.serviceaccounts.service import LIST_SPEC, ServiceAccountService
from shiplane.serviceaccounts.tokens import ALGORITHM, OAuthUnavailable, secret_matches

router = APIRouter(prefix="/api/v1/service-accounts", tags=["service accounts"])
oauth = APIRouter(tags=["authentication"], include_in_schema=False)

Reader = Annotated[Principal, require("service-accounts:read")]
Reads = Annotated[TenantReads, Depends(tenant_reads)]
_ACCOUNTS = ServiceAccount.__table__


def _writer(action: str) -> Any:
    return require("service-accounts:write", audit_action=f"service_account.{action}", resource_type="service_account")


def _service(session: AsyncSession | None, principal: Principal) -> ServiceAccountService:
    return ServiceAccountService(session, principal)


@router.post("", status_code=201, responses=returns(ServiceAccountSecretOut, status=201))
async def create_service_account(
    body: ServiceAccountCreate, request: Request, principal: Annotated[Principal, _writer("create")]
) -> Response:
    """A service account with roles; the answer holds its client secret, shown this once."""
    return await run_write(request, principal, lambda s: _service(s, principal).create(body))


@router.get("", openapi_extra=list_parameters(LIST_SPEC), responses=returns(ServiceAccountOut, many=True))
async def list_service_accounts(request: Request, principal: Reader, reads: Reads) -> Response:
    params = parse_list_params(request.query_params, LIST_SPEC)
    page = await _service(None, principal).list_page(reads, params)
    return success(page.items, pagination=page.pagination)


@router.get("/{account_id}", responses=returns(ServiceAccountOut))
async def get_service_account(account_id: str, principal: Reader, reads: Reads) -> Response:
    data, version = await _service(None, principal).read(reads, account_id)
    return success(data, headers={"ETag": etag(version)})


@router.put("/{account_id}", responses=returns(ServiceAccountOut))
async def update_service_account(
    account_id: str,
    body: ServiceAccountUpdate,
    request: Request,
    principal: Annotated[Principal, _writer("update")],
) -> Response:
    expected = expected_version(request, body.version)
    return await run_write(request, principal, lambda s: _service(s, principal).update(account_id, body, expected))


@router.post("/{account_id}/rotate-secret", responses=returns(ServiceAccountSecretOut))
async def rotate_service_account_secret(
    account_id: str, request: Request, principal: Annotated[Principal, _writer("rotate_secret")]
) -> Response:
    """A new client secret (shown once); the old one stops working at once."""
    return await run_write(request, principal, lambda s: _service(s, principal).rotate(account_id))


@router.post("/{account_id}/revoke", responses=returns(ServiceAccountOut))
async def revoke_service_account(
    account_id: str, request: Request, principal: Annotated[Principal, _writer("revoke")]
) -> Response:
    """Its secret and every token issued to it stop working at once."""
    return await run_write(request, principal, lambda s: _service(s, principal).revoke(account_id))


@router.delete("/{account_id}", status_code=204)
async def delete_service_account(
    account_id: str, request: Request, principal: Annotated[Principal, _writer("delete")]
) -> Response:
    expected = expected_version(request, None)
    return await run_write(request, principal, lambda s: _service(s, principal).delete(account_id, expected))


# -- the OAuth 2.0 authority ---------------------------------------------------------------

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": error, "error_description": description, "request_id": current_request_id()}
    return JSONResponse(body, status_code=status, headers={**_NO_STORE, **(headers or {})})


def _client_credentials(request: Request, form: dict[str, list[str]]) -> tuple[str, str] | str:
    """(client_id, client_secret) from HTTP Basic (RFC 6749 §2.3.1) or the form; else why not."""
    header = request.headers.get("authorization")
    in_form = "client_id" in form or "client_secret" in form
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return "client authentication is HTTP Basic or client_id and client_secret in the form"
        if in_form:
            return "use one client authentication method, not both"
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "malformed Basic credentials"
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            return "malformed Basic credentials"
        return unquote_plus(client_id), unquote_plus(secret)
    ids, secrets_ = form.get("client_id", []), form.get("client_secret", [])
    if len(ids) != 1 or len(secrets_) != 1:
        return "client_id and client_secret are required (once each)"
    return ids[0], secrets_[0]


@oauth.post("/oauth/token")
async def token(request: Request) -> Response:
    """The client-credentials grant: a service account's id and secret for a short-lived
    access token (ES256, verifiable with the JWKS)."""
    services = request.app.state.shiplane
    authority = services.oauth
    metrics = services.metrics.oauth_tokens
    settings = services.settings
    address = request.client.host if request.client else "unknown"
    limiter = services.rate_limiter or authority.limiter
    decision = await limiter.take(f"oauth-token:{address}", "oauth", settings.oauth_token_rate)
    if not decision.allowed:
        metrics.labels("rate_limited").inc()
        wait = str(max(1, decision.retry_after))
        return _oauth_error(429, "slow_down", "too many token requests from this address", {"Retry-After": wait})
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        metrics.labels("invalid_request").inc()
        return _oauth_error(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
    try:
        form = parse_qs((await request.body()).decode(), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        metrics.labels("invalid_request").inc()
        return _oauth_error(400, "invalid_request", "the form is malformed or too long")
    if any(len(v) > 1 for v in form.values()):
        metrics.labels("invalid_request").inc()
        return _oauth_error(400, "invalid_request", "a parameter is repeated")
    grant = form.get("grant_type", [""])[0]
    if grant != "client_credentials":
        metrics.labels("invalid_request").inc()
        return _oauth_error(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
    credentials = _client_credentials(request, form)
    if isinstance(credentials, str):
        metrics.labels("invalid_client").inc()
        return _oauth_error(401, "invalid_client", credentials, {"WWW-Authenticate": 'Basic realm="shiplane"'})
    client_id, secret = credentials
    if len(client_id) > 36 or len(secret) > 256:
        client_id, secret = "", ""
    # Per client too: guessing one account's secret from many addresses is slowed down.
    decision = await limiter.take(f"oauth-client:{client_id}", "oauth", settings.oauth_token_rate)
    if not decision.allowed:
        metrics.labels("rate_limited").inc()
        wait = str(max(1, decision.retry_after))
        return _oauth_error(429, "slow_down", "too many token requests for this client", {"Retry-After": wait})
    statement = select(_ACCOUNTS.c.secret_hash, _ACCOUNTS.c.revoked_at, _ACCOUNTS.c.tenant_id).where(
        _ACCOUNTS.c.id == client_id
    )
    row = await services.reads.run(None, lambda conn: conn.execute(statement).first(), bounded=True)
    # One constant-time comparison whether or not the account exists.
    matches = secret_matches(row.secret_hash if row is not None else None, secret)
    if row is None or not matches or row.revoked_at is not None:
        metrics.labels("invalid_client").inc()
        if row is not None:
            async with services.db.session(row.tenant_id, write=True) as session:
                await record_audit(
                    session,
                    tenant_id=row.tenant_id,
                    actor=Actor("user", f"service-account:{client_id}"),
                    action="service_account.token_refused",
                    resource_type="service_account",
                    resource_id=client_id,
                    outcome="failure",
                    request_id=current_request_id(),
                    details={"reason": "revoked" if row.revoked_at is not None else "wrong secret", "from": address},
                )
        return _oauth_error(401, "invalid_client", "unknown client, wrong secret, or revoked")
    if not authority.available:
        metrics.labels("unavailable").inc()
        return _oauth_error(
            503, "temporarily_unavailable", "this server issues no tokens: SHIPLANE_OAUTH_SIGNING_KEY_PATH is not set"
        )
    # Before the issuing transaction: recording the key is a write of its own.
    await authority.record_key()
    async with services.db.session(row.tenant_id, write=True) as session:
        account = await session.scalar(select(ServiceAccount).where(ServiceAccount.id == client_id))
        if account is None or account.revoked_at is not None:  # revoked or deleted a moment ago
            metrics.labels("invalid_client").inc()
            return _oauth_error(401, "invalid_client", "unknown client, wrong secret, or revoked")
        try:
            access_token, claims = await authority.issue(account)
        except OAuthUnavailable as exc:
            metrics.labels("unavailable").inc()
            return _oauth_error(503, "temporarily_unavailable", str(exc))
        # Not a new version of the account (a token every few minutes must not turn an
        # admin's If-Match into a conflict).
        await session.execute(
            update(ServiceAccount)
            .where(ServiceAccount.id == client_id)
            .values(last_token_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        await record_audit(
            session,
            tenant_id=row.tenant_id,
            actor=Actor("user", f"service-account:{client_id}"),
            action="service_account.token_issued",
            resource_type="service_account",
            resource_id=client_id,
            request_id=current_request_id(),
            details={"jti": claims["jti"], "expiresAt": claims["exp"], "roles": claims["roles"], "from": address},
        )
    metrics.labels("issued").inc()
    body = {"access_token": access_token, "token_type": "Bearer", "expires_in": settings.oauth_token_seconds}
    return JSONResponse(body, headers=_NO_STORE)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@oauth.get("/.well-known/openid-configuration")
async def openid_configuration(request: Request) -> Response:
    """OpenID Connect discovery (the parts a client-credentials client and a token
    verifier use)."""
    services = request.app.state.shiplane
    base = _base_url(request)
    return JSONResponse(
        {
            "issuer": services.oauth.issuer,
            "token_endpoint": f"{base}/oauth/token",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_signing_alg_values_supported": [ALGORITHM],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "claims_supported": ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "tenant_id", "roles", "client_id"],
        },
        headers={"Cache-Control": "public, max-age=300"},
    )


@oauth.get("/.well-known/jwks.json")
async def jwks(request: Request) -> Response:
    """The public keys of every token that may still be valid (rotation keeps old ones
    here until their tokens expire)."""
    return JSONResponse(await request.app.state.shiplane.oauth.jwks(), headers={"Cache-Control": "public, max-age=60"})
