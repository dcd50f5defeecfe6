"""An asynchronous client of the OCI distribution API (Docker Registry HTTP API v2).

One :class:`RegistrySession` per capability call: an ``httpx.AsyncClient`` with the
config's TLS settings and timeout, and the authentication state of that call.
Authentication follows the registry's ``WWW-Authenticate`` challenge: ``Basic``
(the configured credentials), or ``Bearer`` (a token from the challenge's realm for
the request's scope, asked with the configured credentials when there are any).
Tokens and the registry's challenge are kept in a :class:`TokenCache` that outlives
the session (the capability holds it), so later calls send a still valid token
straight away.

Every failure is a :class:`~shiplane_sdk.PluginError` whose message names what
failed and never holds the password or a token; ``details["reason"]`` classifies it
(``unreachable``, ``timeout``, ``tls``, ``unauthorized``, ``not_found``,
``rate_limited``, ``unexpected_status``, ``invalid_response``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import ssl
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from shiplane_sdk import PluginError

__all__ = [
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "INDEX_TYPES",
    "MANIFEST_ACCEPT",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "RegistrySession",
    "Response",
    "TokenCache",
]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST))

USER_AGENT = "shiplane-plugin-oci/0.1.0"
#: The largest body read: a manifest (Distribution caps them at 4 MiB), a page, a token answer.
MAX_BODY_BYTES = 4 * 1024 * 1024
_MAX_REDIRECTS = 5
# A token is used until this many seconds before it expires (never a token about to lapse).
_EXPIRY_MARGIN = 10
_DEFAULT_EXPIRES_IN = 60  # the token specification's default
_CHALLENGE_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass
class Response:
    """What a request returned: status, headers and the body (read up to a bound)."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: str

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def error_code(self) -> str | None:
        """The first ``errors[].code`` of a registry error body, if any."""
        data = self.json()
        if isinstance(data, dict) and isinstance(data.get("errors"), list) and data["errors"]:
            first = data["errors"][0]
            if isinstance(first, dict) and isinstance(first.get("code"), str):
                return first["code"][:64]
        return None


@dataclass
class Challenge:
    scheme: str  # "basic" or "bearer", lowercase
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a ``WWW-Authenticate`` header (``Bearer realm="...",service="..."``)."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return Challenge(scheme.lower(), {k: v.replace('\\"', '"') for k, v in params.items()})


def next_link(header: str | None, current: str) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header, resolved against ``current``."""
    if not header:
        return None
    for part in header.split(","):
        match = re.match(r"\s*<([^>]*)>\s*;(.*)$", part)
        if match and re.search(r'rel\s*=\s*"?next"?', match.group(2)):
            return urljoin(current, match.group(1))
    return None


class TokenCache:
    """Bearer tokens per (realm, service, scope, credentials) until shortly before they
    expire, and the challenge each registry answered with. Bounded; credentials are
    keyed by a hash, never stored."""

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._challenges: OrderedDict[str, Challenge] = OrderedDict()

    def get(self, key: str) -> str | None:
        entry = self._tokens.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            self._tokens.pop(key, None)
            return None
        return entry[0]

    def put(self, key: str, token: str, expires_in: float) -> None:
        lifetime = expires_in - _EXPIRY_MARGIN
        if lifetime <= 0:
            return
        self._tokens[key] = (token, time.monotonic() + lifetime)
        self._tokens.move_to_end(key)
        while len(self._tokens) > self.max_entries:
            self._tokens.popitem(last=False)

    def drop(self, key: str) -> None:
        self._tokens.pop(key, None)

    def challenge(self, registry: str) -> Challenge | None:
        return self._challenges.get(registry)

    def remember_challenge(self, registry: str, challenge: Challenge) -> None:
        self._challenges[registry] = challenge
        self._challenges.move_to_end(registry)
        while len(self._challenges) > self.max_entries:
            self._challenges.popitem(last=False)


_SSL_CONTEXTS: OrderedDict[str, ssl.SSLContext] = OrderedDict()
_SSL_LOCK = threading.Lock()


def ssl_context(ca_pem: str | None) -> ssl.SSLContext:
    """The system's trusted CAs, certifi's bundle and ``ca_pem``; cached per CA."""
    key = hashlib.sha256((ca_pem or "").encode()).hexdigest()
    with _SSL_LOCK:
        context = _SSL_CONTEXTS.get(key)
    if context is None:
        context = ssl.create_default_context()
        try:
            import certifi  # httpx's own CA bundle, for systems without one

            context.load_verify_locations(cafile=certifi.where())
        except (ImportError, OSError, ssl.SSLError):
            pass
        if ca_pem:
            try:
                context.load_verify_locations(cadata=ca_pem)
            except (ssl.SSLError, ValueError):
                raise PluginError(
                    "caCertificate is not a PEM certificate", details={"reason": "invalid_config"}
                ) from None
        with _SSL_LOCK:
            _SSL_CONTEXTS[key] = context
            while len(_SSL_CONTEXTS) > 16:
                _SSL_CONTEXTS.popitem(last=False)
    return context


class RegistrySession:
    """One call's connection to a registry. Use as ``async with RegistrySession(...)``."""

    def __init__(self, config: dict[str, Any], cache: TokenCache) -> None:
        self.base = str(config["url"]).rstrip("/")
        self.origin = _origin(self.base)
        self.username: str | None = config.get("username") or None
        self.password: str | None = config.get("password") or None
        self.timeout = float(config.get("timeoutSeconds", 10))
        self.cache = cache
        # The secrets this session knows: kept out of every message it builds.
        self._secrets: set[str] = {s for s in (self.password,) if s}
        self._basic = False  # send basic credentials without waiting for a challenge
        #: How the last authenticated request of this session authenticated.
        self.auth_used = "anonymous"
        self._locks: dict[str, asyncio.Lock] = {}
        self._insecure = bool(config.get("insecureSkipVerify"))
        self._ca_pem: str | None = config.get("caCertificate") or None
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        assert self._http is not None, "use the session as `async with`"
        return self._http

    async def __aenter__(self) -> RegistrySession:
        verify: ssl.SSLContext | bool = False
        if not self._insecure:
            # Loading CA files reads the disk: in a thread, never on the event loop.
            verify = await asyncio.to_thread(ssl_context, self._ca_pem)
        self._http = httpx.AsyncClient(
            verify=verify,
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=True,
            max_redirects=_MAX_REDIRECTS,
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._http is not None:
            await self._http.aclose()

    # -- errors ----------------------------------------------------------------------------------

    def error(self, message: str, reason: str, **details: Any) -> PluginError:
        """A PluginError with every secret this session knows masked out of ``message``."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            message = message.replace(secret, "***")
        return PluginError(message, details={"reason": reason, **details})

    def _who(self) -> str:
        return f"user {self.username!r}" if self.username else "anonymous access"

    # -- requests --------------------------------------------------------------------------------

    async def _send(
        self, method: str, url: str, headers: dict[str, str], *, what: str, auth: tuple[str, str] | None = None
    ) -> Response:
        """One HTTP exchange; the body is read up to :data:`MAX_BODY_BYTES` (HEAD: none)."""
        host = _origin(url)
        try:
            async with self.http.stream(
                method, url, headers=headers, auth=auth if auth else httpx.USE_CLIENT_DEFAULT
            ) as response:
                chunks: list[bytes] = []
                size = 0
                if method != "HEAD":
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > MAX_BODY_BYTES:
                            raise self.error(
                                f"{what}: the answer of {host} is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB",
                                "invalid_response",
                            )
                        chunks.append(chunk)
                return Response(response.status_code, response.headers, b"".join(chunks), str(response.url))
        except httpx.TimeoutException:
            raise self.error(f"{what}: {host} did not answer within {self.timeout:g} s", "timeout") from None
        except httpx.ConnectError as exc:
            text = str(exc)
            if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
                detail = text.split("certificate verify failed:", 1)[-1].split("(_ssl", 1)[0].strip(" :")
                raise self.error(
                    f"{what}: the TLS certificate of {host} is not trusted ({detail or 'verify failed'}); "
                    "set caCertificate to the CA that signed it, or insecureSkipVerify",
                    "tls",
                ) from None
            raise self.error(f"{what}: cannot reach {host}: {_connect_failure(exc)}", "unreachable") from None
        except httpx.TooManyRedirects:
            raise self.error(
                f"{what}: {host} redirected more than {_MAX_REDIRECTS} times", "invalid_response"
            ) from None
        except httpx.HTTPError as exc:
            raise self.error(
                f"{what}: the exchange with {host} failed: {type(exc).__name__}: {exc}", "unreachable"
            ) from None

    async def request(
        self, method: str, url: str, *, scope: str | None, what: str, accept: str | None = None
    ) -> Response:
        """``method url`` with the registry's authentication; a 401 after authenticating raises.

        ``scope`` is the token scope the request needs (``repository:NAME:pull``,
        ``registry:catalog:*``; ``None`` for ``/v2/``). ``url`` must be on the registry's origin.
        """
        if _origin(url) != self.origin:
            raise self.error(f"{what}: the registry pointed to another host ({_origin(url)})", "invalid_response")
        headers = {"Accept": accept} if accept else {}
        cached_token: str | None = None
        # What this registry asked for before: answer it straight away (no 401 round trip).
        challenge = self.cache.challenge(self.origin)
        if challenge is not None and challenge.scheme == "bearer":
            cached_token = self.cache.get(self._token_key(challenge, scope))
        elif challenge is not None and challenge.scheme == "basic" and self.username and self.password:
            self._basic = True
        if cached_token:
            self._secrets.add(cached_token)
            headers["Authorization"] = f"Bearer {cached_token}"
        response = await self._send(method, url, headers, what=what, auth=self._basic_auth())
        if response.status != 401:
            if cached_token:
                self.auth_used = "bearer"
            elif self._basic:
                self.auth_used = "basic"
            return response
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            raise self.error(
                f"{what}: the registry answered 401 without an authentication challenge", "unauthorized", status=401
            )
        if challenge.scheme == "basic":
            if not self.username or not self.password:
                raise self.error(
                    f"{what}: the registry at {self.base} requires credentials (basic auth); none are configured",
                    "unauthorized",
                    status=401,
                )
            if self._basic:
                raise self._refused(what)
            self._basic = True
            self.cache.remember_challenge(self.origin, challenge)
            self.auth_used = "basic"
            response = await self._send(method, url, headers, what=what, auth=self._basic_auth())
        elif challenge.scheme == "bearer":
            self.cache.remember_challenge(self.origin, challenge)
            wanted = challenge.params.get("scope") or scope
            # Kept under the request's scope too, so the next such request sends it at once.
            token = await self._token(challenge, wanted, fresh=bool(cached_token), alias=scope)
            headers["Authorization"] = f"Bearer {token}"
            self.auth_used = "bearer"
            response = await self._send(method, url, headers, what=what)
        else:
            raise self.error(
                f"{what}: the registry asks for {challenge.scheme!r} authentication, which is not supported",
                "unauthorized",
                status=401,
            )
        if response.status == 401:
            retry = parse_challenge(response.headers.get("WWW-Authenticate", ""))
            if retry is not None and retry.params.get("error") == "insufficient_scope":
                needed = retry.params.get("scope") or scope or "the registry"
                maybe = "; the repository may not exist" if needed.startswith("repository:") else ""
                raise self.error(
                    f"{what}: the registry at {self.base} denied {self._who()} the access it needs ({needed}){maybe}",
                    "unauthorized",
                    status=401,
                )
            raise self._refused(what)
        return response

    def _refused(self, what: str) -> PluginError:
        if self.username:
            message = f"{what}: the registry at {self.base} refused the credentials of {self._who()} (401 Unauthorized)"
        else:
            message = f"{what}: the registry at {self.base} requires credentials; none are configured (401)"
        return self.error(message, "unauthorized", status=401)

    def _basic_auth(self) -> tuple[str, str] | None:
        if self._basic and self.username and self.password:
            return (self.username, self.password)
        return None

    # -- bearer tokens ---------------------------------------------------------------------------

    def _token_key(self, challenge: Challenge, scope: str | None) -> str:
        identity = hashlib.sha256(f"{self.username or ''}\0{self.password or ''}".encode()).hexdigest()
        return "\0".join(
            (self.origin, challenge.params.get("realm", ""), challenge.params.get("service", ""), scope or "", identity)
        )

    async def _token(self, challenge: Challenge, scope: str | None, *, fresh: bool, alias: str | None) -> str:
        key = self._token_key(challenge, scope)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if fresh:
                self.cache.drop(key)
            token = self.cache.get(key)
            if token:
                return token
            token, expires_in = await self._fetch_token(challenge, scope)
            self._secrets.add(token)
            self.cache.put(key, token, expires_in)
            if alias != scope:
                self.cache.put(self._token_key(challenge, alias), token, expires_in)
            return token

    async def _fetch_token(self, challenge: Challenge, scope: str | None) -> tuple[str, float]:
        realm = challenge.params.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.error(
                f"the registry at {self.base} named a token service that is not an http(s) URL", "invalid_response"
            )
        auth = (self.username, self.password) if self.username and self.password else None
        if auth and parts.scheme == "http" and urlsplit(self.base).scheme == "https":
            raise self.error(
                f"the registry at {self.base} sends clients to a token service over plain http "
                f"({_origin(realm)}): credentials are not sent there",
                "insecure_realm",
            )
        params: dict[str, str] = {}
        if challenge.params.get("service"):
            params["service"] = challenge.params["service"]
        if scope:
            params["scope"] = scope
        url = str(httpx.URL(realm).copy_merge_params(params))
        host = _origin(realm)
        what = f"token service {host}"
        response = await self._send("GET", url, {"Accept": "application/json"}, what=what, auth=auth)
        if response.status in (401, 403):
            if auth:
                message = f"the token service {host} refused the credentials of {self._who()} ({response.status})"
            else:
                message = (
                    f"the token service {host} refused anonymous access ({response.status}); configure credentials"
                )
            raise self.error(message, "unauthorized", status=response.status)
        if response.status != 200:
            raise self.error(
                f"the token service {host} answered {response.status}", "unexpected_status", status=response.status
            )
        data = response.json()
        token = None
        if isinstance(data, dict):
            token = data.get("token") or data.get("access_token")
        if not isinstance(token, str) or not token:
            raise self.error(f"the token service {host} answered without a token", "invalid_response")
        self._secrets.add(token)
        expires_in = data.get("expires_in", _DEFAULT_EXPIRES_IN)
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool):
            expires_in = _DEFAULT_EXPIRES_IN
        return token, float(min(max(expires_in, 0), 86400))

    # -- pagination ------------------------------------------------------------------------------

    async def paginate(self, url: str, key: str, *, scope: str, what: str, limit: int, on_error: Any) -> list[str]:
        """The string entries of ``key`` in every page of ``url``, following ``Link: rel="next"``,
        at most ``limit`` of them. ``on_error(response)`` raises for a non-200 answer."""
        entries: list[str] = []
        seen_urls: set[str] = set()
        next_url: str | None = url
        while next_url and len(entries) < limit:
            if next_url in seen_urls:
                break
            seen_urls.add(next_url)
            response = await self.request("GET", next_url, scope=scope, what=what)
            if response.status != 200:
                on_error(response)
            data = response.json()
            if not isinstance(data, dict):
                raise self.error(
                    f"{what}: the registry answered something other than a JSON object", "invalid_response"
                )
            page = data.get(key) or []
            if not isinstance(page, list):
                raise self.error(f"{what}: {key!r} in the registry's answer is not a list", "invalid_response")
            fresh = [entry for entry in page if isinstance(entry, str)]
            if not fresh:
                break
            entries.extend(fresh[: limit - len(entries)])
            next_url = next_link(response.headers.get("Link"), response.url)
        return entries

    def raise_for_status(self, response: Response, what: str, *, repository: str | None = None) -> None:
        """Raise the PluginError a non-2xx answer means (the 401 case is :meth:`request`'s)."""
        code = response.error_code()
        suffix = f" ({code})" if code else ""
        details: dict[str, Any] = {"status": response.status, **({"code": code} if code else {})}
        if response.status == 404 and repository and code in ("NAME_UNKNOWN", None):
            raise self.error(
                f"repository {repository!r} not found in the registry at {self.base}{suffix}", "not_found", **details
            )
        if response.status == 403:
            raise self.error(
                f"{what}: the registry at {self.base} denied {self._who()} (403 Forbidden){suffix}",
                "unauthorized",
                **details,
            )
        if response.status == 401:
            raise self._refused(what)
        if response.status == 429:
            raise self.error(
                f"{what}: the registry at {self.base} is rate limiting (429){suffix}", "rate_limited", **details
            )
        raise self.error(
            f"{what}: unexpected answer {response.status} from the registry at {self.base}{suffix}",
            "unexpected_status",
            **details,
        )


def _connect_failure(exc: BaseException) -> str:
    """What an ``httpx.ConnectError`` comes down to: ``connection refused``, a name not resolved, ..."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return f"cannot resolve the host name ({current.strerror or current})"
        if isinstance(current, OSError) and current.errno is not None and current.strerror:
            return current.strerror.lower()
        current = current.__cause__ or current.__context__
    return str(exc) or type(exc).__name__


def _origin(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def digest_of(body: bytes) -> str:
    """The sha256 digest of exactly ``body``."""
    return "sha256:" + hashlib.sha256(body).hexdigest()
