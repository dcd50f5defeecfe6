"""HTTP calls to ``/api/v1``: the envelope unwrapped, errors raised, bounded retries, pages followed.

The decisions (what to send, whether and how long to wait before another attempt, what
an answer means) are plain functions shared by :class:`SyncTransport` and
:class:`AsyncTransport`, which differ only in how they send and sleep.

Retries (``RetryPolicy``):

- **429** is retried for every method, after ``Retry-After``: a refused request never
  reached the endpoint, so nothing ran. A ``Retry-After`` longer than
  ``max_retry_after`` is not waited for: the :class:`RateLimitedError` is raised.
- **503** (a dependency not ready, the database connection lost) and **502/504** are
  retried for idempotent calls, after ``Retry-After`` or the backoff.
- **Connection errors**: a connection that could not be opened (nothing was sent) is
  retried for every call; one that failed after the request was sent (reset, timeout,
  closed without an answer) only for idempotent calls.

Idempotent calls are GET, HEAD, PUT and DELETE, and POST with an ``Idempotency-Key``:
the client sends a new key (a UUID) with every POST unless told otherwise, and the same
key on each retry, so the server replays the stored answer instead of acting twice.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel

from shiplane_sdk._version import __version__
from shiplane_sdk.client._typed import typed as typed_data
from shiplane_sdk.client.auth import ClientCredentials
from shiplane_sdk.client.errors import (
    ShiplaneConnectionError,
    ShiplaneError,
    error_from_response,
    retry_after_seconds,
)
from shiplane_sdk.client.streams import aiter_stream, iter_stream

API = "/api/v1"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
#: Answers worth another attempt of an idempotent call.
RETRY_STATUSES = frozenset({502, 503, 504})
#: Errors raised before anything was sent: safe to retry whatever the method.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)
#: Sentinel for ``idempotency_key``: send no key at all.
NO_KEY = ""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long the client tries a call again (all bounded)."""

    #: Attempts in all, the first included (1 disables retries).
    max_attempts: int = 4
    #: The longest ``Retry-After`` (seconds) the client waits for; longer raises at once.
    max_retry_after: float = 60.0
    #: First backoff after a connection error or a 5xx without ``Retry-After``; doubles each time.
    backoff: float = 0.25
    max_backoff: float = 5.0

    def delay(self, attempt: int) -> float:
        """Backoff before attempt ``attempt + 1`` (``attempt`` counts from 1), with jitter."""
        base = min(self.backoff * (2 ** (attempt - 1)), self.max_backoff)
        return float(base * (0.5 + random.random() / 2))


@dataclass
class ApiResponse:
    """An unwrapped answer: ``data`` (None for 204), the envelope's ``meta`` and the headers."""

    status: int
    data: Any
    meta: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def request_id(self) -> str | None:
        return self.meta.get("requestId") or self.headers.get("x-request-id")

    @property
    def pagination(self) -> dict[str, Any] | None:
        value = self.meta.get("pagination")
        return value if isinstance(value, dict) else None


@dataclass
class Page:
    """One page of a list: its items and ``meta.pagination``."""

    items: list[Any]
    pagination: dict[str, Any]
    request_id: str | None = None

    @property
    def next_cursor(self) -> str | None:
        value = self.pagination.get("nextCursor")
        return str(value) if value else None

    @property
    def has_next(self) -> bool:
        return bool(self.pagination.get("hasNext"))


@dataclass
class _Call:
    method: str
    url: str
    params: dict[str, Any]
    headers: dict[str, str]
    content: bytes | None
    idempotent: bool


def to_json(body: Any) -> Any:
    """A request body as JSON values: pydantic models by alias, only the fields that were set."""
    if isinstance(body, BaseModel):
        return body.model_dump(by_alias=True, exclude_unset=True, mode="json")
    if isinstance(body, Mapping):
        return {k: to_json(v) for k, v in body.items()}
    if isinstance(body, list | tuple):
        return [to_json(v) for v in body]
    return body


def clean_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Query parameters without None; a ``filter`` given as an object is sent as JSON."""
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if key == "filter" and not isinstance(value, str):
            value = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out[key] = value
    return out


def build_call(
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None,
    body: Any,
    idempotency_key: str | None,
    headers: Mapping[str, str] | None,
) -> _Call:
    method = method.upper()
    url = path if path.startswith(("/", "http://", "https://")) else f"{API}/{path}"
    sent: dict[str, str] = dict(headers or {})
    content = None
    if body is not None:
        content = json.dumps(to_json(body), separators=(",", ":")).encode()
        sent["Content-Type"] = "application/json"
    idempotent = method in IDEMPOTENT_METHODS
    if method == "POST":
        key = str(uuid.uuid4()) if idempotency_key is None else idempotency_key
        if key:
            sent["Idempotency-Key"] = key
            idempotent = True
    return _Call(method, url, clean_params(params), sent, content, idempotent)


def retry_delay(
    call: _Call, attempt: int, policy: RetryPolicy, response: httpx.Response | None, error: Exception | None
) -> float | None:
    """Seconds to wait before trying ``call`` again, or None to stop (raise or return)."""
    if attempt >= policy.max_attempts:
        return None
    if error is not None:
        if isinstance(error, NOT_SENT) or (call.idempotent and isinstance(error, httpx.TransportError)):
            return policy.delay(attempt)
        return None
    assert response is not None
    if response.status_code == 429:
        wait = retry_after_seconds(response.headers)
        if wait is None:
            return policy.delay(attempt)
        return wait if wait <= policy.max_retry_after else None
    if response.status_code in RETRY_STATUSES and call.idempotent:
        wait = retry_after_seconds(response.headers)
        if wait is None:
            return policy.delay(attempt)
        return wait if wait <= policy.max_retry_after else None
    return None


def unwrap(response: httpx.Response) -> ApiResponse:
    """The envelope's ``data`` and ``meta``; a :class:`ShiplaneError` subclass for an error answer."""
    headers = {k.lower(): v for k, v in response.headers.items()}
    if response.status_code >= 400:
        raise error_from_response(response)
    if response.status_code == 204 or not response.content:
        return ApiResponse(response.status_code, None, {}, headers)
    try:
        body = response.json()
    except ValueError:
        return ApiResponse(response.status_code, response.text, {}, headers)
    if isinstance(body, dict) and "data" in body and ("success" in body or "meta" in body):
        meta = body.get("meta")
        return ApiResponse(response.status_code, body["data"], meta if isinstance(meta, dict) else {}, headers)
    return ApiResponse(response.status_code, body, {}, headers)


def next_page_params(params: dict[str, Any], page: ApiResponse) -> dict[str, Any] | None:
    """The parameters of the page after ``page``: its ``nextCursor`` if it has one, else page + 1."""
    pagination = page.pagination
    if pagination is None or not isinstance(page.data, list) or not page.data:
        return None
    cursor = pagination.get("nextCursor")
    if cursor:
        following = {k: v for k, v in params.items() if k != "page"}
        following["cursor"] = cursor
        return following
    if not pagination.get("hasNext"):
        return None
    if "cursor" in params:  # a cursor list that stopped giving cursors: nothing follows
        return None
    following = dict(params)
    following["page"] = int(pagination.get("page") or params.get("page") or 1) + 1
    return following


def _connection_error(call: _Call, error: Exception, attempts: int) -> ShiplaneConnectionError:
    reason = f"{type(error).__name__}: {error or 'connection failed'}"
    return ShiplaneConnectionError(
        f"{call.method} {call.url}: {reason} (after {attempts} attempt(s))", code="CONNECTION_FAILED"
    )


class _Base:
    def __init__(
        self,
        server: str,
        token: str | None,
        *,
        timeout: float,
        retry: RetryPolicy | None,
        headers: Mapping[str, str] | None,
        auth: httpx.Auth | None = None,
        typed: bool = False,
    ) -> None:
        self.server = server.rstrip("/")
        # Answers as the generated response models (``_typed``), or the JSON as it came.
        self.typed = typed
        self.token = token
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.default_headers = {"User-Agent": f"shiplane-sdk/{__version__}", "Accept": "application/json"}
        if token:
            self.default_headers["Authorization"] = f"Bearer {token}"
        self.default_headers.update(headers or {})

    def shape(self, method: str, path: str, data: Any) -> Any:
        return typed_data(method, path, data) if self.typed else data

    def _ws_headers(self, token: str | None = None) -> dict[str, str]:
        headers = {k: v for k, v in self.default_headers.items() if k.lower() in ("authorization", "user-agent")}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers


class SyncTransport(_Base):
    def __init__(
        self,
        server: str,
        token: str | None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        http: httpx.Client | None = None,
        auth: httpx.Auth | None = None,
        typed: bool = False,
    ) -> None:
        super().__init__(server, token, timeout=timeout, retry=retry, headers=headers, auth=auth, typed=typed)
        self.http = http or httpx.Client(base_url=self.server, timeout=timeout, headers=self.default_headers, auth=auth)
        self.sleep = time.sleep

    def close(self) -> None:
        self.http.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The raw answer of the call, after the retries its policy allows (errors not raised)."""
        call = build_call(method, path, params=params, body=body, idempotency_key=idempotency_key, headers=headers)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.http.request(
                    call.method, call.url, params=call.params, headers=call.headers, content=call.content
                )
            except httpx.TransportError as exc:
                wait = retry_delay(call, attempt, self.retry, None, exc)
                if wait is None:
                    raise _connection_error(call, exc, attempt) from exc
                self.sleep(wait)
                continue
            wait = retry_delay(call, attempt, self.retry, response, None)
            if wait is None:
                return response
            response.close()
            self.sleep(wait)

    def request(self, method: str, path: str, **kwargs: Any) -> ApiResponse:
        return unwrap(self.send(method, path, **kwargs))

    def one(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.shape(method, path, self.request(method, path, **kwargs).data)

    def raw(self, method: str, path: str, **kwargs: Any) -> bytes:
        response = self.send(method, path, **kwargs)
        if response.status_code >= 400:
            raise error_from_response(response)
        return response.content

    def page(self, path: str, params: Mapping[str, Any] | None = None) -> Page:
        answer = self.request("GET", path, params=params)
        return Page(list(self.shape("GET", path, answer.data) or []), answer.pagination or {}, answer.request_id)

    def many(self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int = 100) -> Iterator[Any]:
        current: dict[str, Any] | None = {"pageSize": page_size, **clean_params(params)}
        while current is not None:
            answer = self.request("GET", path, params=current)
            yield from self.shape("GET", path, answer.data) or []
            current = next_page_params(current, answer)

    def stream(self, path: str, *, since: int = 0, max_reconnects: int = 5) -> Iterator[dict[str, Any]]:
        """A WebSocket stream's messages, resumed from ``since`` after a disconnect."""
        url = path if path.startswith("/") else f"{API}/{path}"
        token = self.auth.token() if isinstance(self.auth, ClientCredentials) else None
        return iter_stream(self.server, url, self._ws_headers(token), since=since, max_reconnects=max_reconnects)


class AsyncTransport(_Base):
    def __init__(
        self,
        server: str,
        token: str | None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        auth: httpx.Auth | None = None,
        typed: bool = False,
    ) -> None:
        super().__init__(server, token, timeout=timeout, retry=retry, headers=headers, auth=auth, typed=typed)
        self.http = http or httpx.AsyncClient(
            base_url=self.server, timeout=timeout, headers=self.default_headers, auth=auth
        )
        self.sleep = asyncio.sleep

    async def close(self) -> None:
        await self.http.aclose()

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        call = build_call(method, path, params=params, body=body, idempotency_key=idempotency_key, headers=headers)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self.http.request(
                    call.method, call.url, params=call.params, headers=call.headers, content=call.content
                )
            except httpx.TransportError as exc:
                wait = retry_delay(call, attempt, self.retry, None, exc)
                if wait is None:
                    raise _connection_error(call, exc, attempt) from exc
                await self.sleep(wait)
                continue
            wait = retry_delay(call, attempt, self.retry, response, None)
            if wait is None:
                return response
            await response.aclose()
            await self.sleep(wait)

    async def request(self, method: str, path: str, **kwargs: Any) -> ApiResponse:
        return unwrap(await self.send(method, path, **kwargs))

    async def one(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.shape(method, path, (await self.request(method, path, **kwargs)).data)

    async def raw(self, method: str, path: str, **kwargs: Any) -> bytes:
        response = await self.send(method, path, **kwargs)
        if response.status_code >= 400:
            raise error_from_response(response)
        return response.content

    async def page(self, path: str, params: Mapping[str, Any] | None = None) -> Page:
        answer = await self.request("GET", path, params=params)
        return Page(list(self.shape("GET", path, answer.data) or []), answer.pagination or {}, answer.request_id)

    async def many(
        self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int = 100
    ) -> AsyncIterator[Any]:
        current: dict[str, Any] | None = {"pageSize": page_size, **clean_params(params)}
        while current is not None:
            answer = await self.request("GET", path, params=current)
            for item in self.shape("GET", path, answer.data) or []:
                yield item
            current = next_page_params(current, answer)

    def stream(self, path: str, *, since: int = 0, max_reconnects: int = 5) -> AsyncIterator[dict[str, Any]]:
        """A WebSocket stream's messages, resumed from ``since`` after a disconnect."""
        url = path if path.startswith("/") else f"{API}/{path}"
        return self._astream(url, since, max_reconnects)

    async def _astream(self, url: str, since: int, max_reconnects: int) -> AsyncIterator[dict[str, Any]]:
        token = await self.auth.atoken() if isinstance(self.auth, ClientCredentials) else None
        headers = self._ws_headers(token)
        async for message in aiter_stream(self.server, url, headers, since=since, max_reconnects=max_reconnects):
            yield message


__all__ = [
    "ApiResponse",
    "AsyncTransport",
    "NO_KEY",
    "Page",
    "RetryPolicy",
    "ShiplaneError",
    "SyncTransport",
]
