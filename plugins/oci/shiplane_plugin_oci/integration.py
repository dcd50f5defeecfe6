"""The ``oci-registry`` integration type: any registry speaking the OCI distribution spec
(Docker Registry HTTP API v2): Distribution, Harbor, Docker Hub, GHCR, ECR, ...

``test``/``health`` call ``GET /v2/``; ``discover`` reads the catalog
(``/v2/_catalog``); ``list_versions`` reads a repository's tags and the manifest
digest of each (``HEAD /v2/<name>/manifests/<tag>``). All are ``async`` and never
block; see :mod:`shiplane_plugin_oci.client` for authentication and errors.
"""

from __future__ import annotations

import asyncio
import re
from json import loads
from typing import Any
from urllib.parse import quote

from shiplane_sdk import (
    ConnectionTestResult,
    DiscoveredItem,
    HealthReport,
    IntegrationType,
    PluginError,
    VersionInfo,
)

from shiplane_plugin_oci.client import (
    INDEX_TYPES,
    MANIFEST_ACCEPT,
    RegistrySession,
    Response,
    TokenCache,
    digest_of,
)

#: The most repositories ``discover`` reads from the catalog.
MAX_REPOSITORIES = 10_000
#: Manifest requests ``list_versions`` has in flight at once.
HEAD_CONCURRENCY = 8
DEFAULT_PAGE_SIZE = 100
DEFAULT_MAX_TAGS = 1000
DEFAULT_TIMEOUT = 10

# The distribution spec's repository name grammar (path components joined by "/").
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_DIGEST = re.compile(r"^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
# scheme://host[:port] with an optional trailing slash: no path, no credentials.
_URL = r"^https?://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?/?$"
_QUERY_KEYS = ("prefix",)


class OciRegistry(IntegrationType):
    id = "oci-registry"
    category = "registry"
    display_name = "OCI registry"
    description = (
        "Any registry speaking the OCI distribution spec (Docker Registry HTTP API v2): lists repositories "
        "from the catalog and tags with their manifest digests; anonymous, basic or bearer-token auth."
    )
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "url": {
                "type": "string",
                "format": "uri",
                "minLength": 8,
                "maxLength": 512,
                "pattern": _URL,
                "description": "The registry's scheme, host and port, e.g. https://registry-1.docker.io",
            },
            "username": {"type": "string", "minLength": 1, "maxLength": 256},
            "password": {"type": "string", "minLength": 1, "maxLength": 8192, "writeOnly": True},
            "insecureSkipVerify": {"type": "boolean", "default": False},
            "caCertificate": {
                "type": "string",
                "minLength": 1,
                "maxLength": 65536,
                "description": "PEM certificate(s) of a CA to trust besides the system's",
            },
            "timeoutSeconds": {"type": "number", "minimum": 1, "maximum": 120, "default": DEFAULT_TIMEOUT},
            "pageSize": {"type": "integer", "minimum": 1, "maximum": 1000, "default": DEFAULT_PAGE_SIZE},
            "maxTags": {"type": "integer", "minimum": 1, "maximum": 10000, "default": DEFAULT_MAX_TAGS},
        },
        "dependentRequired": {"password": ["username"], "username": ["password"]},
    }
    # Whoever may change what the client trusts may route the password to a server of their choice.
    secret_destinations = ["insecureSkipVerify", "caCertificate"]

    def __init__(self) -> None:
        self.tokens = TokenCache()

    def _session(self, config: dict[str, Any]) -> RegistrySession:
        return RegistrySession(config, self.tokens)

    # -- test and health -------------------------------------------------------------------------

    async def _ping(self, config: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        base = str(config.get("url", "")).rstrip("/")
        try:
            async with self._session(config) as session:
                response = await session.request("GET", f"{session.base}/v2/", scope=None, what="GET /v2/")
                auth = session.auth_used
        except PluginError as exc:
            return False, exc.message, {"url": base, **exc.details}
        api_version = response.headers.get("Docker-Distribution-API-Version")
        details = {"url": base, "apiVersion": api_version, "auth": auth, "status": response.status}
        if response.status == 200:
            return True, f"the registry at {base} answers ({api_version or 'API v2'}, {auth} access)", details
        if response.status == 404:
            return False, f"{base} does not serve the registry API (GET /v2/ answered 404)", details
        return False, f"unexpected answer {response.status} to GET /v2/ from {base}", details

    async def test(self, config: dict[str, Any]) -> ConnectionTestResult:
        ok, message, details = await self._ping(config)
        return ConnectionTestResult(ok=ok, message=message, details=details)

    async def health(self, config: dict[str, Any]) -> HealthReport:
        ok, message, details = await self._ping(config)
        return HealthReport(status="ok" if ok else "failing", message=message, details=details)

    # -- discover --------------------------------------------------------------------------------

    async def discover(self, config: dict[str, Any], query: dict[str, Any]) -> list[DiscoveredItem]:
        unknown = sorted(set(query) - set(_QUERY_KEYS))
        if unknown:
            raise PluginError(
                f"unknown query key(s) {', '.join(unknown)}; supported: {', '.join(_QUERY_KEYS)}",
                details={"reason": "invalid_query"},
            )
        prefix = query.get("prefix") or ""
        if not isinstance(prefix, str):
            raise PluginError("query.prefix must be a string", details={"reason": "invalid_query"})
        page_size = int(config.get("pageSize", DEFAULT_PAGE_SIZE))
        async with self._session(config) as session:
            what = "listing the catalog"

            def failed(response: Response) -> None:
                if response.status == 404:
                    raise session.error(
                        f"{what}: the registry at {session.base} offers no catalog (GET /v2/_catalog answered 404)",
                        "not_found",
                        status=404,
                    )
                session.raise_for_status(response, what)

            names = await session.paginate(
                f"{session.base}/v2/_catalog?n={page_size}",
                "repositories",
                scope="registry:catalog:*",
                what=what,
                limit=MAX_REPOSITORIES,
                on_error=failed,
            )
        return [
            DiscoveredItem(kind="repository", reference=name, name=name)
            for name in dict.fromkeys(names)
            if name.startswith(prefix)
        ]

    # -- list_versions ---------------------------------------------------------------------------

    async def list_versions(self, config: dict[str, Any], reference: str) -> list[VersionInfo]:
        if not isinstance(reference, str) or len(reference) > 255 or not _REPOSITORY.match(reference):
            raise PluginError(
                f"{str(reference)[:300]!r} is not a repository name (lowercase path components such as team/api)",
                details={"reason": "invalid_reference"},
            )
        page_size = int(config.get("pageSize", DEFAULT_PAGE_SIZE))
        max_tags = int(config.get("maxTags", DEFAULT_MAX_TAGS))
        scope = f"repository:{reference}:pull"
        async with self._session(config) as session:
            what = f"listing the tags of {reference}"
            tags = await session.paginate(
                f"{session.base}/v2/{reference}/tags/list?n={page_size}",
                "tags",
                scope=scope,
                what=what,
                limit=max_tags,
                on_error=lambda response: session.raise_for_status(response, what, repository=reference),
            )
            tags = [tag for tag in dict.fromkeys(tags) if _TAG.match(tag)]
            semaphore = asyncio.Semaphore(HEAD_CONCURRENCY)

            async def one(tag: str) -> VersionInfo | None:
                async with semaphore:
                    return await _version(session, reference, tag, scope)

            found = await asyncio.gather(*(one(tag) for tag in tags))
        return [version for version in found if version is not None]


async def _version(session: RegistrySession, repository: str, tag: str, scope: str) -> VersionInfo | None:
    """The tag's manifest digest and media type (and an index's platforms); ``None`` if it vanished."""
    url = f"{session.base}/v2/{repository}/manifests/{quote(tag, safe='')}"
    what = f"reading the manifest of {repository}:{tag}"
    response = await session.request("HEAD", url, scope=scope, what=what, accept=MANIFEST_ACCEPT)
    if response.status == 404:
        return None  # untagged since the tag list was read
    body: bytes | None = None
    digest = response.headers.get("Docker-Content-Digest", "").strip()
    if response.status == 405 or (response.status == 200 and not _DIGEST.match(digest)):
        # No HEAD, or no digest header: the digest of the exact bytes a GET returns.
        response = await session.request("GET", url, scope=scope, what=what, accept=MANIFEST_ACCEPT)
        if response.status == 404:
            return None
        if response.status == 200:
            body = response.body
            digest = digest_of(body)
    if response.status != 200:
        session.raise_for_status(response, what, repository=repository)
    media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
    if body is not None and not media_type:
        media_type = _media_type_of(body)
    metadata: dict[str, Any] = {"mediaType": media_type or None}
    if media_type in INDEX_TYPES:
        if body is None:
            # By digest: the index's own bytes, even if the tag moved meanwhile.
            index_url = f"{session.base}/v2/{repository}/manifests/{digest}"
            fetched = await session.request("GET", index_url, scope=scope, what=what, accept=MANIFEST_ACCEPT)
            if fetched.status != 200:
                session.raise_for_status(fetched, what, repository=repository)
            body = fetched.body
        metadata["platforms"] = _platforms(body)
    return VersionInfo(tag=tag, digest=digest, metadata=metadata)


def _media_type_of(body: bytes) -> str:
    try:
        data = loads(body)
    except ValueError:
        return ""
    value = data.get("mediaType") if isinstance(data, dict) else None
    return value if isinstance(value, str) else ""


def _platforms(body: bytes) -> list[str]:
    """``os/architecture[/variant]`` of each manifest an index lists (in its order)."""
    try:
        data = loads(body)
    except ValueError:
        return []
    platforms: list[str] = []
    manifests = data.get("manifests") if isinstance(data, dict) else None
    for entry in manifests if isinstance(manifests, list) else []:
        platform = entry.get("platform") if isinstance(entry, dict) else None
        if not isinstance(platform, dict):
            continue
        parts = [str(platform.get("os") or "unknown"), str(platform.get("architecture") or "unknown")]
        if platform.get("variant"):
            parts.append(str(platform["variant"]))
        platforms.append("/".join(parts)[:128])
    return platforms[:256]
