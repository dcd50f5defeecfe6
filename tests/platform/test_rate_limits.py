"""Rate limits (DESIGN §3): token buckets per (tenant, user), tiers, headers, 429,
exempt probes, and both backends (process memory and a real Redis shared by replicas).

Every test uses fresh tenants (and, for Redis, fresh key prefixes or client
addresses), so runs against the shared Redis database never see each other's
buckets. Redis is not optional: when it is down these tests fail, they do not skip.
"""

from __future__ import annotations

import asyncio
import math
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from shiplane.app import create_app
from shiplane.platform.jwt import mint_token
from shiplane.platform.ratelimit import Decision, MemoryRateLimiter, RateLimiter, RedisRateLimiter
from shiplane.platform.settings import RateTier, Settings

from tests.conftest import REDIS_URL, Caller, assert_error, make_settings, once_on_sqlite

# Buckets live in memory or Redis, not in the database.
pytestmark = once_on_sqlite("rate-limit buckets are in memory or Redis")

BASE = "/api/v1/environments"
PROBES = ("/healthz", "/readyz", "/metrics")
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "ratelimit-policy", "ratelimit")
POLICY = re.compile(r'^"(?P<name>[a-z0-9_-]+)";q=(?P<q>\d+);w=(?P<w>\d+)$')
STATE = re.compile(r'^"(?P<name>[a-z0-9_-]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')
APP_KEY_PREFIX = "shiplane:rl:"  # the prefix the server's RedisRateLimiter uses


def new_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:10]}"


def remaining(response: Any) -> int:
    return int(response.headers["x-ratelimit-remaining"])


# --- harness -------------------------------------------------------------------------


@dataclass
class App:
    """One server instance (a "replica") and a client talking to it."""

    client: TestClient
    settings: Settings

    def caller(
        self,
        *,
        tenant_id: str | None = None,
        user_id: str | None = None,
        roles: list[str] | None = None,
        tier: str | None = None,
    ) -> Caller:
        tid = tenant_id or new_id("tenant")
        uid = user_id or new_id("user")
        token = mint_token(self.settings, user_id=uid, tenant_id=tid, roles=roles or ["admin"], tier=tier)
        return Caller(self.client, token, tid, uid)


AppFactory = Callable[..., App]


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    # No skip: an unreachable Redis raises here and the test fails (CI starts Redis).
    assert client.ping()
    yield client
    client.close()


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """The ``redis_url`` to configure: None (process memory) or the test Redis."""
    if request.param == "memory":
        return None
    request.getfixturevalue("redis_client")
    return REDIS_URL


@pytest.fixture
def apps(database_url: str, tmp_path: Path) -> Iterator[AppFactory]:
    """Builds apps with their own settings; each client runs the app's lifespan."""
    with ExitStack() as stack:

        def factory(*, client_address: tuple[str, int] | None = None, **overrides: Any) -> App:
            settings = make_settings(database_url, tmp_path, **overrides)
            # A fresh client address keeps unauthenticated buckets apart across tests and runs.
            address = client_address or (f"client-{uuid.uuid4().hex}", 50000)
            client = TestClient(create_app(settings), raise_server_exceptions=False, client=address)
            stack.enter_context(client)
            return App(client, settings)

        yield factory


def assert_rate_headers(response: Any, *, tier: str, limit: int, started: float) -> dict[str, int]:
    """The legacy and IETF-draft headers are present and tell the same story."""
    finished = time.time()
    for name in RATE_HEADERS:
        assert name in response.headers, (name, response.status_code, dict(response.headers))
    values = {
        "limit": int(response.headers["x-ratelimit-limit"]),
        "remaining": int(response.headers["x-ratelimit-remaining"]),
        "reset": int(response.headers["x-ratelimit-reset"]),
    }
    assert values["limit"] == limit
    assert 0 <= values["remaining"] < limit

    policy = POLICY.match(response.headers["ratelimit-policy"])
    assert policy, response.headers["ratelimit-policy"]
    assert policy["name"] == tier
    assert int(policy["q"]) == limit
    assert int(policy["w"]) >= 1

    state = STATE.match(response.headers["ratelimit"])
    assert state, response.headers["ratelimit"]
    assert state["name"] == tier
    assert int(state["r"]) == values["remaining"]
    # t is "seconds until full", computed from the same reset timestamp while the request ran.
    assert values["reset"] - math.floor(finished) <= int(state["t"]) <= values["reset"] - math.floor(started)

    # Reset: epoch seconds when the bucket is full again, i.e. now or within one window.
    assert math.floor(started) <= values["reset"] <= finished + int(policy["w"]) + 1
    return values


# --- the app: tiers and headers ------------------------------------------------------


def test_default_tiers_and_headers(backend: str | None, apps: AppFactory) -> None:
    app = apps(redis_url=backend)
    standard = app.caller()
    premium = app.caller(tier="premium")

    started = time.time()
    response = standard.get(BASE)
    assert response.status_code == 200, response.text
    values = assert_rate_headers(response, tier="standard", limit=100, started=started)
    assert values["remaining"] == 99  # a fresh bucket minus this request
    assert response.headers["ratelimit-policy"] == '"standard";q=100;w=6'  # 100 tokens at 1000/min

    started = time.time()
    response = premium.get(BASE)
    assert response.status_code == 200, response.text
    values = assert_rate_headers(response, tier="premium", limit=500, started=started)
    assert values["remaining"] == 499
    assert response.headers["ratelimit-policy"] == '"premium";q=500;w=6'  # 500 tokens at 5000/min


def test_remaining_decreases_by_one_per_request(backend: str | None, apps: AppFactory) -> None:
    # One token a minute: nothing refills while the test runs, so the count is exact.
    app = apps(redis_url=backend, rate_limit_tiers={"standard": {"per_minute": 1, "burst": 5}})
    caller = app.caller()
    resets = []
    for expected in (4, 3, 2, 1, 0):
        started = time.time()
        response = caller.get(BASE)
        assert response.status_code == 200, response.text
        values = assert_rate_headers(response, tier="standard", limit=5, started=started)
        assert values["remaining"] == expected
        resets.append(values["reset"])
    # Each request pushes "full again" about one refill interval (60 s) further out.
    assert resets == sorted(resets)
    assert resets[-1] - resets[0] >= 4 * 60 - 2


def test_headers_on_every_response(backend: str | None, apps: AppFactory) -> None:
    app = apps(redis_url=backend)
    tenant = new_id("tenant")
    admin = app.caller(tenant_id=tenant)
    viewer = app.caller(tenant_id=tenant, roles=["viewer"])

    cases = [
        (admin.get(BASE), 200),
        (admin.post(BASE, json={"name": "staging"}), 201),
        (admin.post(BASE, json={"name": "Not A Slug!"}), 400),
        (app.client.get(BASE), 401),
        (app.client.get(BASE, headers={"Authorization": "Bearer not-a-token"}), 401),
        (viewer.post(BASE, json={"name": "prod"}), 403),
        (admin.get("/api/v1/no-such-route"), 404),
        (admin.get(f"{BASE}/{uuid.uuid4()}"), 404),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        for name in RATE_HEADERS:
            assert name in response.headers, (status, name)
        assert response.headers["x-ratelimit-limit"] == "100"
        assert response.headers["x-request-id"]


# --- the app: 429 and who shares a bucket --------------------------------------------


def test_burst_exhausted_is_429_only_for_that_tenant_and_user(backend: str | None, apps: AppFactory) -> None:
    # A tiny tier (burst 3, one token every 10 s): the 4th quick request is refused.
    app = apps(redis_url=backend, rate_limit_tiers={"standard": {"per_minute": 6, "burst": 3}})
    tenant, other_tenant = new_id("tenant"), new_id("tenant")
    alice = app.caller(tenant_id=tenant, user_id="alice")

    assert [remaining(alice.get(BASE)) for _ in range(3)] == [2, 1, 0]
    started = time.time()
    response = alice.get(BASE)
    error = assert_error(response, 429, "RATE_LIMITED")
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    assert error["details"] == {"tier": "standard", "retryAfterSeconds": retry_after}
    assert "6/min" in error["message"] and "burst 3" in error["message"]
    values = assert_rate_headers(response, tier="standard", limit=3, started=started)
    assert values["remaining"] == 0
    assert values["reset"] >= math.floor(started) + retry_after - 1

    # Refused requests never reach the handler: this create does not happen.
    assert_error(alice.post(BASE, json={"name": "blocked"}), 429, "RATE_LIMITED")

    # Another user of the same tenant has a bucket of their own...
    bob = app.caller(tenant_id=tenant, user_id="bob")
    response = bob.get(BASE)
    assert response.status_code == 200, response.text
    assert remaining(response) == 2
    assert [env["name"] for env in response.json()["data"]] == []

    # ...and so does the same user id in another tenant.
    alice_elsewhere = app.caller(tenant_id=other_tenant, user_id="alice")
    response = alice_elsewhere.get(BASE)
    assert response.status_code == 200, response.text
    assert remaining(response) == 2

    # Alice is still limited.
    assert_error(alice.get(BASE), 429, "RATE_LIMITED")


def test_a_refused_caller_passes_again_after_the_refill_time(backend: str | None, apps: AppFactory) -> None:
    # 600/min refills one token every 0.1 s.
    app = apps(redis_url=backend, rate_limit_tiers={"standard": {"per_minute": 600, "burst": 2}})
    caller = app.caller()
    refused = None
    for _ in range(50):
        response = caller.get(BASE)
        if response.status_code == 429:
            refused = response
            break
        assert response.status_code == 200, response.text
    assert refused is not None, "the burst never ran out"
    assert int(refused.headers["retry-after"]) == 1  # under 0.1 s, rounded up to whole seconds

    time.sleep(0.3)
    response = caller.get(BASE)
    assert response.status_code == 200, response.text


def test_tenant_tier_applies_when_the_token_has_no_tier(backend: str | None, apps: AppFactory) -> None:
    premium_tenant, misconfigured_tenant = new_id("tenant"), new_id("tenant")
    app = apps(
        redis_url=backend,
        tenant_tiers={premium_tenant: "premium", misconfigured_tenant: "no-such-tier"},
    )

    def first(caller: Caller) -> tuple[str, str]:
        response = caller.get(BASE)
        assert response.status_code == 200, response.text
        return response.headers["x-ratelimit-limit"], response.headers["ratelimit-policy"].split(";")[0]

    assert first(app.caller(tenant_id=premium_tenant)) == ("500", '"premium"')
    # A tier claim wins over the tenant's setting...
    assert first(app.caller(tenant_id=premium_tenant, tier="standard")) == ("100", '"standard"')
    # ...unless it names no configured tier, then the tenant's setting applies.
    assert first(app.caller(tenant_id=premium_tenant, tier="gold")) == ("500", '"premium"')
    # Tenants without a setting, or with an unknown one, are standard.
    assert first(app.caller()) == ("100", '"standard"')
    assert first(app.caller(tenant_id=misconfigured_tenant)) == ("100", '"standard"')


def test_a_tier_table_without_standard_keeps_the_builtin_standard_tier(apps: AppFactory) -> None:
    app = apps(rate_limit_tiers={"premium": {"per_minute": 60, "burst": 7}})
    response = app.caller().get(BASE)
    assert response.status_code == 200, response.text
    assert response.headers["x-ratelimit-limit"] == "100"
    response = app.caller(tier="premium").get(BASE)
    assert response.status_code == 200, response.text
    assert response.headers["x-ratelimit-limit"] == "7"


def test_probes_are_never_rate_limited(backend: str | None, apps: AppFactory) -> None:
    app = apps(redis_url=backend, rate_limit_tiers={"standard": {"per_minute": 1, "burst": 1}})
    caller = app.caller()
    for _ in range(5):
        for path in PROBES:
            for response in (app.client.get(path), caller.get(path)):
                assert response.status_code == 200, (path, response.text)
                for name in RATE_HEADERS:
                    assert name not in response.headers, (path, name)
    # The probes took nothing from the caller's bucket nor from the address's bucket.
    response = caller.get(BASE)
    assert response.status_code == 200, response.text
    assert remaining(response) == 0
    response = app.client.get(BASE)
    assert_error(response, 401, "UNAUTHORIZED")
    assert remaining(response) == 0
    # And the limit is real for everything else.
    assert_error(caller.get(BASE), 429, "RATE_LIMITED")
    assert_error(app.client.get(BASE), 429, "RATE_LIMITED")


def test_unauthenticated_calls_share_one_bucket_per_client_address(apps: AppFactory) -> None:
    app = apps(rate_limit_tiers={"standard": {"per_minute": 1, "burst": 3}}, client_address=("203.0.113.1", 40000))
    # No token, a malformed header and a bad token all draw from the address's bucket.
    assert remaining(app.client.get(BASE)) == 2
    assert remaining(app.client.get(BASE, headers={"Authorization": "Basic abc"})) == 1
    assert remaining(app.client.get(BASE, headers={"Authorization": "Bearer forged"})) == 0
    assert_error(app.client.get(BASE), 429, "RATE_LIMITED")

    # A caller with a valid token from the same address has their own bucket.
    response = app.caller().get(BASE)
    assert response.status_code == 200, response.text
    assert remaining(response) == 2

    # Another address has its own bucket too. This second client skips the lifespan
    # (the first one owns it) and calls a route that needs no database.
    neighbour = TestClient(app.client.app, raise_server_exceptions=False, client=("203.0.113.2", 40000))
    response = neighbour.get("/api/v1/no-such-route")
    assert_error(response, 404, "NOT_FOUND")
    assert remaining(response) == 2


def test_disabled_rate_limiting_sends_no_headers_and_never_refuses(apps: AppFactory) -> None:
    app = apps(rate_limit_enabled=False, rate_limit_tiers={"standard": {"per_minute": 1, "burst": 1}})
    caller = app.caller()
    for _ in range(5):
        response = caller.get(BASE)
        assert response.status_code == 200, response.text
        for name in RATE_HEADERS:
            assert name not in response.headers


def test_settings_read_rate_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPLANE_RATE_LIMIT_ENABLED", "false")
    monkeypatch.setenv("SHIPLANE_RATE_LIMIT_TIERS", '{"standard": {"per_minute": 120, "burst": 20}}')
    monkeypatch.setenv("SHIPLANE_TENANT_TIERS", '{"acme": "premium"}')
    monkeypatch.setenv("SHIPLANE_REDIS_URL", "redis://cache:6379/0")
    settings = Settings()
    assert settings.rate_limit_enabled is False
    assert settings.rate_limit_tiers == {"standard": RateTier(per_minute=120, burst=20)}
    assert settings.tenant_tiers == {"acme": "premium"}
    assert settings.redis_url == "redis://cache:6379/0"


# --- Redis: replicas share one bucket ------------------------------------------------


def test_replicas_sharing_redis_share_one_bucket(redis_client: redis.Redis, apps: AppFactory) -> None:
    tiers = {"standard": {"per_minute": 1, "burst": 4}}
    replica_a = apps(redis_url=REDIS_URL, rate_limit_tiers=tiers)
    replica_b = apps(redis_url=REDIS_URL, rate_limit_tiers=tiers)
    tenant, user = new_id("tenant"), new_id("user")
    on_a = replica_a.caller(tenant_id=tenant, user_id=user)
    on_b = replica_b.caller(tenant_id=tenant, user_id=user)

    seen = []
    for caller in (on_a, on_b, on_a, on_b):
        response = caller.get(BASE)
        assert response.status_code == 200, response.text
        seen.append(remaining(response))
    assert seen == [3, 2, 1, 0]  # one bucket of 4, not two of 4
    assert_error(on_a.get(BASE), 429, "RATE_LIMITED")
    assert_error(on_b.get(BASE), 429, "RATE_LIMITED")

    # The bucket is one Redis key that expires once it would be full anyway.
    key = f"{APP_KEY_PREFIX}u:{len(tenant)}:{tenant}:{user}"
    ttl = redis_client.ttl(key)
    assert 0 < ttl <= 4 * 60 + 60
    redis_client.delete(key)


def test_replicas_sharing_redis_share_the_per_address_bucket(redis_client: redis.Redis, apps: AppFactory) -> None:
    tiers = {"standard": {"per_minute": 1, "burst": 2}}
    address = (f"anon-test-{uuid.uuid4().hex}", 40000)
    replica_a = apps(redis_url=REDIS_URL, rate_limit_tiers=tiers, client_address=address)
    replica_b = apps(redis_url=REDIS_URL, rate_limit_tiers=tiers, client_address=address)
    elsewhere = apps(redis_url=REDIS_URL, rate_limit_tiers=tiers)  # another address

    assert remaining(replica_a.client.get(BASE)) == 1
    assert remaining(replica_b.client.get(BASE)) == 0
    assert_error(replica_a.client.get(BASE), 429, "RATE_LIMITED")
    assert_error(replica_b.client.get(BASE), 429, "RATE_LIMITED")
    response = elsewhere.client.get(BASE)
    assert_error(response, 401, "UNAUTHORIZED")
    assert remaining(response) == 1
    redis_client.delete(f"{APP_KEY_PREFIX}anon:{address[0]}")


def test_an_unreachable_redis_falls_back_to_per_process_buckets(apps: AppFactory) -> None:
    with socket.socket() as sock:  # a port nothing listens on once this socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = apps(redis_url=f"redis://127.0.0.1:{port}/15", rate_limit_tiers={"standard": {"per_minute": 1, "burst": 3}})
    caller = app.caller()
    first = caller.get(BASE)
    assert first.status_code == 200
    assert app.client.app.state.shiplane.rate_limiter.degraded is True  # type: ignore[attr-defined]
    # The limit still holds, counted in this process alone.
    statuses = [caller.get(BASE).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert app.client.get("/healthz").status_code == 200


# --- the limiters themselves, on both backends --------------------------------------


@pytest.fixture(params=["memory", "redis"])
def make_limiter(request: pytest.FixtureRequest) -> Iterator[Callable[[], RateLimiter]]:
    """Builds a limiter inside the running event loop (Redis connections belong to one loop)."""
    if request.param == "memory":
        yield MemoryRateLimiter
        return
    client: redis.Redis = request.getfixturevalue("redis_client")
    prefix = f"shiplane-test:{uuid.uuid4().hex}:"
    yield lambda: RedisRateLimiter(REDIS_URL, prefix=prefix)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)


def run_with(make_limiter: Callable[[], RateLimiter], scenario: Callable[[RateLimiter], Any]) -> Any:
    async def main() -> Any:
        limiter = make_limiter()
        try:
            return await scenario(limiter)
        finally:
            await limiter.close()

    return asyncio.run(main())


def test_exactly_burst_requests_pass_from_full(make_limiter: Callable[[], RateLimiter]) -> None:
    tier = RateTier(per_minute=1, burst=5)

    async def scenario(limiter: RateLimiter) -> list[Decision]:
        return [await limiter.take("k", "tiny", tier) for _ in range(8)]

    started = time.time()
    decisions = run_with(make_limiter, scenario)
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0, 0]
    for d in decisions:
        assert (d.limit, d.tier, d.per_minute, d.window_seconds) == (5, "tiny", 1, 300)
    for d in decisions[:5]:
        assert d.retry_after == 0
    for d in decisions[5:]:
        assert 1 <= d.retry_after <= 60  # one token a minute
        # Empty: full again after five refill intervals.
        assert math.floor(started) + 5 * 60 - 2 <= d.reset_at <= time.time() + 5 * 60 + 1


def test_buckets_refill_over_time_up_to_the_burst(make_limiter: Callable[[], RateLimiter]) -> None:
    tier = RateTier(per_minute=600, burst=2)  # one token every 0.1 s

    async def scenario(limiter: RateLimiter) -> None:
        for _ in range(100):
            if not (await limiter.take("k", "fast", tier)).allowed:
                break
        else:
            raise AssertionError("the burst never ran out")
        await asyncio.sleep(0.3)
        assert (await limiter.take("k", "fast", tier)).allowed
        # A long idle refills to the burst, never beyond it.
        await asyncio.sleep(0.6)
        decision = await limiter.take("k", "fast", tier)
        assert decision.allowed and decision.remaining == tier.burst - 1

    run_with(make_limiter, scenario)


def test_keys_are_independent(make_limiter: Callable[[], RateLimiter]) -> None:
    tier = RateTier(per_minute=1, burst=1)

    async def scenario(limiter: RateLimiter) -> list[bool]:
        return [(await limiter.take(key, "t", tier)).allowed for key in ("a", "b", "a", "b", "c")]

    assert run_with(make_limiter, scenario) == [True, True, False, False, True]


# --- Redis specifics ------------------------------------------------------------------


def test_redis_take_is_atomic_under_concurrency(redis_client: redis.Redis) -> None:
    prefix = f"shiplane-test:{uuid.uuid4().hex}:"
    tier = RateTier(per_minute=1, burst=10)

    async def main() -> list[Decision]:
        limiter = RedisRateLimiter(REDIS_URL, prefix=prefix)
        try:
            return list(await asyncio.gather(*(limiter.take("shared", "t", tier) for _ in range(50))))
        finally:
            await limiter.close()

    try:
        decisions = asyncio.run(main())
    finally:
        redis_client.delete(prefix + "shared")
    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == 10
    # Every allowed take saw a different count: the read-refill-take steps never interleaved.
    assert sorted(d.remaining for d in allowed) == list(range(10))
    assert all(d.remaining == 0 and d.retry_after >= 1 for d in decisions if not d.allowed)


def test_redis_bucket_keys_expire(redis_client: redis.Redis) -> None:
    prefix = f"shiplane-test:{uuid.uuid4().hex}:"
    tier = RateTier(per_minute=60, burst=3)  # full again 3 s after the last take

    async def main() -> None:
        limiter = RedisRateLimiter(REDIS_URL, prefix=prefix)
        try:
            await limiter.take("k", "t", tier)
        finally:
            await limiter.close()

    asyncio.run(main())
    try:
        ttl = redis_client.ttl(prefix + "k")
        assert 0 < ttl <= 3 + 60
        assert set(redis_client.hgetall(prefix + "k")) == {b"tokens", b"ts"}
    finally:
        redis_client.delete(prefix + "k")


# --- memory specifics -----------------------------------------------------------------


def test_memory_eviction_drops_only_full_buckets_and_bounds_the_table() -> None:
    slow = RateTier(per_minute=1, burst=1)  # an emptied bucket stays empty for a minute
    fast = RateTier(per_minute=60_000, burst=1)  # full again 1 ms after a take

    async def main() -> MemoryRateLimiter:
        limiter = MemoryRateLimiter(max_keys=8)
        assert (await limiter.take("victim", "slow", slow)).allowed
        assert not (await limiter.take("victim", "slow", slow)).allowed
        for i in range(200):
            decision = await limiter.take(f"passer-{i}", "fast", fast)
            assert decision.allowed
            if i % 4 == 3:
                await asyncio.sleep(0.005)
        # The passers' full buckets were dropped; the empty one was not.
        assert not (await limiter.take("victim", "slow", slow)).allowed
        # A dropped bucket comes back exactly as a full one would be.
        decision = await limiter.take("passer-0", "fast", fast)
        assert decision.allowed and decision.remaining == 0
        return limiter

    limiter = asyncio.run(main())
    assert len(limiter._buckets) <= 16


def test_memory_eviction_never_drops_a_refilling_bucket() -> None:
    slow = RateTier(per_minute=1, burst=1)

    async def main() -> None:
        limiter = MemoryRateLimiter(max_keys=4)
        for i in range(40):
            assert (await limiter.take(f"k{i}", "slow", slow)).allowed
        # The table is far over max_keys, but every bucket still knows it is empty.
        for i in range(40):
            assert not (await limiter.take(f"k{i}", "slow", slow)).allowed

    asyncio.run(main())


def test_an_address_that_spent_its_burst_on_bad_tokens_is_refused_before_verification(apps: AppFactory) -> None:
    tiers = {"standard": {"per_minute": 1, "burst": 3}}
    app = apps(rate_limit_tiers=tiers)
    good = app.caller(tenant_id=new_id("tenant"), user_id=new_id("user"))
    assert good.get(BASE).status_code == 200
    for _ in range(3):
        assert_error(app.client.get(BASE, headers={"Authorization": "Bearer not.a.token"}), 401, "UNAUTHORIZED")
    # The address's failures are spent: the next token, even a valid one, is refused
    # without checking its signature, until the bucket refills.
    refused = app.client.get(BASE, headers={"Authorization": "Bearer not.a.token"})
    assert_error(refused, 429, "RATE_LIMITED")
    assert refused.headers["retry-after"] == "1"
    assert_error(good.get(BASE), 429, "RATE_LIMITED")
    assert "did not verify" in good.get(BASE).json()["error"]["message"]
