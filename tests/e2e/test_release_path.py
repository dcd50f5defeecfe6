"""The whole path, end to end: versions synced from a real registry (Debian's
``docker-registry``), sealed releases, a promotion to dev (no approval), then to prod
(a freeze window blocks it until it ends, then two approvals, the requester refused),
the deployment to a ``local`` target whose deploy command starts a small HTTP service
reporting its version, the sticker and drift, and a rollback that brings the old version
back. A real ``shiplane serve`` and a real agent process."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from shiplane.evidence.dsse import public_keys, verify_envelope, verify_sticker
from shiplane.platform.jwt import mint_token
from shiplane.platform.settings import Settings

from tests import openapi_conformance
from tests.api.agents import test_script_tasks as scripts
from tests.api.agents.test_script_tasks import SECRET, Stack
from tests.oci_registry import Registry, start_registry, unavailable_reason

pytestmark = pytest.mark.slow

stack = scripts.stack  # the fixture: a server and real agents
PASSWORD = "registry-password-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    running = start_registry(tmp_path_factory.mktemp("registry"), auth="htpasswd", users={"shiplane": PASSWORD})
    try:
        yield running
    finally:
        running.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ok(response: Any, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"] if response.content else None


def as_user(stack: Stack, user: str, roles: list[str]) -> dict[str, str]:
    token = mint_token(
        Settings(auth_hs_secret=SECRET), user_id=user, tenant_id=stack.tenant, roles=roles, lifetime_seconds=3600
    )
    return {"Authorization": f"Bearer {token}"}


def until(check: Any, what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_from_registry_to_prod_and_back(stack: Stack, registry: Registry, tmp_path: Path) -> None:
    def call(method: str, path: str, status: int = 200, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        if headers is None:
            return ok(stack.call(method, path, **kwargs), status)
        response = httpx.request(method, f"{stack.server.url}{path}", headers=headers, timeout=60, **kwargs)
        openapi_conformance.check(None, method, response)  # held to the OpenAPI document
        assert response.status_code == status, response.text
        return response.json()["data"] if response.content else None

    registry.push_image("shop/api", "1.0.0")
    registry.push_image("shop/api", "1.1.0")
    integration = call(
        "POST",
        "/api/v1/integrations",
        201,
        json={"name": "registry", "typeId": "oci-registry", "config": registry.config()},
    )
    component = call(
        "POST",
        "/api/v1/components",
        201,
        json={"name": "api", "integrationId": integration["id"], "reference": "shop/api"},
    )
    synced = call("POST", f"/api/v1/components/{component['id']}/sync-versions")
    assert sorted(v["tag"] for v in synced["added"]) == ["1.0.0", "1.1.0"]
    releases = {}
    for tag in ("1.0.0", "1.1.0"):
        body = {
            "name": f"shop-{tag}",
            "components": [{"componentId": component["id"], "version": tag}],
            "state": "ready",
        }
        releases[tag] = call("POST", "/api/v1/releases", 201, json=body)
        assert releases[tag]["components"][0]["digest"].startswith("sha256:")

    dev = call("POST", "/api/v1/environments", 201, json={"name": "path-dev", "displayName": "Dev", "order": 50})
    policy = call(
        "POST",
        "/api/v1/approval-policies",
        201,
        json={"name": "prod-two", "requiredApprovals": 2, "approverRoles": ["approver"]},
    )
    prod = call(
        "POST",
        "/api/v1/environments",
        201,
        json={
            "name": "path-prod",
            "displayName": "Prod",
            "order": 51,
            "isProduction": True,
            "gates": [{"type": "pipeline-order"}, {"type": "freeze-window"}],
            "approvalPolicyId": policy["id"],
        },
    )
    ports = {}
    for env, name in ((dev, "svc-dev"), (prod, "svc-prod")):
        ports[name] = free_port()
        command = [
            "sh",
            "-c",
            "kill $(cat svc.pid 2>/dev/null) 2>/dev/null; echo {components.api.version} > version.txt; "
            f"nohup python3 -m http.server {ports[name]} --bind 127.0.0.1 > svc.log 2>&1 & echo $! > svc.pid",
        ]
        config = {
            "directory": str(tmp_path / name),
            "deployCommand": command,
            "healthCheck": {"http": {"url": f"http://127.0.0.1:{ports[name]}/version.txt"}},
        }
        call(
            "POST",
            "/api/v1/targets",
            201,
            json={
                "name": name,
                "environmentId": env["id"],
                "type": "local",
                "config": config,
                "agentId": stack.agent_id,
            },
        )

    def served(name: str) -> str:
        def read() -> str | None:
            try:
                return httpx.get(f"http://127.0.0.1:{ports[name]}/version.txt", timeout=2).text.strip()
            except httpx.HTTPError:
                return None

        return str(until(read, f"{name} serving"))

    def promoted(promotion_id: str, states: tuple[str, ...] = ("succeeded", "failed", "rolled_back")) -> Any:
        return until(
            lambda: (p := call("GET", f"/api/v1/promotions/{promotion_id}"))["state"] in states and p,
            f"promotion {promotion_id} in {states}",
        )

    requester = as_user(stack, "rm-ana", ["release-manager", "approver"])
    approvers = [as_user(stack, f"approver-{i}", ["approver"]) for i in (1, 2)]
    try:
        # Dev: no gates, no approval.
        for tag in ("1.0.0", "1.1.0"):
            promotion = call(
                "POST",
                "/api/v1/promotions",
                201,
                headers=requester,
                json={"releaseId": releases[tag]["id"], "environmentId": dev["id"]},
            )
            assert promoted(promotion["id"])["state"] == "succeeded"
            assert served("svc-dev") == tag

        # Prod, 1.0.0: two approvals, then deployed.
        first = call(
            "POST",
            "/api/v1/promotions",
            201,
            headers=requester,
            json={"releaseId": releases["1.0.0"]["id"], "environmentId": prod["id"]},
        )
        assert first["state"] == "awaiting_approval"
        for approver in approvers:
            call("POST", f"/api/v1/promotions/{first['id']}/approve", headers=approver, json={})
        assert promoted(first["id"])["state"] == "succeeded"
        assert served("svc-prod") == "1.0.0"

        # Prod, 1.1.0: a freeze window blocks it; it moves on by itself when the window ends.
        now = datetime.now(UTC)
        window = {
            "startsAt": (now - timedelta(minutes=1)).isoformat(),
            "endsAt": (now + timedelta(seconds=3)).isoformat(),
            "reason": "launch day",
        }
        call("POST", f"/api/v1/environments/{prod['id']}/freeze-windows", 201, json=window)
        blocked = httpx.post(
            f"{stack.server.url}/api/v1/promotions",
            headers=requester,
            json={"releaseId": releases["1.1.0"]["id"], "environmentId": prod["id"], "reason": "the fix"},
            timeout=60,
        )
        assert blocked.status_code == 422, blocked.text
        error = blocked.json()["error"]
        assert error["code"] == "PROMOTION_BLOCKED" and [g["type"] for g in error["details"]["gates"]] == [
            "freeze-window"
        ]
        second_id = error["details"]["promotionId"]
        promoted(second_id, ("awaiting_approval",))
        refused = httpx.post(
            f"{stack.server.url}/api/v1/promotions/{second_id}/approve", headers=requester, json={}, timeout=60
        )
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "SELF_APPROVAL_FORBIDDEN"
        for approver in approvers:
            call("POST", f"/api/v1/promotions/{second_id}/approve", headers=approver, json={"comment": "checked"})
        done = promoted(second_id)
        assert done["state"] == "succeeded", done
        assert served("svc-prod") == "1.1.0"
        decision = call("GET", f"/api/v1/promotions/{second_id}/decision")
        assert {g["type"]: g["status"] for g in decision["gates"]} == {
            "pipeline-order": "pass",
            "freeze-window": "pass",
            "approval-policy": "pass",
        }
        targets = {t["name"]: t for t in call("GET", "/api/v1/targets")}
        prod_target = targets["svc-prod"]["id"]
        sticker = call("GET", f"/api/v1/targets/{prod_target}/sticker")["sticker"]
        assert sticker["release"]["id"] == releases["1.1.0"]["id"]
        assert sticker["components"][0]["digest"] == releases["1.1.0"]["components"][0]["digest"]
        assert call("GET", f"/api/v1/targets/{prod_target}/drift")["status"] == "in_sync"
        # The sticker read back from the target is the one the server signed and keeps.
        published = public_keys(call("GET", "/api/v1/signing-keys"))
        assert verify_sticker(sticker, published) == sticker["signature"]["keyId"]
        current = {"targetId": prod_target, "current": True}
        [kept] = call("GET", "/api/v1/version-stickers", params={"filter": json.dumps(current)})
        assert kept["sticker"] == sticker and kept["releaseId"] == releases["1.1.0"]["id"]
        assert kept["manifestDigest"] == releases["1.1.0"]["manifestDigest"] and kept["actor"] == sticker["actor"]
        assert call("GET", f"/api/v1/version-stickers/{kept['id']}") == kept
        # The promotion's evidence: its decision (gates, two approvals) and its deployment.
        packets = call("GET", f"/api/v1/promotions/{second_id}/evidence")
        assert [(p["kind"], p["outcome"]) for p in packets] == [
            ("promotion-decision", "approved"),
            ("deployment-outcome", "succeeded"),
        ]
        decided = packets[0]["statement"]["predicate"]
        assert len(decided["approvals"]) == 2 and decided["separationOfDuties"]["requesterDecided"] is False
        outcome = packets[1]["statement"]["predicate"]
        assert [t["targetName"] for t in outcome["tasks"]] == ["svc-prod"]
        assert outcome["stickers"][0]["signature"] == sticker["signature"]
        for packet in packets:
            envelope = stack.call("GET", f"/api/v1/evidence-packets/{packet['id']}/download").json()
            assert verify_envelope(envelope, published).statement == packet["statement"]

        # Roll prod back: the old version serves again.
        rollback = call(
            "POST",
            "/api/v1/rollbacks",
            201,
            headers=requester,
            json={"environmentId": prod["id"], "reason": "errors up"},
        )
        assert rollback["releaseId"] == releases["1.0.0"]["id"]
        until(lambda: call("GET", f"/api/v1/deployment-jobs/{rollback['id']}")["state"] == "succeeded", "the rollback")
        assert served("svc-prod") == "1.0.0"
        assert call("GET", f"/api/v1/promotions/{second_id}")["state"] == "rolled_back"
        assert call("GET", f"/api/v1/environments/{prod['id']}")["currentReleaseId"] == releases["1.0.0"]["id"]
        [now] = call("GET", "/api/v1/version-stickers", params={"filter": json.dumps(current)})
        assert now["releaseId"] == releases["1.0.0"]["id"] and now["deploymentJobId"] == rollback["id"]
        assert call("GET", f"/api/v1/version-stickers/{kept['id']}")["current"] is False
        history = call("GET", "/api/v1/version-stickers", params={"filter": json.dumps({"targetId": prod_target})})
        old, new = releases["1.0.0"]["id"], releases["1.1.0"]["id"]
        assert [h["releaseId"] for h in history] == [old, new, old]  # newest first
        assert [h["current"] for h in history] == [True, False, False]
        assert PASSWORD not in json.dumps(call("GET", "/api/v1/audit-events", params={"pageSize": 100}))
    finally:
        for name in ports:
            pidfile = tmp_path / name / "svc.pid"
            if pidfile.exists():
                try:
                    os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
                except (OSError, ValueError):
                    pass
