"""A typed Python client for Shiplane's API (``/api/v1``), synchronous and asynchronous.

    from shiplane_sdk.client import ShiplaneClient

    with ShiplaneClient("https://shiplane.example.com", token=TOKEN) as client:
        release = client.releases.from_latest({"componentIds": [api_id]})
        for env in client.environments.list(sort="order"):
            print(env["name"])

    async with AsyncShiplaneClient(server, token=TOKEN) as client:
        job = await client.deployments.get(job_id)
        async for event in client.deployments.stream(job_id):
            ...

Answers are the envelope's ``data``; error answers raise
:class:`~shiplane_sdk.client.errors.ShiplaneError` subclasses; lists follow cursors;
429s and (for idempotent calls) connection errors are retried (``RetryPolicy``); POSTs
carry a fresh ``Idempotency-Key``; streams resume from ``since``. See docs/client.md.

The client imports nothing of the server: httpx, pydantic and websockets only.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from shiplane_sdk.client._transport import ApiResponse, AsyncTransport, Page, RetryPolicy, SyncTransport
from shiplane_sdk.client.auth import ClientCredentials
from shiplane_sdk.client.errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    PromotionBlockedError,
    RateLimitedError,
    ServerError,
    ShiplaneConnectionError,
    ShiplaneError,
    StreamError,
    UnauthorizedError,
    UnprocessableError,
)
from shiplane_sdk.client.resources import (
    ABReleases,
    Agents,
    Audit,
    Components,
    Deployments,
    Environments,
    Evidence,
    Integrations,
    Operations,
    Plugins,
    Promotions,
    Releases,
    ServiceAccounts,
    Targets,
    VariableSets,
    WorkflowRuns,
    WorkflowTemplates,
)

if TYPE_CHECKING:
    from shiplane_sdk.client import models


def __getattr__(name: str) -> Any:
    """``shiplane_sdk.client.models`` on first use (building the models takes a moment)."""
    if name == "models":
        return importlib.import_module("shiplane_sdk.client.models")
    raise AttributeError(name)


def _credentials(
    server: str | None, token: str | None, client_id: str | None, client_secret: str | None
) -> tuple[str, str | None, ClientCredentials | None]:
    """The server, a bearer token, or a service account's client credentials (arguments, else
    ``SHIPLANE_SERVER``, ``SHIPLANE_TOKEN``, ``SHIPLANE_CLIENT_ID`` + ``SHIPLANE_CLIENT_SECRET``)."""
    server = server or os.environ.get("SHIPLANE_SERVER")
    if not server:
        raise ValueError("no server given (argument or SHIPLANE_SERVER)")
    if client_id is None and token is None:
        token = os.environ.get("SHIPLANE_TOKEN")
        if not token:
            client_id = os.environ.get("SHIPLANE_CLIENT_ID")
            client_secret = client_secret or os.environ.get("SHIPLANE_CLIENT_SECRET")
    if client_id:
        if not client_secret:
            raise ValueError("a client id needs its client secret")
        return server, None, ClientCredentials(server, client_id, client_secret)
    return server, token, None


class ShiplaneClient:
    """The synchronous client (one ``httpx.Client``; close it, or use it as a context manager)."""

    def __init__(
        self,
        server: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        http: httpx.Client | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        typed: bool = True,
    ) -> None:
        server, token, auth = _credentials(server, token, client_id, client_secret)
        self.transport = SyncTransport(
            server, token, timeout=timeout, retry=retry, headers=headers, http=http, auth=auth, typed=typed
        )
        t = self.transport
        self.environments: Environments[Any, Iterator[Any], bytes, Page] = Environments(t)
        self.targets: Targets[Any, Iterator[Any], bytes, Page] = Targets(t)
        self.agents: Agents[Any, Iterator[Any], bytes, Page] = Agents(t)
        self.integrations: Integrations[Any, Iterator[Any], bytes, Page] = Integrations(t)
        self.components: Components[Any, Iterator[Any], bytes, Page] = Components(t)
        self.releases: Releases[Any, Iterator[Any], bytes, Page] = Releases(t)
        self.workflow_templates: WorkflowTemplates[Any, Iterator[Any], bytes, Page] = WorkflowTemplates(t)
        self.runs: WorkflowRuns[Any, Iterator[Any], bytes, Page] = WorkflowRuns(t)
        self.promotions: Promotions[Any, Iterator[Any], bytes, Page] = Promotions(t)
        self.deployments: Deployments[Any, Iterator[Any], bytes, Page] = Deployments(t)
        self.variable_sets: VariableSets[Any, Iterator[Any], bytes, Page] = VariableSets(t)
        self.evidence: Evidence[Any, Iterator[Any], bytes, Page] = Evidence(t)
        self.audit: Audit[Any, Iterator[Any], bytes, Page] = Audit(t)
        self.plugins: Plugins[Any, Iterator[Any], bytes, Page] = Plugins(t)
        self.ab_releases: ABReleases[Any, Iterator[Any], bytes, Page] = ABReleases(t)
        self.service_accounts: ServiceAccounts[Any, Iterator[Any], bytes, Page] = ServiceAccounts(t)
        self.operations: Operations[Any, Iterator[Any], bytes, Page] = Operations(t)

    @property
    def server(self) -> str:
        return self.transport.server

    def request(self, method: str, path: str, **kwargs: Any) -> ApiResponse:
        """Any call (``path`` absolute, or relative to ``/api/v1``), with the same retries and errors."""
        return self.transport.request(method, path, **kwargs)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> ShiplaneClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncShiplaneClient:
    """The asynchronous client (one ``httpx.AsyncClient``; ``await client.aclose()`` or ``async with``)."""

    def __init__(
        self,
        server: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        typed: bool = True,
    ) -> None:
        server, token, auth = _credentials(server, token, client_id, client_secret)
        self.transport = AsyncTransport(
            server, token, timeout=timeout, retry=retry, headers=headers, http=http, auth=auth, typed=typed
        )
        t = self.transport
        A = Awaitable[Any]
        M = AsyncIterator[Any]
        self.environments: Environments[A, M, Awaitable[bytes], Awaitable[Page]] = Environments(t)
        self.targets: Targets[A, M, Awaitable[bytes], Awaitable[Page]] = Targets(t)
        self.agents: Agents[A, M, Awaitable[bytes], Awaitable[Page]] = Agents(t)
        self.integrations: Integrations[A, M, Awaitable[bytes], Awaitable[Page]] = Integrations(t)
        self.components: Components[A, M, Awaitable[bytes], Awaitable[Page]] = Components(t)
        self.releases: Releases[A, M, Awaitable[bytes], Awaitable[Page]] = Releases(t)
        self.workflow_templates: WorkflowTemplates[A, M, Awaitable[bytes], Awaitable[Page]] = WorkflowTemplates(t)
        self.runs: WorkflowRuns[A, M, Awaitable[bytes], Awaitable[Page]] = WorkflowRuns(t)
        self.promotions: Promotions[A, M, Awaitable[bytes], Awaitable[Page]] = Promotions(t)
        self.deployments: Deployments[A, M, Awaitable[bytes], Awaitable[Page]] = Deployments(t)
        self.variable_sets: VariableSets[A, M, Awaitable[bytes], Awaitable[Page]] = VariableSets(t)
        self.evidence: Evidence[A, M, Awaitable[bytes], Awaitable[Page]] = Evidence(t)
        self.audit: Audit[A, M, Awaitable[bytes], Awaitable[Page]] = Audit(t)
        self.plugins: Plugins[A, M, Awaitable[bytes], Awaitable[Page]] = Plugins(t)
        self.ab_releases: ABReleases[A, M, Awaitable[bytes], Awaitable[Page]] = ABReleases(t)
        self.service_accounts: ServiceAccounts[A, M, Awaitable[bytes], Awaitable[Page]] = ServiceAccounts(t)
        self.operations: Operations[A, M, Awaitable[bytes], Awaitable[Page]] = Operations(t)

    @property
    def server(self) -> str:
        return self.transport.server

    async def request(self, method: str, path: str, **kwargs: Any) -> ApiResponse:
        return await self.transport.request(method, path, **kwargs)

    async def aclose(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> AsyncShiplaneClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = [
    "ApiResponse",
    "AsyncShiplaneClient",
    "ClientCredentials",
    "ConflictError",
    "ForbiddenError",
    "InvalidRequestError",
    "NotFoundError",
    "Page",
    "PromotionBlockedError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "ShiplaneClient",
    "ShiplaneConnectionError",
    "ShiplaneError",
    "StreamError",
    "UnauthorizedError",
    "UnprocessableError",
    "models",
]
