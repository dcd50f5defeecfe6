"""The ``shiplane`` command, run as a real subprocess: token create, db upgrade, serve."""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from jose import jwt as jose_jwt
from shiplane.platform.migrate import head_revision
from sqlalchemy import make_url

from tests.conftest import PG_URL, _pg_admin, run_sql
from tests.servers import clean_env, free_port, port_is_open, run_cli, start_server

SECRET = "cli-test-secret-" + "s" * 40
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
CORE_TABLES = {"environments", "audit_events", "audit_chain_heads", "idempotency_keys"}


def test_token_create_prints_a_jwt_with_the_requested_claims(tmp_path: Path) -> None:
    env = clean_env(SHIPLANE_AUTH_HS_SECRET=SECRET, SHIPLANE_DATA_DIR=str(tmp_path / "data"))
    args = ["token", "create", "--user", "u", "--tenant", "t", "--role", "admin"]
    args += ["--permission", "x:y", "--tier", "premium", "--lifetime", "60"]
    result = run_cli(args, env, tmp_path)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert JWT_RE.fullmatch(token), result.stdout

    assert jose_jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jose_jwt.decode(token, SECRET, algorithms=["HS256"], audience="shiplane", issuer="shiplane-dev")
    assert claims["user_id"] == "u" and claims["sub"] == "u"
    assert claims["tenant_id"] == "t"
    assert claims["roles"] == ["admin"]
    assert claims["permissions"] == ["x:y"]
    assert claims["tier"] == "premium"
    assert claims["exp"] - claims["iat"] == 60
    # Signed with the configured secret, not another one.
    with pytest.raises(Exception):  # noqa: B017 - any JOSE error
        jose_jwt.decode(token, "another-secret-" + "z" * 40, algorithms=["HS256"], audience="shiplane")


def test_token_create_repeats_roles_and_permissions(tmp_path: Path) -> None:
    env = clean_env(SHIPLANE_AUTH_HS_SECRET=SECRET, SHIPLANE_DATA_DIR=str(tmp_path / "data"))
    args = ["token", "create", "--user", "ci", "--tenant", "acme", "--role", "viewer", "--role", "approver"]
    args += ["--permission", "releases:write", "--permission", "promotions:create"]
    result = run_cli(args, env, tmp_path)
    assert result.returncode == 0, result.stderr
    claims = jose_jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"], audience="shiplane")
    assert claims["roles"] == ["viewer", "approver"]
    assert claims["permissions"] == ["releases:write", "promotions:create"]
    assert "tier" not in claims
    assert claims["exp"] - claims["iat"] == 3600


def test_token_create_rejects_an_unknown_tier(tmp_path: Path) -> None:
    env = clean_env(SHIPLANE_AUTH_HS_SECRET=SECRET, SHIPLANE_DATA_DIR=str(tmp_path / "data"))
    result = run_cli(["token", "create", "--user", "u", "--tenant", "t", "--tier", "gold"], env, tmp_path)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr and not JWT_RE.search(result.stdout)


def _sqlite_tables(path: Path) -> tuple[set[str], list[str]]:
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        versions = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
    return tables, versions


def test_db_upgrade_creates_the_schema_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    db_file = tmp_path / "fresh.db"
    assert not db_file.exists()
    env = clean_env(SHIPLANE_DATABASE_URL=f"sqlite+aiosqlite:///{db_file}", SHIPLANE_DATA_DIR=str(tmp_path / "data"))
    result = run_cli(["db", "upgrade"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "newest migration" in result.stdout
    tables, versions = _sqlite_tables(db_file)
    assert CORE_TABLES | {"alembic_version"} <= tables
    assert versions == [head_revision()]

    # Running it again is a no-op, not an error.
    again = run_cli(["db", "upgrade"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert _sqlite_tables(db_file)[1] == [head_revision()]


@pytest.mark.skipif(not PG_URL, reason="needs SHIPLANE_TEST_DATABASE_URL (PostgreSQL)")
def test_db_upgrade_creates_the_schema_on_a_fresh_postgres_database(tmp_path: Path) -> None:
    assert PG_URL is not None
    name = f"shiplane_cli_{uuid.uuid4().hex[:12]}"
    _pg_admin(PG_URL, f'CREATE DATABASE "{name}"')
    try:
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        env = clean_env(SHIPLANE_DATABASE_URL=url, SHIPLANE_DATA_DIR=str(tmp_path / "data"))
        result = run_cli(["db", "upgrade"], env, tmp_path)
        assert result.returncode == 0, result.stderr
        tables = {r[0] for r in run_sql(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert CORE_TABLES | {"alembic_version"} <= tables
        assert [r[0] for r in run_sql(url, "SELECT version_num FROM alembic_version")] == [head_revision()]
    finally:
        _pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_serve_in_production_without_secrets_refuses_to_start(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    env = clean_env(SHIPLANE_MODE="production", SHIPLANE_DATA_DIR=str(data_dir))
    result = run_cli(["serve", "--port", str(port)], env, tmp_path, timeout=60)
    assert result.returncode != 0
    message = result.stderr
    assert "refusing to start in production mode" in message
    for missing in ("SHIPLANE_AUTH_HS_SECRET", "SHIPLANE_ENCRYPTION_KEY", "SHIPLANE_DATABASE_URL"):
        assert missing in message, message
    assert "Traceback" not in message
    # Nothing was started or created: no token printed, no data dir, nobody on the port.
    assert not JWT_RE.search(result.stdout + result.stderr)
    assert not data_dir.exists()
    assert not port_is_open(port)


def test_serve_in_production_refuses_a_short_secret(tmp_path: Path) -> None:
    env = clean_env(
        SHIPLANE_MODE="production",
        SHIPLANE_DATA_DIR=str(tmp_path / "data"),
        SHIPLANE_AUTH_HS_SECRET="short",
        SHIPLANE_ENCRYPTION_KEY="k" * 44,
        SHIPLANE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
    )
    result = run_cli(["serve", "--port", str(free_port())], env, tmp_path, timeout=60)
    assert result.returncode != 0
    assert "shorter than 32 characters" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_serve_in_development_creates_its_data_dir_and_prints_a_working_token(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh-data"
    assert not data_dir.exists()
    env = clean_env(SHIPLANE_DATA_DIR=str(data_dir), SHIPLANE_RATE_LIMIT_ENABLED="false")
    server = start_server(env, tmp_path / "run", name="dev")
    try:
        output = server.output()
        assert "development mode" in output
        tokens = JWT_RE.findall(output)
        assert tokens, output
        token = tokens[0]
        assert (data_dir / "shiplane.db").is_file()
        assert (data_dir / "dev-jwt-secret").is_file()

        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            response = client.get("/api/v1/environments", headers=headers)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["success"] is True and body["data"] == []
            created = client.post("/api/v1/environments", json={"name": "dev"}, headers=headers)
            assert created.status_code == 201, created.text
            assert created.json()["data"]["tenantId"] == "demo"
            assert client.get("/api/v1/environments").status_code == 401
            assert client.get("/readyz").status_code == 200

        # The token is signed with the secret the server persisted in its data dir.
        secret = (data_dir / "dev-jwt-secret").read_text().strip()
        claims = jose_jwt.decode(token, secret, algorithms=["HS256"], audience="shiplane")
        assert claims["tenant_id"] == "demo" and claims["roles"] == ["admin"]
    finally:
        server.stop()
    assert server.process.returncode is not None

    # The database the server created holds the audited change.
    verify = run_cli(["audit", "verify"], env, tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # Two: the environment, and the registration of the local agent `shiplane serve` runs.
    assert "OK: 1 tenant chain(s), 2 event(s)" in verify.stdout


def test_serve_runs_a_local_agent_that_checks_a_local_target(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = clean_env(SHIPLANE_DATA_DIR=str(data_dir), SHIPLANE_RATE_LIMIT_ENABLED="false")
    server = start_server(env, tmp_path / "run", name="dev-agent")
    try:
        token = JWT_RE.findall(server.output())[0]
        headers = {"Authorization": f"Bearer {token}"}
        site = tmp_path / "site"
        site.mkdir()
        with httpx.Client(base_url=server.url, timeout=60.0, headers=headers) as client:
            deadline = time.monotonic() + 60
            local: dict[str, Any] = {}
            while time.monotonic() < deadline and local.get("status") != "online":
                agents = client.get("/api/v1/agents").json()["data"]
                local = next((a for a in agents if a["name"] == "local"), {})
                time.sleep(0.1)
            assert local["status"] == "online" and local["capabilities"] == ["local", "ssh"]  # no scripts by default
            env_id = client.post("/api/v1/environments", json={"name": "dev"}).json()["data"]["id"]
            body = {
                "name": "here",
                "environmentId": env_id,
                "type": "local",
                "agentId": local["id"],
                "config": {"directory": str(site)},
            }
            target = client.post("/api/v1/targets", json=body).json()["data"]
            checked = client.post(f"/api/v1/targets/{target['id']}/health-check")
            assert checked.status_code == 200, checked.text
            assert checked.json()["data"]["health"]["status"] == "healthy"
    finally:
        server.stop()
