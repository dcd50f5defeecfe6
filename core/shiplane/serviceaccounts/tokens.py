"""The server's own OAuth 2.0 authority for service accounts: access tokens (JWT, ES256)
signed with the server's P-256 key, published as a JWKS, verified here on every request.

Why ES256 and not the evidence key (Ed25519): python-jose, the JWT library of the stack,
signs and verifies RS*/ES*/HS* but not EdDSA; a P-256 key is what every JWT library
verifies. The key id is the RFC 7638 thumbprint of the public JWK.

Rotation: a process signs with the key it was started with and records it in
``oauth_signing_keys``; the JWKS publishes every key used within the longest token
lifetime (plus the leeway), so tokens signed before a rotation verify until they expire,
on every replica.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwt as jose_jwt
from jose.exceptions import ExpiredSignatureError, JOSEError, JWTClaimsError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from shiplane.platform.auth import Principal
from shiplane.platform.database import Database, utcnow
from shiplane.platform.jwt import TokenError
from shiplane.platform.permissions import effective_permissions
from shiplane.platform.ratelimit import MemoryRateLimiter
from shiplane.platform.reads import ReadStore
from shiplane.platform.settings import Settings
from shiplane.serviceaccounts.models import OAuthSigningKey, ServiceAccount

ALGORITHM = "ES256"
SECRET_PREFIX = "shpsa_"
USER_PREFIX = "service-account:"
_ACCOUNTS = ServiceAccount.__table__
_KEYS = OAuthSigningKey.__table__
# A key id the table does not hold is looked up again after this long (junk kids must not
# cost a query each).
UNKNOWN_KID_SECONDS = 10.0


class OAuthUnavailable(RuntimeError):
    """No token signing key in this process (production without SHIPLANE_OAUTH_SIGNING_KEY_PATH)."""


def new_secret() -> tuple[str, str]:
    """A client secret (shown once) and the hash to store. 256 random bits: a plain
    SHA-256 is the right hash (nothing to brute-force), compared in constant time."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    return secret, secret_hash(secret)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# Compared against when the client id is unknown, so a wrong id costs what a wrong secret does.
_NO_ACCOUNT_HASH = secret_hash(secrets.token_urlsafe(32))


def secret_matches(stored: str | None, secret: str) -> bool:
    return hmac.compare_digest(stored or _NO_ACCOUNT_HASH, secret_hash(secret)) and stored is not None


def _b64(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode()


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = key.public_numbers()
    members = {"crv": "P-256", "kty": "EC", "x": _b64(numbers.x), "y": _b64(numbers.y)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**members, "kid": kid, "alg": ALGORITHM, "use": "sig"}


def _load_or_make(settings: Settings) -> ec.EllipticCurvePrivateKey | None:
    path = settings.oauth_signing_key_path
    if path is None:
        if not settings.is_development:
            return None
        path = settings.data_dir / "dev-oauth-key.pem"
        if not path.exists():
            write_new_key(path)
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise OAuthUnavailable(f"cannot read the OAuth signing key {path}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise OAuthUnavailable(f"{path} is not a P-256 (ES256) private key")
    return key


def write_new_key(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


class OAuthAuthority:
    """Issues service-account tokens and authenticates them."""

    def __init__(self, settings: Settings, db: Database, reads: ReadStore) -> None:
        self.settings = settings
        self.db = db
        self.reads = reads
        self.issuer = settings.oauth_issuer
        self._key = _load_or_make(settings)
        self.jwk = public_jwk(self._key.public_key()) if self._key is not None else None
        self._pem = (
            self._key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
            if self._key is not None
            else None
        )
        # The token endpoint's buckets when the server has no shared rate limiter.
        self.limiter = MemoryRateLimiter()
        self._known: dict[str, dict[str, Any]] = {}
        self._unknown: dict[str, float] = {}
        self._last_recorded = 0.0

    @property
    def available(self) -> bool:
        return self._key is not None

    def owns(self, token: str) -> bool:
        """Whether a bearer token claims to be one of ours (its signature is checked next)."""
        try:
            claims = jose_jwt.get_unverified_claims(token)
        except (JOSEError, ValueError, TypeError, RecursionError):
            return False
        return isinstance(claims, dict) and claims.get("iss") == self.issuer

    # -- keys ------------------------------------------------------------------------------

    async def record_key(self) -> None:
        """Publish this process's key (at start, then at most once a minute as it signs).
        Its own write transaction: never call it inside another (SQLite has one writer)."""
        if self.jwk is None or time.monotonic() - self._last_recorded < 60:
            return
        try:
            async with self.db.session(None, write=True) as session:
                values = {
                    "key_id": self.jwk["kid"],
                    "algorithm": ALGORITHM,
                    "public_jwk": {k: v for k, v in self.jwk.items()},
                    "created_at": utcnow(),
                    "last_used_at": utcnow(),
                }
                dialect = session.get_bind().dialect.name
                insert = pg_insert if dialect == "postgresql" else sqlite_insert
                await session.execute(
                    insert(OAuthSigningKey)
                    .values(**values)
                    .on_conflict_do_update(index_elements=["key_id"], set_={"last_used_at": values["last_used_at"]})
                )
            self._last_recorded = time.monotonic()
        except SQLAlchemyError:
            pass  # not migrated yet; the next issue records it

    async def jwks(self) -> dict[str, Any]:
        """Every key a still-valid token may be signed with."""
        keep = timedelta(seconds=self.settings.oauth_token_seconds + self.settings.auth_leeway_seconds + 60)
        async with self.db.session(None, write=False) as session:
            rows = await session.scalars(
                select(OAuthSigningKey)
                .where(OAuthSigningKey.last_used_at >= utcnow() - keep)
                .order_by(OAuthSigningKey.last_used_at.desc(), OAuthSigningKey.key_id)
            )
            keys = [dict(r.public_jwk) for r in rows]
        if self.jwk is not None and all(k.get("kid") != self.jwk["kid"] for k in keys):
            keys.insert(0, dict(self.jwk))
        return {"keys": keys}

    async def _key_for(self, kid: str) -> dict[str, Any] | None:
        if self.jwk is not None and kid == self.jwk["kid"]:
            return self.jwk
        if kid in self._known:
            return self._known[kid]
        if time.monotonic() < self._unknown.get(kid, 0.0):
            return None
        statement = select(_KEYS.c.public_jwk, _KEYS.c.last_used_at).where(_KEYS.c.key_id == kid)
        row = await self.reads.run(None, lambda conn: conn.execute(statement).first(), bounded=True)
        if row is None:
            if len(self._unknown) > 10_000:
                self._unknown.clear()
            self._unknown[kid] = time.monotonic() + UNKNOWN_KID_SECONDS
            return None
        self._known[kid] = dict(row.public_jwk)
        return self._known[kid]

    # -- tokens ----------------------------------------------------------------------------

    async def issue(self, account: ServiceAccount) -> tuple[str, dict[str, Any]]:
        """A signed access token for ``account`` and its claims (jti, exp) for the audit.
        Call ``record_key`` first, outside any transaction (it opens its own)."""
        if self._pem is None or self.jwk is None:
            raise OAuthUnavailable("SHIPLANE_OAUTH_SIGNING_KEY_PATH is not set")
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.settings.auth_audience,
            "sub": USER_PREFIX + account.id,
            "user_id": USER_PREFIX + account.id,
            "tenant_id": account.tenant_id,
            "client_id": account.id,
            "roles": list(account.roles),
            "iat": now,
            "nbf": now,
            "exp": now + self.settings.oauth_token_seconds,
            "jti": secrets.token_hex(16),
        }
        pem = self._pem
        token = await asyncio.to_thread(
            jose_jwt.encode, claims, pem, algorithm=ALGORITHM, headers={"kid": self.jwk["kid"]}
        )
        return token, claims

    async def authenticate(self, token: str) -> Principal:
        """The service account a token names, if its signature, issuer, audience and times
        hold and the account is neither revoked nor deleted (checked on every request)."""
        try:
            header = jose_jwt.get_unverified_header(token)
        except (JOSEError, ValueError, TypeError, RecursionError):
            raise TokenError("malformed token") from None
        if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
            raise TokenError("service-account tokens are ES256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 64:
            raise TokenError("invalid kid header")
        key = await self._key_for(kid)
        if key is None:
            raise TokenError("unknown key id")
        try:
            claims = jose_jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.settings.auth_audience,
                issuer=self.issuer,
                options={"require_exp": True, "require_iat": True, "leeway": self.settings.auth_leeway_seconds},
            )
        except ExpiredSignatureError:
            raise TokenError("token expired") from None
        except JWTClaimsError as exc:
            raise TokenError(f"invalid claims: {exc}") from None
        except (JOSEError, TypeError, ValueError, OverflowError, RecursionError):
            raise TokenError("signature verification failed") from None
        account_id = claims.get("client_id")
        if not isinstance(account_id, str) or len(account_id) > 36:
            raise TokenError("token has no client_id")
        statement = select(_ACCOUNTS.c.tenant_id, _ACCOUNTS.c.roles, _ACCOUNTS.c.revoked_at).where(
            _ACCOUNTS.c.id == account_id
        )
        row = await self.reads.run(None, lambda conn: conn.execute(statement).first(), bounded=True)
        if row is None or row.revoked_at is not None or row.tenant_id != claims.get("tenant_id"):
            raise TokenError("the service account is revoked or deleted")
        roles = tuple(row.roles or ())  # its roles now: a change holds at once
        return Principal(USER_PREFIX + account_id, row.tenant_id, roles, effective_permissions(roles, ()), None)
