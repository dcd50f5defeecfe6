"""Service accounts and the server's OAuth 2.0 authority: a secret shown once and stored
hashed, the client-credentials grant, tokens verified with the published JWKS, rotation
and revocation, signing-key rotation, the token endpoint's rate limit and its errors."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from jose import jwt as jose_jwt
from shiplane.app import create_app
from shiplane.platform.jwt import mint_token
from shiplane.serviceaccounts.tokens import write_new_key

from tests.conftest import Caller, assert_error, make_database, make_settings, run_sql

ACCOUNTS = "/api/v1/service-accounts"


def create(admin: Caller, name: str = "ci", roles: list[str] | None = None) -> dict[str, Any]:
    response = admin.post(ACCOUNTS, json={"name": name, "roles": roles or ["release-manager"]})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    data: dict[str, Any] = response.json()["data"]
    return data


def token(client: TestClient, client_id: str, secret: str, basic: bool = True) -> Any:
    if basic:
        auth = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        return client.post(
            "/oauth/token",
            content="grant_type=client_credentials",
            headers={"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"},
        )
    return client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )


def bearer(client: TestClient, access_token: str, path: str = "/api/v1/environments") -> Any:
    return client.get(path, headers={"Authorization": f"Bearer {access_token}"})


def test_a_service_account_gets_a_token_that_works_and_verifies_with_the_jwks(
    admin: Caller, viewer: Caller, other_admin: Caller, database_url: str
) -> None:
    client = admin.client
    made = create(admin, "ci-pipeline")
    account, secret = made["serviceAccount"], made["clientSecret"]
    assert made["clientId"] == account["id"] and secret.startswith("shpsa_") and account["state"] == "active"
    # Shown once: never in a read, stored only as its SHA-256, never in the audit trail.
    shown = admin.get(f"{ACCOUNTS}/{account['id']}").json()["data"]
    assert "clientSecret" not in shown and secret not in json.dumps(admin.get(ACCOUNTS).json())
    stored = run_sql(database_url, "SELECT secret_hash FROM service_accounts WHERE id = :id", {"id": account["id"]})
    assert stored[0][0] == hashlib.sha256(secret.encode()).hexdigest()
    audit = json.dumps(admin.get("/api/v1/audit-events", params={"pageSize": 100}).json())
    assert secret not in audit and "service_account.create" in audit

    # The grant, with HTTP Basic and with the form.
    for basic in (True, False):
        answer = token(client, account["id"], secret, basic)
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        body = answer.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    access = body["access_token"]
    # It works with the account's roles in its tenant, and another tenant's objects are not its.
    assert bearer(client, access).status_code == 200
    made_env = client.post(
        "/api/v1/environments",
        json={"name": "from-ci", "displayName": "CI", "order": 1},
        headers={"Authorization": f"Bearer {access}"},
    )
    assert_error(made_env, 403, "FORBIDDEN")  # release-manager: no environments:write
    # Verified offline by anyone with the discovery document and the JWKS.
    discovery = client.get("/.well-known/openid-configuration").json()
    assert discovery["token_endpoint"].endswith("/oauth/token")
    assert discovery["grant_types_supported"] == ["client_credentials"]
    keys = client.get(discovery["jwks_uri"].replace("http://testserver", "")).json()["keys"]
    kid = jose_jwt.get_unverified_header(access)["kid"]
    jwk = next(k for k in keys if k["kid"] == kid)
    assert "d" not in jwk and jwk["alg"] == "ES256"
    claims = jose_jwt.decode(access, jwk, algorithms=["ES256"], audience="shiplane", issuer=discovery["issuer"])
    assert claims["sub"] == f"service-account:{account['id']}" and claims["tenant_id"] == admin.tenant_id
    assert claims["exp"] - claims["iat"] == 900 and claims["roles"] == ["release-manager"]
    # Every token issued is audited (its jti, never the token), attributed to the account.
    events = admin.get("/api/v1/audit-events", params={"pageSize": 100}).json()["data"]
    issued = [e for e in events if e["action"] == "service_account.token_issued"]
    assert len(issued) == 2 and claims["jti"] in json.dumps(issued) and access not in json.dumps(events)
    # A development (HS256) token keeps working side by side.
    assert admin.get(ACCOUNTS).status_code == 200

    # Roles changed: held at once by the tokens already issued.
    version = shown["version"]
    changed = admin.put(f"{ACCOUNTS}/{account['id']}", json={"roles": ["viewer"], "version": version})
    assert changed.status_code == 200, changed.text
    promote = client.post("/api/v1/promotions", json={}, headers={"Authorization": f"Bearer {access}"})
    assert_error(promote, 403, "FORBIDDEN")

    # Viewers read, only admins write; another tenant sees nothing.
    assert viewer.get(f"{ACCOUNTS}/{account['id']}").status_code == 200
    assert_error(viewer.post(ACCOUNTS, json={"name": "x", "roles": ["viewer"]}), 403, "FORBIDDEN")
    for path in ("", "/rotate-secret", "/revoke"):
        method = other_admin.get if path == "" else other_admin.post
        assert_error(method(f"{ACCOUNTS}/{account['id']}{path}"), 404, "NOT_FOUND")
    assert_error(other_admin.delete(f"{ACCOUNTS}/{account['id']}"), 404, "NOT_FOUND")
    assert other_admin.get(ACCOUNTS).json()["data"] == []


def test_a_token_issued_when_the_key_is_due_to_be_recorded_again(admin: Caller) -> None:
    """Every minute the server records its key again as it signs: in its own transaction,
    before the issuing one (inside it, SQLite's one writer waited for itself)."""
    client = admin.client
    made = create(admin, "long-lived")
    authority = client.app.state.shiplane.oauth  # type: ignore[attr-defined]
    authority._last_recorded = -1e9  # the server has run for more than a minute since
    answer = token(client, made["clientId"], made["clientSecret"])
    assert answer.status_code == 200, answer.text
    assert authority._last_recorded > 0


def test_rotation_and_revocation(admin: Caller) -> None:
    client = admin.client
    made = create(admin, "rotating")
    account_id, first = made["clientId"], made["clientSecret"]
    before = token(client, account_id, first).json()["access_token"]
    rotated = admin.post(f"{ACCOUNTS}/{account_id}/rotate-secret")
    assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
    second = rotated.json()["data"]["clientSecret"]
    assert second != first
    refused = token(client, account_id, first)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert token(client, account_id, second).status_code == 200
    assert bearer(client, before).status_code == 200  # issued before the rotation: valid until it expires

    revoked = admin.post(f"{ACCOUNTS}/{account_id}/revoke")
    assert revoked.status_code == 200 and revoked.json()["data"]["state"] == "revoked"
    assert_error(bearer(client, before), 401, "UNAUTHORIZED")  # at once
    assert token(client, account_id, second).status_code == 401
    assert_error(admin.post(f"{ACCOUNTS}/{account_id}/rotate-secret"), 409, "INVALID_STATE")
    events = admin.get("/api/v1/audit-events", params={"pageSize": 100}).json()["data"]
    refusals = [e for e in events if e["action"] == "service_account.token_refused"]
    assert len(refusals) == 2 and all(e["outcome"] == "failure" for e in refusals)
    # Deleted: the same.
    other = create(admin, "deleted")
    access = token(client, other["clientId"], other["clientSecret"]).json()["access_token"]
    assert admin.delete(f"{ACCOUNTS}/{other['clientId']}").status_code == 204
    assert_error(bearer(client, access), 401, "UNAUTHORIZED")


def test_the_token_endpoint_refuses_bad_requests_the_rfc_6749_way(admin: Caller) -> None:
    client = admin.client
    made = create(admin, "strict")
    account_id, secret = made["clientId"], made["clientSecret"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    cases = [
        (client.post("/oauth/token", json={"grant_type": "client_credentials"}), 400, "invalid_request"),
        (client.post("/oauth/token", data={"grant_type": "password"}), 400, "unsupported_grant_type"),
        (
            client.post("/oauth/token", content="grant_type=client_credentials&grant_type=x", headers=form),
            400,
            "invalid_request",
        ),
        (client.post("/oauth/token", data={"grant_type": "client_credentials"}), 401, "invalid_client"),
        (token(client, "no-such-client", secret), 401, "invalid_client"),
        (token(client, account_id, secret + "x"), 401, "invalid_client"),
        (token(client, account_id, "x" * 5000, basic=False), 401, "invalid_client"),
    ]
    for response, status, error in cases:
        assert response.status_code == status, response.text
        assert response.json()["error"] == error and response.json()["request_id"]
        assert secret not in response.text
    # A wrong id and a wrong secret get the same answer.
    assert cases[4][0].json()["error_description"] == cases[5][0].json()["error_description"]
    bad = admin.post(ACCOUNTS, json={"name": "x", "roles": ["agent"]})
    assert assert_error(bad, 400, "VALIDATION_ERROR")["validationErrors"][0]["field"] == "roles.0"
    assert_error(admin.post(ACCOUNTS, json={"name": "strict", "roles": ["viewer"]}), 409, "ALREADY_EXISTS")


def test_signing_key_rotation_keeps_tokens_valid_and_the_endpoint_is_rate_limited(tmp_path: Path) -> None:
    """One database; a server with key A issues a token; a server with key B (the
    operator's rotation) accepts it, publishes both keys, signs with B."""
    key = tmp_path / "oauth-key.pem"
    (tmp_path / "db").mkdir()
    databases = make_database(tmp_path / "db")
    database = next(databases)
    tokens: list[str] = []
    try:
        for generation in ("a", "b"):
            key.unlink(missing_ok=True)
            write_new_key(key)
            settings = make_settings(
                database,
                tmp_path / f"data-{generation}",
                oauth_signing_key_path=key,
                oauth_token_rate={"per_minute": 60, "burst": 5},
            )
            with TestClient(create_app(settings), raise_server_exceptions=False) as client:
                admin_token = mint_token(settings, user_id="root", tenant_id="tenant-oauth", roles=["admin"])
                admin = Caller(client, admin_token, "tenant-oauth", "root")
                made = create(admin, f"ci-{generation}")
                tokens.append(token(client, made["clientId"], made["clientSecret"]).json()["access_token"])
                for earlier in tokens:
                    assert bearer(client, earlier).status_code == 200, generation
                kids = [k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]]
                assert len(kids) == len(tokens) and jose_jwt.get_unverified_header(tokens[-1])["kid"] == kids[0]
                # Burst 5 per address: one used; four more, then a 429 with Retry-After.
                answers = [token(client, made["clientId"], "wrong").status_code for _ in range(5)]
                assert answers == [401, 401, 401, 401, 429]
                limited = token(client, made["clientId"], made["clientSecret"])
                assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
                assert limited.json()["error"] == "slow_down"
                metrics = client.get("/metrics").text
                assert 'shiplane_oauth_tokens_total{outcome="rate_limited"}' in metrics
        assert jose_jwt.get_unverified_header(tokens[0])["kid"] != jose_jwt.get_unverified_header(tokens[1])["kid"]
    finally:
        next(databases, None)


def test_production_without_a_token_key_issues_none(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    databases = make_database(tmp_path / "db")
    database = next(databases)
    try:
        settings = make_settings(database, tmp_path / "data", mode="production", auth_hs_secret="p" * 40)
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            admin_token = mint_token(settings, user_id="root", tenant_id="tenant-prod", roles=["admin"])
            made = create(Caller(client, admin_token, "tenant-prod", "root"), "ci")
            answer = token(client, made["clientId"], made["clientSecret"])
            assert answer.status_code == 503 and "SHIPLANE_OAUTH_SIGNING_KEY_PATH" in answer.json()["error_description"]
            assert client.get("/.well-known/jwks.json").json() == {"keys": []}
    finally:
        next(databases, None)


def test_production_refuses_an_oauth_issuer_equal_to_the_identity_providers(tmp_path: Path) -> None:
    import pytest
    from shiplane.platform.settings import InsecureSettingsError, Settings

    with pytest.raises(InsecureSettingsError, match="SHIPLANE_OAUTH_ISSUER must differ"):
        Settings(
            mode="production",
            data_dir=tmp_path,
            database_url="sqlite+aiosqlite:///x.db",
            auth_hs_secret="p" * 40,
            encryption_key="k",
            signing_key_path=tmp_path / "k.pem",
            auth_issuer="shiplane",
        ).prepare()


def test_the_document_names_the_roles_a_service_account_takes(admin: Caller) -> None:
    # The fuzzing sent roles [""] the document allowed and the server refused: the
    # document now lists the grantable roles, and anything else is a 400 naming the field.
    schemas = admin.get("/api/openapi.json").json()["components"]["schemas"]
    for name in ("ServiceAccountCreate", "ServiceAccountUpdate"):
        items = schemas[name]["properties"]["roles"]["items"]
        assert sorted(items["enum"]) == ["admin", "approver", "developer", "release-manager", "viewer"]
    refused = admin.post("/api/v1/service-accounts", json={"name": "ci", "roles": ["viewer", "agent"]})
    body = assert_error(refused, 400, "VALIDATION_ERROR")
    assert body["validationErrors"][0]["field"] == "roles.1"
    created = admin.post("/api/v1/service-accounts", json={"name": "ci", "roles": ["viewer", "viewer"]})
    assert created.status_code == 201, created.text
    assert created.json()["data"]["serviceAccount"]["roles"] == ["viewer"]
