"""Bearer token verification, the only module that touches python-jose.

The rules (DESIGN §3): an explicit algorithm allow-list (never ``none``), the
key chosen by the algorithm family so an HS secret never verifies an RS/ES token
and a public key is never used as an HMAC secret, ``kid`` looked up only in the
configured key set (PEM keys and a JWKS URL, re-fetched once when an unknown
``kid`` appears, which is how a rotation is picked up), tokens carrying
``jku``/``x5u``/``jwk``/``x5c`` headers refused, and ``iss``, ``aud``, ``exp``
required.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from jose import jwt as jose_jwt
from jose.exceptions import ExpiredSignatureError, JOSEError, JWTClaimsError

from shiplane.platform.settings import Settings

FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c")
HMAC_ALGS = {"HS256", "HS384", "HS512"}


class TokenError(Exception):
    """Why a token was refused; the message is safe to show to the caller."""


@dataclass
class VerifiedClaims:
    user_id: str
    tenant_id: str
    roles: list[str]
    permissions: list[str]
    tier: str | None
    raw: dict[str, Any] = field(repr=False)


class KeySet:
    """Asymmetric verification keys: PEM keys from settings plus a cached JWKS document."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pem_sources = list(settings.auth_public_keys)
        self._jwks: dict[str, dict[str, Any]] = {}
        self._jwks_fetched_at = 0.0
        self._last_refresh_attempt = float("-inf")  # the first refresh is never held back
        self._lock = asyncio.Lock()

    async def _fetch_jwks(self) -> None:
        url = self._settings.auth_jwks_url
        assert url is not None
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(url)
            response.raise_for_status()
            document = response.json()
        if not isinstance(document, dict) or not isinstance(document.get("keys", []), list):
            raise ValueError("the JWKS document is not a JWK set")
        keys = {}
        for entry in document.get("keys", []):
            if isinstance(entry, dict) and entry.get("use", "sig") == "sig" and isinstance(entry.get("kid"), str):
                keys[entry["kid"]] = entry
        self._jwks = keys
        self._jwks_fetched_at = time.monotonic()

    async def jwks_key(self, kid: str) -> dict[str, Any] | None:
        if not self._settings.auth_jwks_url:
            return None
        now = time.monotonic()
        stale = now - self._jwks_fetched_at > self._settings.auth_jwks_cache_seconds
        if kid in self._jwks and not stale:
            return self._jwks[kid]
        async with self._lock:
            # A refresh (unknown kid, or stale cache) happens at most once per floor
            # interval, whatever its outcome, so neither a flood of forged kids nor an
            # identity-provider outage makes every request wait on a fetch. While the
            # provider is down, the keys fetched last keep verifying.
            since_attempt = time.monotonic() - self._last_refresh_attempt
            stale = time.monotonic() - self._jwks_fetched_at > self._settings.auth_jwks_cache_seconds
            if (kid not in self._jwks or stale) and since_attempt >= self._settings.auth_jwks_min_refresh_seconds:
                self._last_refresh_attempt = time.monotonic()
                try:
                    await self._fetch_jwks()
                except (httpx.HTTPError, ValueError) as exc:
                    if not self._jwks:
                        raise TokenError("signing keys are unavailable") from exc
        if self.stale_beyond_limit():
            # The provider has been unreachable too long: keys it may have withdrawn
            # meanwhile must not keep admitting tokens (/readyz reports it too).
            raise TokenError("signing keys could not be refreshed for too long")
        return self._jwks.get(kid)

    def stale_beyond_limit(self) -> bool:
        """Whether the JWKS in use is older than SHIPLANE_AUTH_JWKS_MAX_STALE_SECONDS (a refresh kept failing)."""
        if not self._settings.auth_jwks_url or not self._jwks:
            return False
        return time.monotonic() - self._jwks_fetched_at > self._settings.auth_jwks_max_stale_seconds

    def pem_keys(self) -> list[str]:
        return self._pem_sources


# A verified token is remembered this long at most (and never past its exp), so a
# client sending the same token on every request pays for the signature once; a key
# withdrawn from the JWKS stops verifying cached tokens within this time.
VERIFIED_CACHE_SECONDS = 30.0
VERIFIED_CACHE_SIZE = 10_000


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.algorithms = list(settings.auth_algorithms)
        self.keys = KeySet(settings)
        # token -> (claims, monotonic time until which they hold)
        self._verified: dict[str, tuple[VerifiedClaims, float]] = {}

    async def verify(self, token: str) -> VerifiedClaims:
        """The token's claims, or TokenError; the signature is checked once per token and 30 s."""
        cached = self._verified.get(token)
        now = time.monotonic()
        if cached is not None:
            if now < cached[1]:
                return cached[0]
            del self._verified[token]
        claims = await self._verify(token)
        exp = claims.raw.get("exp")
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            remaining = float(exp) + self.settings.auth_leeway_seconds - time.time()
            if remaining > 0:
                if len(self._verified) >= VERIFIED_CACHE_SIZE:
                    self._verified.clear()  # simplest bound; the next requests re-verify
                self._verified[token] = (claims, now + min(remaining, VERIFIED_CACHE_SECONDS))
        return claims

    async def _verify(self, token: str) -> VerifiedClaims:
        try:
            header = jose_jwt.get_unverified_header(token)
        except (JOSEError, ValueError, TypeError, RecursionError) as exc:
            raise TokenError("malformed token") from exc
        if not isinstance(header, dict):
            raise TokenError("malformed token")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise TokenError(f"algorithm {alg!r} is not accepted")
        for name in FORBIDDEN_HEADERS:
            if name in header:
                raise TokenError(f"tokens with a {name!r} header are refused")
        candidates = await self._candidate_keys(alg, header.get("kid"))
        if not candidates:
            raise TokenError("no trusted key for this token")
        last_error: Exception | None = None
        for key in candidates:
            try:
                claims = jose_jwt.decode(
                    token,
                    key,
                    algorithms=[alg],
                    audience=self.settings.auth_audience,
                    issuer=self.settings.auth_issuer,
                    options={
                        "require_exp": True,
                        "require_iss": True,
                        "require_aud": True,
                        "leeway": self.settings.auth_leeway_seconds,
                    },
                )
                return _claims(claims)
            except ExpiredSignatureError as exc:
                raise TokenError("token expired") from exc
            except JWTClaimsError as exc:
                raise TokenError(f"invalid claims: {exc}") from exc
            except (JOSEError, TypeError, ValueError, OverflowError, RecursionError) as exc:
                # OverflowError: an exp/nbf/iat of 1e400 (infinite once parsed); RecursionError:
                # a claim nested thousands deep. Both are a refused token, never a 500.
                # python-jose lets a non-numeric exp/iat/nbf (TypeError) and a JWK with
                # malformed members (ValueError) escape as plain errors: a 401, not a 500.
                last_error = exc
        raise TokenError("signature verification failed") from last_error

    async def _candidate_keys(self, alg: str, kid: Any) -> list[Any]:
        if alg in HMAC_ALGS:
            return [self.settings.auth_hs_secret] if self.settings.auth_hs_secret else []
        if kid is not None:
            if not isinstance(kid, str):
                raise TokenError("invalid kid header")
            entry = await self.keys.jwks_key(kid)
            if entry is not None:
                if entry.get("alg") not in (None, alg):
                    raise TokenError("key and token algorithm differ")
                return [entry]
            if not self.keys.pem_keys():
                raise TokenError("unknown key id")
        return list(self.keys.pem_keys())


# What the storage can hold and the audit chain can hash: tenant ids are stored in
# 128 characters, user ids in 255; every name is printable text.
MAX_TENANT_ID = 128
MAX_USER_ID = 255
MAX_NAME = 128
MAX_LIST = 100


def _clean(value: Any, limit: int) -> bool:
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _claims(claims: dict[str, Any]) -> VerifiedClaims:
    user_id = claims.get("user_id") or claims.get("sub")
    tenant_id = claims.get("tenant_id")
    if not isinstance(user_id, str) or not user_id:
        raise TokenError("token has no user_id or sub")
    if not isinstance(tenant_id, str) or not tenant_id:
        raise TokenError("token has no tenant_id")
    if not _clean(tenant_id, MAX_TENANT_ID):
        raise TokenError(f"tenant_id must be printable text of at most {MAX_TENANT_ID} characters")
    if not _clean(user_id, MAX_USER_ID):
        raise TokenError(f"user_id must be printable text of at most {MAX_USER_ID} characters")
    roles = claims.get("roles") or []
    permissions = claims.get("permissions") or []
    if not isinstance(roles, list) or len(roles) > MAX_LIST or not all(_clean(r, MAX_NAME) for r in roles):
        raise TokenError(f"roles must be a list of at most {MAX_LIST} short strings")
    if (
        not isinstance(permissions, list)
        or len(permissions) > MAX_LIST
        or not all(_clean(p, MAX_NAME) for p in permissions)
    ):
        raise TokenError(f"permissions must be a list of at most {MAX_LIST} short strings")
    tier = claims.get("tier")
    if tier is not None and not _clean(tier, MAX_NAME):
        raise TokenError("tier must be a short string")
    return VerifiedClaims(user_id, tenant_id, roles, permissions, tier, claims)


def mint_token(
    settings: Settings,
    *,
    user_id: str,
    tenant_id: str,
    roles: list[str],
    permissions: list[str] | None = None,
    tier: str | None = None,
    lifetime_seconds: int = 3600,
    extra: dict[str, Any] | None = None,
) -> str:
    """Mint an HS256 token with the development authority's secret."""
    if not settings.auth_hs_secret:
        raise RuntimeError("no HS secret configured; the development authority cannot sign")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id,
        "user_id": user_id,
        "tenant_id": tenant_id,
        "roles": roles,
        "permissions": permissions or [],
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "iat": now,
        "exp": now + lifetime_seconds,
    }
    if tier:
        claims["tier"] = tier
    if extra:
        claims.update(extra)
    return jose_jwt.encode(claims, settings.auth_hs_secret, algorithm="HS256")
