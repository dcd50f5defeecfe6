"""Every /api/v1 route, found by walking the app: 401 without a token, 403 without the
permission. A new endpoint is covered the day it is added, and a route that forgets
its permission check fails here."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from tests.conftest import CallerFactory, assert_error

# Routes any authenticated caller may use whatever their roles (none yet).
OPEN_TO_ANY_TOKEN: set[tuple[str, str]] = set()


def api_routes(client: TestClient) -> list[tuple[str, str]]:
    # The OpenAPI document lists every route, however routers are nested.
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    found = []
    for path, operations in paths.items():
        if path.startswith("/api/v1"):
            found.extend((method.upper(), path) for method in operations if method not in ("head", "options"))
    return sorted(found)


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)


def test_the_matrix_sees_the_modules(client: TestClient) -> None:
    routes = api_routes(client)
    assert len(routes) >= 21
    paths = {path for _, path in routes}
    for expected in ("/api/v1/environments", "/api/v1/plugins", "/api/v1/plugin-instances", "/api/v1/audit-events"):
        assert expected in paths


def test_every_route_without_a_token_is_401(client: TestClient) -> None:
    for method, path in api_routes(client):
        response = client.request(method, concrete(path), json={})
        while response.status_code == 429:
            # Unauthenticated calls share one bucket per address (burst 100): more routes
            # than that wait for it, as a client would.
            time.sleep(float(response.headers.get("Retry-After", "1")))
            response = client.request(method, concrete(path), json={})
        assert_error(response, 401, "UNAUTHORIZED")


def test_every_route_with_a_token_but_no_permission_is_403(client: TestClient, make_caller: CallerFactory) -> None:
    nobody = make_caller([])
    for method, path in api_routes(client):
        if (method, path) in OPEN_TO_ANY_TOKEN:
            continue
        headers = {"Authorization": f"Bearer {nobody.token}"}
        response = client.request(method, concrete(path), json={}, headers=headers)
        while response.status_code == 429:  # more routes than one caller's burst: wait, as a client would
            time.sleep(float(response.headers.get("Retry-After", "1")))
            response = client.request(method, concrete(path), json={}, headers=headers)
        assert_error(response, 403, "FORBIDDEN")


@pytest.mark.parametrize("role", ["viewer", "developer", "approver", "release-manager"])
def test_non_admins_cannot_change_admin_resources(client: TestClient, make_caller: CallerFactory, role: str) -> None:
    caller = make_caller([role])
    for method, path in api_routes(client):
        admin_only = path.startswith(("/api/v1/environments", "/api/v1/plugin"))
        if method == "GET" or not admin_only:
            continue
        response = client.request(method, concrete(path), json={}, headers={"Authorization": f"Bearer {caller.token}"})
        assert_error(response, 403, "FORBIDDEN")
