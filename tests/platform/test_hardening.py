"""Input that JSON or HTTP allows but the server cannot store, hash or answer with:
refused at the door with a 4xx in the envelope, never a 500 (issue: hardening)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shiplane.platform.auth import Principal
from shiplane.platform.settings import DEFAULT_TIERS, RateTier, Settings

from tests.conftest import Caller, assert_error

ENVIRONMENTS = "/api/v1/environments"


def post_raw(caller: Caller, path: str, body: str) -> Any:
    return caller.client.post(
        path, content=body.encode("utf-8"), headers={**caller._h(None), "Content-Type": "application/json"}
    )


# -- bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"name": "lone", "description": "\\ud800"}', "description"),
        ('{"name": "lone", "gates": [{"type": "policy", "config": {"\\udfff": 1}}]}', "gates.0.config"),
        ('{"name": "deep", "gates": [{"type": "policy", "config": {"rules": {"x": "\\ud834"}}}]}', "rules.x"),
    ],
)
def test_a_lone_surrogate_anywhere_in_a_body_is_a_400_naming_it(admin: Caller, body: str, field: str) -> None:
    error = assert_error(post_raw(admin, ENVIRONMENTS, body), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["code"] == "invalid_unicode"
    assert field in error["validationErrors"][0]["field"]
    assert admin.get(ENVIRONMENTS).json()["meta"]["pagination"]["totalItems"] == 0


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_a_400(admin: Caller, number: str) -> None:
    body = '{"name": "nan", "gates": [{"type": "policy", "config": {"rules": {"maximum": NUMBER}}}]}'
    body = body.replace("NUMBER", number)
    error = assert_error(post_raw(admin, ENVIRONMENTS, body), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["code"] == "non_finite_number"
    assert error["validationErrors"][0]["field"].endswith("rules.maximum")
    # Nothing was stored, and the tenant's lists stay valid JSON.
    listing = admin.get(ENVIRONMENTS)
    assert listing.status_code == 200
    json.loads(listing.text)


# -- paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_an_overlong_path_id_is_a_404_for_every_caller(admin: Caller, viewer: Caller, method: str) -> None:
    long_id = "x" * 300
    for caller in (admin, viewer):
        response = caller.client.request(
            method,
            f"{ENVIRONMENTS}/{long_id}",
            headers=caller._h(None),
            json={"name": "a"} if method == "PUT" else None,
        )
        assert_error(response, 404, "NOT_FOUND")
    assert_error(admin.post(f"/api/v1/plugins/{long_id}/enable"), 404, "NOT_FOUND")


# -- tokens ---------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(settings: Settings, payload_json: str) -> str:
    """An HS256 token over exactly this payload text (what no library would write)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    unsigned = f"{header}.{_b64(payload_json.encode())}"
    secret = (settings.auth_hs_secret or "").encode()
    return f"{unsigned}.{_b64(hmac.new(secret, unsigned.encode(), hashlib.sha256).digest())}"


def payload(settings: Settings, **fields: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "u",
        "tenant_id": "t",
        "roles": ["admin"],
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "iat": now,
        "exp": now + 600,
    }
    base.update(fields)
    return base


def hostile_payloads(settings: Settings) -> list[tuple[str, str]]:
    ok = payload(settings)
    as_text = json.dumps(ok)
    nested = "[" * 1500 + "]" * 1500  # deeper than Python's parser recurses, yet a token under 8 KiB
    return [
        ("exp 1e400", as_text.replace(f'"exp": {ok["exp"]}', '"exp": 1e400')),
        ("exp Infinity", as_text.replace(f'"exp": {ok["exp"]}', '"exp": Infinity')),
        ("nbf -1e400", as_text[:-1] + ', "nbf": -1e400}'),
        ("iat NaN", as_text.replace(f'"iat": {ok["iat"]}', '"iat": NaN')),
        ("a claim 1,500 deep", as_text[:-1] + f', "deep": {nested}}}'),
        ("tenant lone surrogate", json.dumps(payload(settings, tenant_id="\ud800"))),
        ("tenant with NUL", json.dumps(payload(settings, tenant_id="a\x00b"))),
        ("tenant of 200 characters", json.dumps(payload(settings, tenant_id="t" * 200))),
        ("user of 300 characters", json.dumps(payload(settings, sub="u" * 300))),
        ("a role with a newline", json.dumps(payload(settings, roles=["admin\n"]))),
        ("1,000 permissions", json.dumps(payload(settings, permissions=[f"p{i}:read" for i in range(1000)]))),
    ]


def test_hostile_claims_in_a_correctly_signed_token_are_a_401(client: TestClient, settings: Settings) -> None:
    for name, text in hostile_payloads(settings):
        token = signed(settings, text)
        for method, path in (("GET", ENVIRONMENTS), ("POST", ENVIRONMENTS)):
            response = client.request(method, path, headers={"Authorization": f"Bearer {token}"}, json={"name": "x"})
            assert response.status_code == 401, (name, response.text)
            assert response.json()["error"]["code"] == "UNAUTHORIZED"


def test_the_signing_check_itself_accepts_the_plain_payload(client: TestClient, settings: Settings) -> None:
    token = signed(settings, json.dumps(payload(settings, tenant_id="plain-tenant")))
    assert client.get(ENVIRONMENTS, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_an_oversized_token_is_refused_unread(client: TestClient) -> None:
    started = time.monotonic()
    response = client.get(ENVIRONMENTS, headers={"Authorization": "Bearer " + "a" * (8 * 1024 + 1)})
    assert_error(response, 401, "UNAUTHORIZED")
    assert "longer than" in response.json()["error"]["message"]
    assert time.monotonic() - started < 5  # not a timing assertion on the server: a hang guard


# -- headers -----------------------------------------------------------------------------------


def test_too_many_headers_or_too_large_ones_are_a_431_before_the_token(client: TestClient, admin: Caller) -> None:
    many = {f"x-extra-{i}": "1" for i in range(120)}
    assert_error(client.get(ENVIRONMENTS, headers={**admin._h(None), **many}), 431, "HEADERS_TOO_LARGE")
    large = {"x-large": "a" * (40 * 1024)}
    assert_error(client.get(ENVIRONMENTS, headers={**admin._h(None), **large}), 431, "HEADERS_TOO_LARGE")
    assert_error(client.get("/healthz", headers=large), 431, "HEADERS_TOO_LARGE")
    assert admin.get(ENVIRONMENTS, headers={"x-normal": "a" * 1000}).status_code == 200


# -- rate-limit keys -------------------------------------------------------------------------------


def test_rate_limit_buckets_never_collide_across_tenants(database_url: str, tmp_path: Path) -> None:
    import asyncio

    from shiplane.services import Services

    from tests.conftest import make_settings

    tiny = {"standard": RateTier(per_minute=1, burst=1), "premium": DEFAULT_TIERS["premium"]}
    services = Services.build(make_settings(database_url, tmp_path, rate_limit_tiers=tiny))

    def principal(tenant: str, user: str) -> Principal:
        return Principal(user, tenant, ("viewer",), frozenset(), None)

    async def run() -> tuple[bool, bool, bool]:
        first = await services.take_rate_token(principal("a:b", "c"), {})
        again = await services.take_rate_token(principal("a:b", "c"), {})
        other = await services.take_rate_token(principal("a", "b:c"), {})
        return first.allowed, again.allowed, other.allowed

    try:
        assert asyncio.run(run()) == (True, False, True)
    finally:
        asyncio.run(services.close())


# -- tenant patterns and schemas ---------------------------------------------------------------


def policy_env(admin: Caller, name: str, rules: dict[str, Any]) -> Any:
    return admin.post(ENVIRONMENTS, json={"name": name, "gates": [{"type": "policy", "config": {"rules": rules}}]})


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"$ref": "http://169.254.169.254/latest"}, "gates.0.config.rules.$ref"),
        ({"properties": {"a": {"$ref": "file:///etc/passwd"}}}, "gates.0.config.rules.properties.a.$ref"),
        ({"properties": {"a": {"type": "string", "pattern": "(a)\\1"}}}, "gates.0.config.rules.properties.a.pattern"),
        ({"properties": {"a": {"type": "string", "pattern": "x" * 1001}}}, "gates.0.config.rules.properties.a.pattern"),
        ({"patternProperties": {"(?=x)": {}}}, "gates.0.config.rules.patternProperties"),
        ({"patternProperties": {"a": {}}, "unevaluatedProperties": False}, "gates.0.config.rules"),
    ],
)
def test_a_tenant_schema_that_could_fetch_or_backtrack_is_a_400_naming_the_field(
    admin: Caller, rules: dict[str, Any], field: str
) -> None:
    error = assert_error(policy_env(admin, "bad-policy", rules), 400, "VALIDATION_ERROR")
    assert any(e["field"] == field for e in error["validationErrors"]), error


@pytest.mark.parametrize(
    "rules",
    [
        {"properties": {"a": {"type": "string", "pattern": "a{4294967296}"}}},
        {"properties": {"a": {"type": "string", "pattern": "(" * 3000 + ")" * 3000}}},
        {"patternProperties": {"a{99999999999}": {"type": "string"}}},
        {"anyOf": [{"allOf": [{"oneOf": [{"type": "object"}] * 40}] * 40}] * 20},
    ],
)
def test_hostile_patterns_and_trees_never_reach_a_500(admin: Caller, rules: dict[str, Any]) -> None:
    response = policy_env(admin, "hostile", rules)
    assert response.status_code in (201, 400), response.text


def test_a_catastrophic_pattern_runs_in_linear_time_on_re2() -> None:
    from shiplane_sdk.patterns import compile_pattern, schema_problems, schema_validator

    # (a+)+$ against 40 a's and a b: Python's re would backtrack for longer than any test runs.
    assert compile_pattern("(a+)+$").search("a" * 40 + "b") is None
    rules = {"properties": {"name": {"type": "string", "pattern": "^(a+)+$"}}}
    assert schema_problems(rules) == []
    errors = list(schema_validator(rules).iter_errors({"name": "a" * 40 + "b"}))
    assert len(errors) == 1 and "does not match" in errors[0].message
    extra = {"patternProperties": {"^(a+)+$": {"type": "integer"}}, "additionalProperties": False}
    assert [e.validator for e in schema_validator(extra).iter_errors({"a" * 40 + "b": 1})] == ["additionalProperties"]


def test_the_example_gate_checks_its_pattern_and_matches_on_re2(admin: Caller) -> None:
    from tests.api.plugins import enable

    enable(admin, "acme")
    bad = {"type": "change-ticket", "config": {"pattern": "(?<=CHG)-\\d+"}}
    error = assert_error(admin.post(ENVIRONMENTS, json={"name": "a", "gates": [bad]}), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["field"] == "gates.0.config.pattern"
    fine = {"type": "change-ticket", "config": {"pattern": "(a+)+$"}}
    assert admin.post(ENVIRONMENTS, json={"name": "b", "gates": [fine]}).status_code == 201


def test_a_config_over_the_size_limit_is_refused_before_plugin_code_reads_it(admin: Caller) -> None:
    rules = {"description": "x" * (70 * 1024)}
    error = assert_error(policy_env(admin, "big", rules), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["code"] == "too_large"


def test_another_tenants_request_is_answered_while_a_slow_config_is_checked(database_url: str, tmp_path: Path) -> None:
    import threading

    from tests.api.plugins import app_client, caller_for, enable

    with app_client(database_url, tmp_path, plugin_call_timeout_seconds=30) as client:
        slow_tenant, other = caller_for(client), caller_for(client)
        enable(slow_tenant, "test-hanging")
        order: list[str] = []

        def slow_create() -> None:
            gate = {"type": "slow-config-gate", "config": {"slow": True}}
            response = slow_tenant.post(ENVIRONMENTS, json={"name": "slow", "gates": [gate]})
            order.append(f"slow {response.status_code}")

        worker = threading.Thread(target=slow_create)
        worker.start()
        time.sleep(0.5)  # the slow check is under way (it sleeps 3 s in a guard thread)
        assert other.get(ENVIRONMENTS).status_code == 200
        order.append("other 200")
        worker.join(timeout=30)
        assert order == ["other 200", "slow 201"]


def test_a_config_check_that_outlives_the_timeout_is_a_400_and_opens_no_breaker(
    database_url: str, tmp_path: Path
) -> None:
    from tests.api.plugins import app_client, caller_for, enable

    # In process: the subject is the breaker, not how fast a killed worker is replaced.
    overrides = {
        "plugin_call_timeout_seconds": 0.5,
        "plugin_breaker_threshold": 1,
        "plugins_in_process": ["test-hanging"],
    }
    with app_client(database_url, tmp_path, **overrides) as client:
        admin, other = caller_for(client), caller_for(client)
        enable(admin, "test-hanging")
        enable(other, "test-hanging")
        gate = {"type": "slow-config-gate", "config": {"slow": True}}
        error = assert_error(admin.post(ENVIRONMENTS, json={"name": "slow", "gates": [gate]}), 400, "VALIDATION_ERROR")
        assert error["validationErrors"][0]["code"] == "unchecked"
        # The hostile config was one tenant's: the plugin still works for the other.
        fine = {"type": "slow-config-gate", "config": {}}
        assert other.post(ENVIRONMENTS, json={"name": "fine", "gates": [fine]}).status_code == 201


def test_the_api_docs_load_their_assets_from_the_server(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    for asset in ("/api/docs/assets/swagger-ui-bundle.js", "/api/docs/assets/swagger-ui.css"):
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 1000, asset
        assert asset in page.text


def test_a_database_connection_lost_mid_request_is_a_503_with_retry_after(admin: Caller, database_url: str) -> None:
    """PostgreSQL ends the server's connection while a write waits for a lock (a failover, a restart)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL (SHIPLANE_TEST_DATABASE_URL)")
    import asyncio

    import asyncpg

    assert admin.post(ENVIRONMENTS, json={"name": "first"}).status_code == 201  # the tenant's audit head exists
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def scenario() -> Any:
        locker = await asyncpg.connect(dsn)
        transaction = locker.transaction()
        await transaction.start()
        await locker.execute("SELECT 1 FROM audit_chain_heads WHERE tenant_id = $1 FOR UPDATE", admin.tenant_id)
        pending = asyncio.get_running_loop().run_in_executor(
            None, lambda: admin.post(ENVIRONMENTS, json={"name": "second"})
        )
        waiting: list[Any] = []
        for _ in range(200):
            waiting = await locker.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting, "the write never waited for the lock"
        for row in waiting:
            await locker.execute("SELECT pg_terminate_backend($1)", row["pid"])
        response = await pending
        await transaction.rollback()
        await locker.close()
        return response

    response = asyncio.run(scenario())
    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert response.headers["retry-after"] == "1"
    # Nothing was half-written, and the retry goes through.
    names = [e["name"] for e in admin.get(ENVIRONMENTS).json()["data"]]
    assert names == ["first"]
    assert admin.post(ENVIRONMENTS, json={"name": "second"}).status_code == 201


def test_a_body_that_is_not_json_is_a_415(admin: Caller) -> None:
    headers = {**admin._h(None), "Content-Type": "text/plain"}
    assert_error(admin.client.post(ENVIRONMENTS, content=b"name=x", headers=headers), 415, "UNSUPPORTED_MEDIA_TYPE")
    no_type = dict(admin._h(None))
    response = admin.client.post(ENVIRONMENTS, content=b'{"name": "x"}', headers=no_type)
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    # JSON that does not parse is still a 400 naming the body; an empty POST needs no type.
    json_headers = {**admin._h(None), "Content-Type": "application/json"}
    bad = admin.client.post(ENVIRONMENTS, content=b"{nope", headers=json_headers)
    assert assert_error(bad, 400, "VALIDATION_ERROR")["validationErrors"][0]["code"] == "json_invalid"
    assert admin.post("/api/v1/plugins/builtin/enable").status_code == 200
