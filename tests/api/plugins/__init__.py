"""Helpers shared by the plugin API tests.

The session-wide ``client`` fixture runs one app for the whole suite, and a plugin's
circuit breaker is per process, not per tenant. Tests that make a plugin fail on
purpose (raising, hanging, tripping the breaker) therefore build an app of their own
with ``app_client`` so they neither see nor leave breaker state in the shared app.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from shiplane.app import create_app
from shiplane.platform.auth import Principal
from shiplane.platform.jwt import mint_token
from shiplane.platform.permissions import effective_permissions
from shiplane.platform.settings import Settings
from shiplane.plugins.service import PluginService

from tests.conftest import Caller, make_settings

T = TypeVar("T")

PLUGINS = "/api/v1/plugins"
INSTANCES = "/api/v1/plugin-instances"
BUILTIN_STRATEGIES = ["ab", "all-at-once", "blue-green", "canary", "rolling"]
CAPABILITY_KEYS = {"integrationTypes", "stepTypes", "gates", "rolloutStrategies", "targetTypes", "trafficRouters"}
FAILED_PLUGINS = ("test-broken-import", "test-old-sdk", "test-misspelled")


@contextmanager
def app_client(database_url: str, data_dir: Path, **overrides: Any) -> Iterator[TestClient]:
    """A separate app (own plugin registry, guard and breakers) on the shared database.

    Event delivery is off unless asked for: these apps count a plugin's failures
    exactly, and delivering the tenant's events (plugin.enabled, ...) to a failing
    plugin's on_event would add failures of its own.
    """
    overrides.setdefault("event_delivery_enabled", False)
    settings = make_settings(database_url, data_dir, **overrides)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def caller_for(client: TestClient, roles: list[str] | None = None, tenant_id: str | None = None) -> Caller:
    """A caller of ``client``'s app, in a new tenant unless ``tenant_id`` is given."""
    settings: Settings = client.app.state.shiplane.settings  # type: ignore[attr-defined]
    tid = tenant_id or f"tenant-{uuid.uuid4().hex[:10]}"
    uid = f"user-{uuid.uuid4().hex[:8]}"
    token = mint_token(settings, user_id=uid, tenant_id=tid, roles=roles or ["admin"])
    return Caller(client, token, tid, uid)


def principal_of(caller: Caller, roles: tuple[str, ...] = ("admin",)) -> Principal:
    return Principal(caller.user_id, caller.tenant_id, roles, effective_permissions(roles, ()), None)


def with_service(
    client: TestClient, caller: Caller, work: Callable[[PluginService], Awaitable[T]], *, write: bool = False
) -> T:
    """Run ``work`` with a ``PluginService`` of ``client``'s app for ``caller``'s tenant.

    It runs on the app's own event loop (the TestClient's portal), where its
    database engine lives, inside one session of the tenant.
    """
    services = client.app.state.shiplane  # type: ignore[attr-defined]

    async def run() -> T:
        async with services.db.session(caller.tenant_id, write=write) as session:
            service = PluginService(
                session, principal_of(caller), services.plugins, services.secret_box, services.plugin_states
            )
            return await work(service)

    assert client.portal is not None, "the TestClient must be entered (with ...) to have a portal"
    return client.portal.call(run)


def enable(caller: Caller, plugin_id: str) -> dict[str, Any]:
    response = caller.post(f"{PLUGINS}/{plugin_id}/enable")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["state"] == "enabled"
    return response.json()["data"]


def disable(caller: Caller, plugin_id: str) -> dict[str, Any]:
    response = caller.post(f"{PLUGINS}/{plugin_id}/disable")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["state"] == "disabled"
    return response.json()["data"]


def plugins_by_id(caller: Caller) -> dict[str, dict[str, Any]]:
    response = caller.get(PLUGINS, params={"pageSize": 100})
    assert response.status_code == 200, response.text
    return {p["id"]: p for p in response.json()["data"]}


def states(caller: Caller) -> dict[str, str]:
    return {plugin_id: p["state"] for plugin_id, p in plugins_by_id(caller).items()}


def audit_events(caller: Caller, **filters: Any) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"pageSize": 100}
    if filters:
        params["filter"] = json.dumps(filters)
    response = caller.get("/api/v1/audit-events", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]
