"""The request pipeline (DESIGN §3, Operations): request id, envelope-shaped errors for
what no endpoint answers (404, 405, 500), rate-limit headers, /healthz, /readyz,
/metrics, JSON logs carrying request id, tenant and user, and the settings that
refuse to run production on development secrets.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jose import jwt as jose_jwt
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from shiplane.app import create_app
from shiplane.platform.jwt import mint_token
from shiplane.platform.logging import JsonFormatter, configure_logging
from shiplane.platform.migrate import head_revision, upgrade
from shiplane.platform.settings import InsecureSettingsError, RateTier, Settings

from tests.conftest import PG_URL, Caller, _pg_admin, assert_error, make_settings

BASE = "/api/v1/environments"


@contextmanager
def app_client(database_url: str, data_dir: Path, **overrides: Any) -> Iterator[tuple[TestClient, Settings]]:
    settings = make_settings(database_url, data_dir, **overrides)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client, settings


def token_for(settings: Settings, roles: list[str] | None = None, **kw: Any) -> tuple[str, str, str]:
    tenant_id = kw.pop("tenant_id", f"tenant-{uuid.uuid4().hex[:10]}")
    user_id = kw.pop("user_id", f"user-{uuid.uuid4().hex[:8]}")
    token = mint_token(settings, user_id=user_id, tenant_id=tenant_id, roles=roles or ["viewer"], **kw)
    return token, tenant_id, user_id


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# --- request id ---------------------------------------------------------------


@pytest.mark.parametrize("request_id", ["req-123", "a1b2.c3:d4_e5-f6", "x" * 128, str(uuid.uuid4())])
def test_valid_request_id_is_echoed_on_success(admin: Caller, request_id: str) -> None:
    response = admin.get(BASE, headers={"X-Request-ID": request_id})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id
    assert response.json()["meta"]["requestId"] == request_id


def test_valid_request_id_is_echoed_on_errors(client: TestClient, admin: Caller) -> None:
    responses = [
        client.get(BASE, headers={"X-Request-ID": "err-401"}),
        admin.get(f"{BASE}/{uuid.uuid4()}", headers={"X-Request-ID": "err-404"}),
        admin.post(BASE, json={"name": "Not A Slug!"}, headers={"X-Request-ID": "err-400"}),
        client.get("/api/v1/no-such-thing", headers={"X-Request-ID": "err-404-route"}),
    ]
    for response, (status, code, rid) in zip(
        responses,
        [
            (401, "UNAUTHORIZED", "err-401"),
            (404, "NOT_FOUND", "err-404"),
            (400, "VALIDATION_ERROR", "err-400"),
            (404, "NOT_FOUND", "err-404-route"),
        ],
        strict=True,
    ):
        assert_error(response, status, code)
        assert response.headers["x-request-id"] == rid
        assert response.json()["meta"]["requestId"] == rid


@pytest.mark.parametrize(
    "request_id",
    ["has spaces in it", "x" * 300, "x" * 129, "a/b", "<script>", "semi;colon", 'quote"d', "tab\there"],
)
def test_invalid_request_id_is_replaced_by_a_uuid(client: TestClient, admin: Caller, request_id: str) -> None:
    for response in (
        admin.get(BASE, headers={"X-Request-ID": request_id}),
        client.get(BASE, headers={"X-Request-ID": request_id}),
    ):
        replaced = response.headers["x-request-id"]
        assert replaced != request_id and is_uuid(replaced)
        assert response.json()["meta"]["requestId"] == replaced


def test_missing_or_empty_request_id_gets_a_fresh_uuid_each_time(admin: Caller) -> None:
    seen = set()
    for headers in ({}, {"X-Request-ID": ""}, {}):
        response = admin.get(BASE, headers=headers)
        rid = response.headers["x-request-id"]
        assert is_uuid(rid) and response.json()["meta"]["requestId"] == rid
        seen.add(rid)
    assert len(seen) == 3


def test_request_id_is_on_responses_without_a_body(admin: Caller) -> None:
    created = admin.post(BASE, json={"name": "gone-soon"})
    assert created.status_code == 201
    response = admin.delete(f"{BASE}/{created.json()['data']['id']}", headers={"X-Request-ID": "delete-1"})
    assert response.status_code == 204 and response.content == b""
    assert response.headers["x-request-id"] == "delete-1"


# --- errors no endpoint answers ---------------------------------------------


def test_unknown_route_is_the_404_envelope(client: TestClient, admin: Caller) -> None:
    for response in (client.get("/api/v1/nope"), admin.get("/api/v1/nope"), client.get("/definitely/not/here")):
        error = assert_error(response, 404, "NOT_FOUND")
        assert response.headers["content-type"].startswith("application/json")
        assert "no route" in error["message"]


def test_wrong_method_is_the_405_envelope(client: TestClient, admin: Caller) -> None:
    auth = {"Authorization": f"Bearer {admin.token}"}
    for response in (client.patch(BASE, headers=auth), client.patch(BASE)):
        error = assert_error(response, 405, "METHOD_NOT_ALLOWED")
        assert "PATCH" in error["message"]
        # Every method the path supports, not just the first route Starlette tried.
        assert response.headers["allow"] == "GET, POST"
    response = client.patch(f"{BASE}/{uuid.uuid4()}", headers=auth)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "DELETE, GET, PUT"
    response = client.post("/healthz")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_unhandled_exception_is_the_500_envelope_without_details(database_url: str, tmp_path: Path, kind: str) -> None:
    settings = make_settings(database_url, tmp_path)
    app = create_app(settings)

    async def boom_async() -> None:
        raise RuntimeError("secret detail")

    def boom_sync() -> None:
        raise RuntimeError("secret detail")

    app.add_api_route("/boom", boom_async if kind == "async" else boom_sync)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "boom-1"})
        error = assert_error(response, 500, "INTERNAL_ERROR")
        assert response.headers["x-request-id"] == "boom-1"
        assert response.json()["meta"]["requestId"] == "boom-1"
        assert error["details"] == {"requestId": "boom-1"}
        for leaked in ("Traceback", "secret detail", "RuntimeError", "boom_"):
            assert leaked not in response.text
        # Without an incoming id the generated one is reported the same way.
        response = client.get("/boom")
        error = assert_error(response, 500, "INTERNAL_ERROR")
        assert is_uuid(response.headers["x-request-id"])
        assert error["details"]["requestId"] == response.headers["x-request-id"]
        # The app keeps serving.
        assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("jwks_url", ["http://[::1/jwks.json", "http://127.0.0.1:99999/jwks.json"])
def test_failure_before_the_endpoint_is_also_the_500_envelope(database_url: str, tmp_path: Path, jwks_url: str) -> None:
    """A misconfigured JWKS URL makes token verification itself fail, before any endpoint runs.

    That is the operator's fault, not the caller's: a 500, but still the envelope with
    the request id (not Starlette's plain-text page), logged and counted.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    claims = {"sub": "u1", "tenant_id": "t1", "iss": "shiplane-dev", "aud": "shiplane", "exp": int(time.time()) + 60}
    token = jose_jwt.encode(claims, pem, algorithm="RS256", headers={"kid": "k1"})
    overrides = {"mode": "production", "auth_hs_secret": None, "auth_jwks_url": "http://127.0.0.1:9/jwks.json"}
    with app_client(database_url, tmp_path, **overrides) as (client, settings), json_logs() as stream:
        # Settings refuse such URLs at start-up (next test); break it behind their back to
        # exercise a failure inside the pipeline itself.
        settings.auth_jwks_url = jwks_url
        response = client.get(BASE, headers={"Authorization": f"Bearer {token}", "X-Request-ID": "misconfigured"})
        error = assert_error(response, 500, "INTERNAL_ERROR")
        assert error["details"] == {"requestId": "misconfigured"}
        assert "Traceback" not in response.text and "jwks" not in response.text.lower()
        metrics = client.get("/metrics").text
        assert client.get("/healthz").status_code == 200  # the app keeps serving
    lines = log_lines(stream)
    assert [e["requestId"] for e in lines if e["msg"] == "unhandled error"] == ["misconfigured"]
    assert access_line(lines, "misconfigured")["status"] == 500
    assert 'route="unmatched",status="500"' in metrics


@pytest.mark.parametrize("jwks_url", ["http://[::1/jwks.json", "http://127.0.0.1:99999/jwks.json", "file:///etc/x"])
def test_a_malformed_jwks_url_is_refused_at_start_up(jwks_url: str) -> None:
    with pytest.raises(ValidationError, match="auth_jwks_url"):
        Settings(auth_jwks_url=jwks_url)


# --- rate-limit headers ---------------------------------------------------------


def test_rate_limit_headers_and_429_envelope(database_url: str, tmp_path: Path) -> None:
    tiers = {"standard": RateTier(per_minute=60, burst=2), "premium": RateTier(per_minute=600, burst=50)}
    with app_client(database_url, tmp_path, rate_limit_tiers=tiers) as (client, settings):
        token, _, _ = token_for(settings)
        headers = {"Authorization": f"Bearer {token}"}
        first = client.get(BASE, headers=headers)
        assert first.status_code == 200
        assert first.headers["x-ratelimit-limit"] == "2"
        assert first.headers["x-ratelimit-remaining"] == "1"
        assert int(first.headers["x-ratelimit-reset"]) > 0
        assert client.get(BASE, headers=headers).status_code == 200
        refused = client.get(BASE, headers={**headers, "X-Request-ID": "limited-1"})
        error = assert_error(refused, 429, "RATE_LIMITED")
        assert refused.headers["x-request-id"] == "limited-1"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert error["details"]["tier"] == "standard"
        # Operations endpoints are never limited.
        for _ in range(5):
            assert client.get("/healthz").status_code == 200


# --- operations endpoints -------------------------------------------------------


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["data"] == {"status": "ok"}
    assert body["meta"]["requestId"] == response.headers["x-request-id"]


def test_readyz_reports_the_current_migration(client: TestClient, settings: Settings) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["status"] == "ready"
    assert data["migration"] == head_revision() is not None
    assert data["database"] == ("postgresql" if settings.effective_database_url.startswith("postgresql") else "sqlite")


def test_readyz_on_an_unmigrated_sqlite_database(database_url: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with app_client(f"sqlite+aiosqlite:///{empty}", tmp_path) as (client, _):
        response = client.get("/readyz")
        error = assert_error(response, 503, "SERVICE_UNAVAILABLE")
        assert error["details"] == {"current": None, "head": head_revision()}
        assert client.get("/healthz").status_code == 200  # alive, just not ready


@pytest.mark.parametrize(("revision", "ready"), [("0001", False), ("9999_from_a_newer_release", True)])
def test_readyz_behind_and_ahead_of_the_code(tmp_path: Path, revision: str, ready: bool) -> None:
    """Pending migrations make a replica unready; a database a newer release migrated does not."""
    db_file = tmp_path / "versions.db"
    url = f"sqlite+aiosqlite:///{db_file}"
    upgrade(url)
    with sqlite3.connect(db_file) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    with app_client(url, tmp_path) as (client, _):
        response = client.get("/readyz")
        if ready:
            assert response.status_code == 200 and response.json()["data"]["migration"] == revision
        else:
            error = assert_error(response, 503, "SERVICE_UNAVAILABLE")
            assert error["details"] == {"current": revision, "head": head_revision()}


@pytest.mark.skipif(not PG_URL, reason="needs SHIPLANE_TEST_DATABASE_URL")
def test_readyz_on_an_unmigrated_postgresql_database(tmp_path: Path) -> None:
    from sqlalchemy import make_url

    name = f"shiplane_test_empty_{uuid.uuid4().hex[:10]}"
    _pg_admin(PG_URL, f'CREATE DATABASE "{name}"')
    try:
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        with app_client(url, tmp_path) as (client, _):
            error = assert_error(client.get("/readyz"), 503, "SERVICE_UNAVAILABLE")
            assert error["details"]["current"] is None
    finally:
        _pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_readyz_when_the_database_is_unreachable(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"
    with app_client(url, tmp_path) as (client, _):
        response = client.get("/readyz")
        error = assert_error(response, 503, "SERVICE_UNAVAILABLE")
        assert error["message"] == "database unreachable"
        assert str(tmp_path) not in response.text  # no driver message, no path


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_metrics_count_requests_by_route_template(database_url: str, tmp_path: Path) -> None:
    with app_client(database_url, tmp_path) as (client, settings):
        token, _, _ = token_for(settings)
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get(BASE, headers=headers).status_code == 200
        assert client.get(BASE, headers=headers).status_code == 200
        for _ in range(3):  # three different ids, one label
            assert client.get(f"{BASE}/{uuid.uuid4()}", headers=headers).status_code == 404
        assert client.get(BASE).status_code == 401
        assert client.get("/api/v1/unknown-route").status_code == 404

        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert "# TYPE shiplane_http_requests_total counter" in text
        counts = samples(text, "shiplane_http_requests_total")

        def count(method: str, route: str, status: str) -> float | None:
            return counts.get((("method", method), ("route", route), ("status", status)))

        assert count("GET", BASE, "200") == 2.0
        assert count("GET", BASE, "401") == 1.0
        assert count("GET", f"{BASE}/{{environment_id}}", "404") == 3.0
        assert count("GET", "unmatched", "404") == 1.0
        assert not any(BASE + "/" in dict(k)["route"] and "{" not in dict(k)["route"] for k in counts)
        latency = samples(text, "shiplane_http_request_duration_seconds_count")
        assert latency[(("method", "GET"), ("route", BASE))] == 3.0


# --- JSON logs --------------------------------------------------------------------


@contextmanager
def json_logs() -> Iterator[io.StringIO]:
    """``configure_logging`` as the server runs it, writing to a buffer; restored after."""
    root = logging.getLogger()
    access = logging.getLogger("uvicorn.access")
    saved = (root.handlers[:], root.level, access.disabled)
    stream = io.StringIO()
    try:
        configure_logging("INFO")
        assert len(root.handlers) == 1 and isinstance(root.handlers[0].formatter, JsonFormatter)
        assert access.disabled
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        root.handlers[:] = [handler]
        yield stream
    finally:
        root.handlers[:], _, access.disabled = saved
        root.setLevel(saved[1])


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def access_line(lines: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    matching = [e for e in lines if e["logger"] == "shiplane.http" and e["msg"] == "request"]
    matching = [e for e in matching if e["requestId"] == request_id]
    assert len(matching) == 1, lines
    return matching[0]


def test_access_log_is_json_with_request_tenant_and_user(admin: Caller) -> None:
    with json_logs() as stream:
        response = admin.get(BASE, params={"page": 1}, headers={"X-Request-ID": "log-me-1"})
        assert response.status_code == 200
    lines = log_lines(stream)
    entry = access_line(lines, "log-me-1")
    assert entry["tenantId"] == admin.tenant_id
    assert entry["userId"] == admin.user_id
    assert entry["status"] == 200
    assert entry["method"] == "GET" and entry["path"] == BASE
    assert entry["level"] == "info" and entry["ts"].endswith("Z")
    assert isinstance(entry["durationMs"], int | float)
    output = stream.getvalue()
    assert admin.token not in output
    assert admin.token.split(".")[2] not in output  # not even the signature


def test_access_log_of_refused_and_failed_requests(client: TestClient, settings: Settings) -> None:
    token, _, _ = token_for(settings, lifetime_seconds=-3600)  # expired
    with json_logs() as stream:
        assert (
            client.get(BASE, headers={"Authorization": f"Bearer {token}", "X-Request-ID": "log-401"}).status_code == 401
        )
        assert client.get("/api/v1/nope", headers={"X-Request-ID": "log-404"}).status_code == 404
    lines = log_lines(stream)
    refused = access_line(lines, "log-401")
    assert refused["status"] == 401 and refused["tenantId"] is None and refused["userId"] is None
    assert access_line(lines, "log-404")["status"] == 404
    output = stream.getvalue()
    assert token not in output and token.split(".")[2] not in output


def test_unhandled_exception_is_logged_with_the_request_id(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path)
    app = create_app(settings)

    async def boom() -> None:
        raise RuntimeError("secret detail")

    app.add_api_route("/boom", boom)
    token, tenant_id, user_id = token_for(settings)
    with TestClient(app, raise_server_exceptions=False) as client, json_logs() as stream:
        response = client.get("/boom", headers={"Authorization": f"Bearer {token}", "X-Request-ID": "boom-log"})
        assert response.status_code == 500
    lines = log_lines(stream)
    failures = [e for e in lines if e["msg"] == "unhandled error"]
    assert len(failures) == 1
    failure = failures[0]
    # The operator gets the detail, the caller does not.
    assert failure["requestId"] == "boom-log" and failure["level"] == "error"
    assert failure["tenantId"] == tenant_id and failure["userId"] == user_id
    assert "secret detail" in failure["exc"] and "Traceback" in failure["exc"]
    assert access_line(lines, "boom-log")["status"] == 500
    assert token not in stream.getvalue()


# --- settings ------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SHIPLANE_") and not name.startswith("SHIPLANE_TEST_"):
            monkeypatch.delenv(name)


def test_production_without_secrets_refuses_to_start(tmp_path: Path, clean_env: None) -> None:
    settings = Settings(mode="production", data_dir=tmp_path)
    with pytest.raises(InsecureSettingsError) as info:
        settings.prepare()
    message = str(info.value)
    for missing in ("verification key", "ENCRYPTION_KEY", "DATABASE_URL", "SIGNING_KEY_PATH"):
        assert missing in message
    assert not (tmp_path / "dev-jwt-secret").exists()  # nothing was made up


@pytest.mark.parametrize(
    "overrides",
    [
        {"auth_hs_secret": "short-secret"},  # present but under 32 characters
        {"auth_hs_secret": "s" * 40, "encryption_key": None},
        {"auth_hs_secret": "s" * 40, "database_url": None},
        {"auth_hs_secret": None},
        {"auth_hs_secret": "s" * 40, "signing_key_path": None},
    ],
)
def test_production_refuses_each_missing_or_weak_setting(
    tmp_path: Path, clean_env: None, overrides: dict[str, Any]
) -> None:
    values: dict[str, Any] = {
        "mode": "production",
        "data_dir": tmp_path,
        "encryption_key": "k" * 44,
        "database_url": "postgresql+asyncpg://db.example/shiplane",
        "signing_key_path": tmp_path / "signing.pem",
        **overrides,
    }
    with pytest.raises(InsecureSettingsError):
        Settings(**values).prepare()


def test_production_with_explicit_secrets_is_accepted(tmp_path: Path, clean_env: None) -> None:
    secret = "p" * 32
    settings = Settings(
        mode="production",
        data_dir=tmp_path,
        auth_hs_secret=secret,
        encryption_key="k" * 44,
        database_url="postgresql+asyncpg://db.example/shiplane",
        signing_key_path=tmp_path / "signing.pem",
    ).prepare()
    assert settings.auth_hs_secret == secret
    assert not (tmp_path / "dev-jwt-secret").exists()


def test_production_with_public_keys_only_is_accepted(tmp_path: Path, clean_env: None) -> None:
    settings = Settings(
        mode="production",
        data_dir=tmp_path,
        auth_jwks_url="https://idp.example/.well-known/jwks.json",
        encryption_key="k" * 44,
        database_url="postgresql+asyncpg://db.example/shiplane",
        signing_key_path=tmp_path / "signing.pem",
    ).prepare()
    assert settings.auth_hs_secret is None


def test_production_settings_from_the_environment(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPLANE_MODE", "production")
    monkeypatch.setenv("SHIPLANE_DATA_DIR", str(tmp_path))
    with pytest.raises(InsecureSettingsError):
        Settings().prepare()
    monkeypatch.setenv("SHIPLANE_AUTH_HS_SECRET", "e" * 48)
    monkeypatch.setenv("SHIPLANE_ENCRYPTION_KEY", "k" * 44)
    monkeypatch.setenv("SHIPLANE_DATABASE_URL", "postgresql+asyncpg://db.example/shiplane")
    with pytest.raises(InsecureSettingsError, match="SIGNING_KEY_PATH"):
        Settings().prepare()
    monkeypatch.setenv("SHIPLANE_SIGNING_KEY_PATH", str(tmp_path / "signing.pem"))
    assert Settings().prepare().auth_hs_secret == "e" * 48


def test_development_persists_its_generated_secrets(tmp_path: Path, clean_env: None) -> None:
    data_dir = tmp_path / "data"
    first = Settings(mode="development", data_dir=data_dir).prepare()
    second = Settings(mode="development", data_dir=data_dir).prepare()
    assert first.auth_hs_secret and len(first.auth_hs_secret) >= 32
    assert second.auth_hs_secret == first.auth_hs_secret
    assert first.encryption_key and second.encryption_key == first.encryption_key
    assert first.auth_hs_secret != first.encryption_key
    secret_file = data_dir / "dev-jwt-secret"
    assert secret_file.read_text().strip() == first.auth_hs_secret
    assert secret_file.stat().st_mode & 0o777 == 0o600
    # Another data directory is another development identity.
    other = Settings(mode="development", data_dir=tmp_path / "other").prepare()
    assert other.auth_hs_secret != first.auth_hs_secret


def test_development_token_from_one_process_verifies_in_the_next(
    database_url: str, tmp_path: Path, clean_env: None
) -> None:
    """What ``shiplane token create`` relies on: the secret survives a restart."""
    minted_with = Settings(mode="development", data_dir=tmp_path, database_url=database_url).prepare()
    token, _, _ = token_for(minted_with)
    restarted = Settings(mode="development", data_dir=tmp_path, database_url=database_url).prepare()
    with TestClient(create_app(restarted), raise_server_exceptions=False) as client:
        assert client.get(BASE, headers={"Authorization": f"Bearer {token}"}).status_code == 200
