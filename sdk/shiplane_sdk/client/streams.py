"""WebSocket streams that resume from ``since`` after a disconnect.

The server numbers each stream's events (``seq``: per workflow run, per deployment job,
per tenant for the dashboard) and replays everything after ``?since=<seq>``. These
helpers remember the last ``seq`` they yielded and, when the connection drops before
the stream's ``{"type": "end"}`` message, open it again with ``since=<last seq>``: the
caller sees every event once, in order, across any number of reconnects. Reconnects are
bounded (``max_reconnects`` in a row without a message between them, with backoff).

A refusal when opening (401, 403, 404, 400) raises the matching
:class:`~shiplane_sdk.client.errors.ShiplaneError` at once; 429 and 5xx are retried.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect as sync_connect

from shiplane_sdk.client.errors import ShiplaneError, StreamError, error_from_parts

SUBPROTOCOL = "shiplane.v1"
#: Answers to the opening handshake that are worth another try.
RETRYABLE = frozenset({429, 502, 503, 504})


def ws_url(server: str, path: str, since: int) -> str:
    base = server.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://") :]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://") :]
    return f"{base}{path}?{urlencode({'since': since})}"


def _denied(error: InvalidStatus) -> ShiplaneError:
    response = error.response
    headers = {k.lower(): v for k, v in response.headers.raw_items()}
    try:
        body: Any = json.loads(response.body or b"")
    except ValueError:
        body = (response.body or b"").decode(errors="replace")
    return error_from_parts(response.status_code, body, headers)


class _Cursor:
    """The resume point and the reconnection budget of one stream."""

    def __init__(self, since: int, max_reconnects: int, backoff: float) -> None:
        self.since = since
        self.max_reconnects = max_reconnects
        self.backoff = backoff
        self.failures = 0
        self.reconnects = 0
        self.last_error: BaseException | None = None

    def accept(self, raw: str | bytes) -> tuple[dict[str, Any] | None, bool]:
        """(the message to yield or None for a duplicate, whether the stream ended)."""
        message = json.loads(raw)
        if not isinstance(message, dict):
            return None, False
        self.failures = 0
        seq = message.get("seq")
        if message.get("type") == "event" and isinstance(seq, int):
            if seq <= self.since:
                return None, False  # already seen (a replay overlapping what we had)
            self.since = seq
        return message, message.get("type") == "end"

    def failed(self, error: BaseException) -> float:
        """Seconds to wait before reconnecting; raises when the budget is spent or the refusal is final."""
        if isinstance(error, InvalidStatus):
            denied = _denied(error)
            if denied.status not in RETRYABLE:
                raise denied from None
            error = denied
        self.last_error = error
        self.failures += 1
        if self.failures > self.max_reconnects:
            raise StreamError(
                f"stream lost and not reopened after {self.max_reconnects} attempts (since={self.since}): {error}",
                code="STREAM_LOST",
            ) from error
        self.reconnects += 1
        return float(min(self.backoff * 2 ** (self.failures - 1), 5.0))


def iter_stream(
    server: str,
    path: str,
    headers: Mapping[str, str],
    *,
    since: int = 0,
    max_reconnects: int = 5,
    backoff: float = 0.2,
    open_timeout: float = 30.0,
) -> Iterator[dict[str, Any]]:
    """Yield the stream's messages (events, statuses, and the final ``end``), reconnecting from ``since``."""
    cursor = _Cursor(since, max_reconnects, backoff)
    while True:
        try:
            with sync_connect(
                ws_url(server, path, cursor.since),
                additional_headers=dict(headers),
                subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                open_timeout=open_timeout,
                max_size=2**24,
            ) as websocket:
                for raw in websocket:
                    message, ended = cursor.accept(raw)
                    if message is not None:
                        yield message
                    if ended:
                        return
            # Closed without its end message: reopen from the last seq.
            wait = cursor.failed(ConnectionError("the server closed the stream before its end"))
        except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as exc:
            wait = cursor.failed(exc)
        time.sleep(wait)


async def aiter_stream(
    server: str,
    path: str,
    headers: Mapping[str, str],
    *,
    since: int = 0,
    max_reconnects: int = 5,
    backoff: float = 0.2,
    open_timeout: float = 30.0,
) -> AsyncIterator[dict[str, Any]]:
    """The async twin of :func:`iter_stream`."""
    cursor = _Cursor(since, max_reconnects, backoff)
    while True:
        try:
            async with async_connect(
                ws_url(server, path, cursor.since),
                additional_headers=dict(headers),
                subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                open_timeout=open_timeout,
                max_size=2**24,
            ) as websocket:
                async for raw in websocket:
                    message, ended = cursor.accept(raw)
                    if message is not None:
                        yield message
                    if ended:
                        return
            wait = cursor.failed(ConnectionError("the server closed the stream before its end"))
        except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as exc:
            wait = cursor.failed(exc)
        await asyncio.sleep(wait)
