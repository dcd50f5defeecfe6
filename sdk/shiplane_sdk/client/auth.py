"""Service-account credentials: the OAuth 2.0 client-credentials grant at ``POST /oauth/token``.

``ClientCredentials`` is an ``httpx.Auth``: before the first request (and again shortly
before the token expires, or once after a 401) it exchanges the service account's id and
secret (HTTP Basic, RFC 6749 §2.3.1) for a short-lived access token, and sends that as
the bearer token. The secret itself is never sent to ``/api/v1``.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Generator
from typing import Any
from urllib.parse import quote_plus

import httpx

from shiplane_sdk.client.errors import ShiplaneError, error_class

TOKEN_PATH = "/oauth/token"
#: Fetch a new token this many seconds before the current one expires.
REFRESH_MARGIN = 30.0


class ClientCredentials(httpx.Auth):
    requires_response_body = True

    def __init__(self, server: str, client_id: str, client_secret: str) -> None:
        self.token_url = server.rstrip("/") + TOKEN_PATH
        self.client_id = client_id
        self._secret = client_secret
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r})"

    def token_request(self) -> httpx.Request:
        # RFC 6749 §2.3.1: both form-urlencoded, then HTTP Basic.
        pair = f"{quote_plus(self.client_id)}:{quote_plus(self._secret)}".encode()
        return httpx.Request(
            "POST",
            self.token_url,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": "Basic " + base64.b64encode(pair).decode(), "Accept": "application/json"},
        )

    def _store(self, response: httpx.Response) -> str:
        try:
            body: Any = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            error = str(body.get("error") or "token_refused") if isinstance(body, dict) else "token_refused"
            description = body.get("error_description") if isinstance(body, dict) else None
            raise error_class(response.status_code, error.upper())(
                f"{TOKEN_PATH}: {description or response.text[:200]}",
                code=error.upper(),
                status=response.status_code,
                request_id=(body.get("request_id") if isinstance(body, dict) else None),
                headers={k.lower(): v for k, v in response.headers.items()},
            )
        with self._lock:
            self._token = str(body["access_token"])
            self._expires = time.monotonic() + float(body.get("expires_in") or 300)
        return self._token

    def current(self) -> str | None:
        with self._lock:
            if self._token and time.monotonic() < self._expires - REFRESH_MARGIN:
                return self._token
        return None

    def token(self) -> str:
        """A valid access token (fetched with a short-lived client when needed)."""
        current = self.current()
        if current:
            return current
        with httpx.Client(timeout=30) as http:
            return self._store(http.send(self.token_request()))

    async def atoken(self) -> str:
        current = self.current()
        if current:
            return current
        async with httpx.AsyncClient(timeout=30) as http:
            return self._store(await http.send(self.token_request()))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.current()
        if token is None:
            token = self._store((yield self.token_request()))
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            # Revoked keys, a rotated signing key, a clock skew: one fresh token, once.
            token = self._store((yield self.token_request()))
            request.headers["Authorization"] = f"Bearer {token}"
            yield request


__all__ = ["ClientCredentials", "ShiplaneError"]
