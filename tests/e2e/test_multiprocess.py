"""Three real ``shiplane serve`` processes on one database, hit concurrently.

On SQLite the three processes share one database file (WAL, ``BEGIN IMMEDIATE``,
busy timeout); on PostgreSQL one database (row locks, unique keys, compare-and-set).
Either way races must end in clean answers: one winner and 409s, never a 500 or
"database is locked", and an audit chain without gaps.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from shiplane.platform.jwt import mint_token
from shiplane.platform.settings import Settings

from tests import openapi_conformance
from tests.conftest import make_database, run_sql
from tests.servers import Server, production_env, run_cli, running_servers

pytestmark = pytest.mark.slow

SECRET = "multiprocess-secret-" + "m" * 40
ENCRYPTION_KEY = "multiprocess-encryption-key-" + "k" * 20
BASE = "/api/v1/environments"
REQUEST_TIMEOUT = 60.0  # per request: generous, so a queued writer is never cut off


@dataclass
class Cluster:
    url: str
    servers: list[Server]
    workdir: Path
    env: dict[str, str]

    def token(self, tenant_id: str, user_id: str = "e2e-admin") -> str:
        settings = Settings(auth_hs_secret=SECRET)
        return mint_token(settings, user_id=user_id, tenant_id=tenant_id, roles=["admin"], lifetime_seconds=3600)

    def logs(self) -> str:
        return "\n".join(f"--- {s.url} ---\n{s.output()[-3000:]}" for s in self.servers)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("multiprocess")
    for url in make_database(tmp):
        # Production mode: explicit secrets, no auto-migration (the DB is migrated once above).
        env = production_env(url, tmp / "data", SECRET, ENCRYPTION_KEY)
        with running_servers(3, env, tmp / "servers") as servers:
            yield Cluster(url, servers, tmp, env)
        # The processes are stopped before the database is dropped.


def fire(cluster: Cluster, count: int, request: Callable[[httpx.Client, int], httpx.Response]) -> list[httpx.Response]:
    """``count`` requests at once, spread round-robin over the servers, one thread each."""
    clients = [httpx.Client(base_url=s.url, timeout=REQUEST_TIMEOUT) for s in cluster.servers]
    try:
        # Warm one connection per client so the burst is not serialised behind connects.
        for client in clients:
            assert client.get("/healthz").status_code == 200
        targets = list(itertools.islice(itertools.cycle(clients), count))
        with ThreadPoolExecutor(max_workers=count) as pool:
            futures = [pool.submit(request, targets[i], i) for i in range(count)]
            return [f.result(timeout=REQUEST_TIMEOUT * 2) for f in futures]
    finally:
        for client in clients:
            client.close()


def assert_clean(responses: list[httpx.Response], cluster: Cluster) -> None:
    for response in responses:
        assert response.status_code < 500, f"{response.status_code} {response.text}\n{cluster.logs()}"
        assert "database is locked" not in response.text.lower()
        assert response.json()["meta"]["requestId"] == response.headers["x-request-id"]
    for server in cluster.servers:
        assert server.process.poll() is None, server.output()
        log = server.output()
        assert "database is locked" not in log.lower(), log
        assert "unhandled error" not in log, log  # what the pipeline logs for every 500


def codes(responses: list[httpx.Response]) -> Counter[tuple[int, str | None]]:
    out: Counter[tuple[int, str | None]] = Counter()
    for r in responses:
        body = r.json()
        out[(r.status_code, None if body["success"] else body["error"]["code"])] += 1
    return out


def headers(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def new_tenant() -> str:
    return f"mp-{uuid.uuid4().hex[:10]}"


def environments(cluster: Cluster, tenant: str) -> list[Any]:
    return run_sql(
        cluster.url, "SELECT id, name, version FROM environments WHERE tenant_id = :t ORDER BY name", {"t": tenant}
    )


def audit_sequences(cluster: Cluster, tenant: str) -> list[int]:
    rows = run_sql(
        cluster.url, "SELECT sequence FROM audit_events WHERE tenant_id = :t ORDER BY sequence", {"t": tenant}
    )
    return [r.sequence for r in rows]


def verify(cluster: Cluster, *extra: str) -> str:
    result = run_cli(["audit", "verify", *extra], cluster.env, cluster.workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: "), result.stdout
    return result.stdout


def test_the_servers_share_one_database(cluster: Cluster) -> None:
    tenant = new_tenant()
    token = cluster.token(tenant)
    first, second, third = cluster.servers
    created = httpx.post(f"{first.url}{BASE}", json={"name": "shared"}, headers=headers(token), timeout=30)
    assert created.status_code == 201, created.text
    env_id = created.json()["data"]["id"]
    for server in (second, third):
        response = httpx.get(f"{server.url}{BASE}/{env_id}", headers=headers(token), timeout=30)
        assert response.status_code == 200, response.text
        ready = httpx.get(f"{server.url}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
    assert len({s.pid for s in cluster.servers}) == 3


def test_concurrent_creates_with_one_name_have_exactly_one_winner(cluster: Cluster) -> None:
    tenant = new_tenant()
    token = cluster.token(tenant)

    def create(client: httpx.Client, _i: int) -> httpx.Response:
        return client.post(BASE, json={"name": "contested"}, headers=headers(token))

    responses = fire(cluster, 30, create)
    assert_clean(responses, cluster)
    assert codes(responses) == Counter({(201, None): 1, (409, "ALREADY_EXISTS"): 29}), codes(responses)
    rows = environments(cluster, tenant)
    assert [r.name for r in rows] == ["contested"]
    winner = next(r for r in responses if r.status_code == 201)
    assert winner.json()["data"]["id"] == rows[0].id
    # Only the winning change was audited; the refusals left no gap and no event.
    assert audit_sequences(cluster, tenant) == [1]
    verify(cluster, "--tenant", tenant)


def test_concurrent_distinct_creates_all_succeed_with_a_gapless_chain(cluster: Cluster) -> None:
    tenant = new_tenant()
    token = cluster.token(tenant)
    count = 60

    def create(client: httpx.Client, i: int) -> httpx.Response:
        return client.post(BASE, json={"name": f"env-{i:03d}"}, headers=headers(token))

    responses = fire(cluster, count, create)
    assert_clean(responses, cluster)
    assert codes(responses) == Counter({(201, None): count}), codes(responses)
    assert len(environments(cluster, tenant)) == count
    assert audit_sequences(cluster, tenant) == list(range(1, count + 1))

    # The API shows the same chain, each link pointing at the one before.
    listed = httpx.get(
        f"{cluster.servers[1].url}/api/v1/audit-events",
        params={"sort": "sequence", "pageSize": 100},
        headers=headers(token),
        timeout=30,
    ).json()["data"]
    assert [e["sequence"] for e in listed] == list(range(1, count + 1))
    assert all(listed[i]["prevHash"] == listed[i - 1]["hash"] for i in range(1, count))
    assert {e["resourceId"] for e in listed} == {r.json()["data"]["id"] for r in responses}

    output = verify(cluster, "--tenant", tenant)
    assert f"{count} event(s)" in output
    verify(cluster)  # every tenant's chain, the other tests' included


def test_concurrent_updates_with_one_if_match_have_exactly_one_winner(cluster: Cluster) -> None:
    tenant = new_tenant()
    token = cluster.token(tenant)
    created = httpx.post(f"{cluster.servers[0].url}{BASE}", json={"name": "target"}, headers=headers(token), timeout=30)
    assert created.status_code == 201, created.text
    env_id = created.json()["data"]["id"]

    def replace(client: httpx.Client, i: int) -> httpx.Response:
        body = {"name": "target", "description": f"writer {i}"}
        return client.put(f"{BASE}/{env_id}", json=body, headers=headers(token, **{"If-Match": '"1"'}))

    responses = fire(cluster, 20, replace)
    assert_clean(responses, cluster)
    assert codes(responses) == Counter({(200, None): 1, (409, "VERSION_CONFLICT"): 19}), codes(responses)
    winner = next(r for r in responses if r.status_code == 200)
    assert winner.headers["etag"] == '"2"'
    stored = httpx.get(f"{cluster.servers[2].url}{BASE}/{env_id}", headers=headers(token), timeout=30).json()["data"]
    assert stored["version"] == 2
    assert stored["description"] == winner.json()["data"]["description"]
    assert audit_sequences(cluster, tenant) == [1, 2]
    verify(cluster, "--tenant", tenant)


def test_concurrent_retries_with_one_idempotency_key_create_once(cluster: Cluster) -> None:
    tenant = new_tenant()
    token = cluster.token(tenant)
    key = f"key-{uuid.uuid4()}"

    def create(client: httpx.Client, _i: int) -> httpx.Response:
        return client.post(
            BASE, json={"name": "once", "description": "retried"}, headers=headers(token, **{"Idempotency-Key": key})
        )

    responses = fire(cluster, 12, create)
    assert_clean(responses, cluster)
    assert codes(responses) == Counter({(201, None): 12}), codes(responses)
    ids = {r.json()["data"]["id"] for r in responses}
    assert len(ids) == 1
    assert sum(1 for r in responses if r.headers.get("idempotent-replayed") == "true") == 11
    rows = environments(cluster, tenant)
    assert [(r.id, r.name) for r in rows] == [(ids.pop(), "once")]
    assert audit_sequences(cluster, tenant) == [1]
    verify(cluster, "--tenant", tenant)


def test_a_plugin_disabled_through_one_process_shows_disabled_in_the_others(cluster: Cluster) -> None:
    """Each process caches a tenant's plugin decisions; a change reaches the others through the outbox."""
    import time

    tenant = new_tenant()
    token = cluster.token(tenant)
    first, *others = [s.url for s in cluster.servers]
    gate = {"type": "release-not-deprecated"}
    created = httpx.post(f"{first}{BASE}", json={"name": "prod", "gates": [gate]}, headers=headers(token), timeout=30)
    assert created.status_code == 201, created.text
    path = f"{BASE}/{created.json()['data']['id']}"

    def gate_problem(url: str) -> Any:
        response = httpx.get(f"{url}{path}", headers=headers(token), timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["data"]["gates"][0].get("problem")

    assert all(gate_problem(url) is None for url in others)  # cached as enabled everywhere
    disabled = httpx.post(f"{first}/api/v1/plugins/builtin/disable", headers=headers(token), timeout=30)
    assert disabled.status_code == 200, disabled.text
    assert gate_problem(first)["code"] == "PLUGIN_DISABLED"
    deadline = time.monotonic() + 15  # the default poll is 1 s
    for url in others:
        while gate_problem(url) is None:
            assert time.monotonic() < deadline, f"{url} never saw the disable:\n{cluster.logs()}"
            time.sleep(0.2)
        assert gate_problem(url)["code"] == "PLUGIN_DISABLED"


def test_twenty_approvals_across_three_servers_start_exactly_one_deployment(cluster: Cluster) -> None:
    from tests.api.releases import Repo

    tenant = f"approvals-{uuid.uuid4().hex[:8]}"
    admin = {"Authorization": f"Bearer {cluster.token(tenant)}"}
    base = cluster.servers[0].url

    def call(method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{base}{path}", headers=admin, timeout=REQUEST_TIMEOUT, **kwargs)
        openapi_conformance.check(None, method, response)  # held to the OpenAPI document
        assert response.status_code < 300, response.text
        return response.json()["data"] if response.content else None

    repo = Repo(cluster.workdir / f"repo-{tenant}")
    repo.commit()
    repo.tag("v1.0.0")
    integration = call(
        "POST", "/api/v1/integrations", json={"name": "git", "typeId": "git", "config": {"url": str(repo.path)}}
    )
    component = call(
        "POST", "/api/v1/components", json={"name": "api", "integrationId": integration["id"], "reference": "."}
    )
    call("POST", f"/api/v1/components/{component['id']}/sync-versions")
    release = call(
        "POST",
        "/api/v1/releases",
        json={"name": "r1", "components": [{"componentId": component["id"], "version": "v1.0.0"}], "state": "ready"},
    )
    policy = call("POST", "/api/v1/approval-policies", json={"name": "two", "requiredApprovals": 2})
    env = call("POST", BASE, json={"name": "prod", "approvalPolicyId": policy["id"]})
    promotion = call("POST", "/api/v1/promotions", json={"releaseId": release["id"], "environmentId": env["id"]})
    assert promotion["state"] == "awaiting_approval"

    settings = Settings(auth_hs_secret=SECRET)
    tokens = [
        mint_token(settings, user_id=f"approver-{i}", tenant_id=tenant, roles=["approver"], lifetime_seconds=3600)
        for i in range(20)
    ]

    def approve(client: httpx.Client, index: int) -> httpx.Response:
        return client.post(
            f"/api/v1/promotions/{promotion['id']}/approve",
            json={"comment": f"ok {index}"},
            headers={"Authorization": f"Bearer {tokens[index]}"},
        )

    responses = fire(cluster, 20, approve)
    assert_clean(responses, cluster)
    codes = Counter(r.status_code for r in responses)
    assert set(codes) <= {200, 409} and codes[200] >= 2, codes
    deadline = time.monotonic() + 120
    while (current := call("GET", f"/api/v1/promotions/{promotion['id']}"))["state"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, current
        time.sleep(0.2)
    assert current["state"] == "succeeded", current
    jobs = call("GET", "/api/v1/deployment-jobs", params={"filter": json.dumps({"promotionId": promotion["id"]})})
    assert len(jobs) == 1, jobs
    runs = call("GET", "/api/v1/workflow-runs", params={"pageSize": 100})
    assert [r["context"].get("promotionId") for r in runs].count(promotion["id"]) == 1


def test_service_account_tokens_from_one_process_work_in_all_and_a_revocation_holds_at_once(cluster: Cluster) -> None:
    """Tokens issued concurrently by three processes (one key), each verified by every
    process; a revocation through one process refuses the token in all of them at once
    (no cache to wait for)."""
    tenant = new_tenant()
    admin = cluster.token(tenant)
    first = cluster.servers[0].url
    made = httpx.post(
        f"{first}/api/v1/service-accounts", json={"name": "ci", "roles": ["viewer"]}, headers=headers(admin), timeout=30
    )
    assert made.status_code == 201, made.text
    client_id, secret = made.json()["data"]["clientId"], made.json()["data"]["clientSecret"]

    def issue(client: httpx.Client, _i: int) -> httpx.Response:
        return client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))

    answers = fire(cluster, 9, issue)
    assert [a.status_code for a in answers] == [200] * 9, [a.text for a in answers if a.status_code != 200]
    tokens = [a.json()["access_token"] for a in answers]
    for access in tokens[:3]:
        for server in cluster.servers:
            assert httpx.get(f"{server.url}{BASE}", headers=headers(access), timeout=30).status_code == 200
    events = httpx.get(
        f"{first}/api/v1/audit-events",
        params={"pageSize": 100, "filter": json.dumps({"action": "service_account.token_issued"})},
        headers=headers(admin),
        timeout=30,
    )
    assert events.status_code == 200 and events.json()["meta"]["pagination"]["totalItems"] == 9, events.text

    revoked = httpx.post(f"{first}/api/v1/service-accounts/{client_id}/revoke", headers=headers(admin), timeout=30)
    assert revoked.status_code == 200, revoked.text
    for server in cluster.servers:
        refused = httpx.get(f"{server.url}{BASE}", headers=headers(tokens[0]), timeout=30)
        assert refused.status_code == 401, (server.url, refused.text)
        again = httpx.post(
            f"{server.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=30
        )
        assert again.status_code == 401 and again.json()["error"] == "invalid_client"
