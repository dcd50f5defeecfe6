"""Shared fixtures: a migrated database (SQLite file, or a fresh PostgreSQL database
when SHIPLANE_TEST_DATABASE_URL is set), the app, and callers with tokens.

Tests isolate themselves by tenant: every ``tenant`` fixture is a new random id, so
tests share one database without seeing each other's rows.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shiplane.app import create_app
from shiplane.platform.jwt import mint_token
from shiplane.platform.migrate import upgrade
from shiplane.platform.settings import Settings
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests import openapi_conformance

PG_URL = os.environ.get("SHIPLANE_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("SHIPLANE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _pg_admin(url: str, statement: str) -> None:
    async def run() -> None:
        engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(run())


# Each test run migrates one template database once; every new database is a copy of it
# (PostgreSQL's CREATE DATABASE ... TEMPLATE, SQLite's backup API): running the whole
# migration chain for each of hundreds of databases was most of the suite's time.
_TEMPLATES: dict[str, str] = {}


def _pg_template() -> str:
    if "pg" not in _TEMPLATES:
        name = f"shiplane_template_{uuid.uuid4().hex[:12]}"
        _pg_admin(PG_URL or "", f'CREATE DATABASE "{name}"')
        atexit.register(_pg_admin, PG_URL or "", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        upgrade(make_url(PG_URL or "").set(database=name).render_as_string(hide_password=False))
        _TEMPLATES["pg"] = name
    return _TEMPLATES["pg"]


def _sqlite_template() -> str:
    if "sqlite" not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix="shiplane-template-"))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / "template.db"
        upgrade(f"sqlite+aiosqlite:///{path}")
        _TEMPLATES["sqlite"] = str(path)
    return _TEMPLATES["sqlite"]


def make_database(tmp_path: Path) -> Iterator[str]:
    """A new, migrated database (a copy of the run's migrated template); dropped
    afterwards on PostgreSQL."""
    if PG_URL:
        template = _pg_template()
        name = f"shiplane_test_{uuid.uuid4().hex[:12]}"
        _pg_admin(PG_URL, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        try:
            yield url
        finally:
            _pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = tmp_path / "shiplane.db"
        with closing(sqlite3.connect(_sqlite_template())) as source, closing(sqlite3.connect(path)) as copy:
            source.backup(copy)  # every page, the WAL's included: a consistent copy
        yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from make_database(tmp_path_factory.mktemp("db"))


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mode": "development",
        "data_dir": data_dir,
        "database_url": database_url,
        "auth_hs_secret": "test-secret-" + "x" * 40,
        "encryption_key": "test-encryption-key",
        # Background health probes would add plugin calls that tests count; tests that
        # are about them turn them on.
        "plugin_health_probe_seconds": 0,
        # The events test plugin records what it receives in the test process's memory,
        # so it runs in process; every other third-party plugin runs in its workers.
        "plugins_in_process": ["test-events"],
        # A/B releases are driven often, so their tests move in seconds.
        "ab_sweep_seconds": 0.2,
        "audit_report_sweep_seconds": 1,
        "audit_stream_seconds": 0.2,
    }
    values.update(overrides)
    if values["mode"] == "production" and values.get("signing_key_path") is None:
        from shiplane.platform.signing import _write_new_key

        key = Path(data_dir) / "signing-key.pem"
        if not key.exists():
            _write_new_key(key)
        values["signing_key_path"] = key
    return Settings(**values).prepare()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(database_url, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@dataclass
class Caller:
    """A client bound to one token: ``caller.get(path)`` etc. add the Authorization header."""

    client: TestClient
    token: str
    tenant_id: str
    user_id: str
    headers: dict[str, str] = field(default_factory=dict)

    def _h(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **self.headers, **(extra or {})}

    def _checked(self, method: str, response: Any) -> Any:
        # Every response is held to the OpenAPI document (tests/openapi_conformance.py).
        openapi_conformance.check(self.client.app, method, response)
        return response

    def get(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self._checked("GET", self.client.get(path, headers=self._h(headers), **kw))

    def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self._checked("POST", self.client.post(path, json=json, headers=self._h(headers), **kw))

    def put(self, path: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self._checked("PUT", self.client.put(path, json=json, headers=self._h(headers), **kw))

    def delete(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self._checked("DELETE", self.client.delete(path, headers=self._h(headers), **kw))


CallerFactory = Callable[..., Caller]


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_caller(client: TestClient, settings: Settings, tenant: str) -> CallerFactory:
    def factory(
        roles: list[str] | None = None,
        *,
        tenant_id: str | None = None,
        user_id: str | None = None,
        permissions: list[str] | None = None,
        tier: str | None = None,
    ) -> Caller:
        tid = tenant_id or tenant
        uid = user_id or f"user-{uuid.uuid4().hex[:8]}"
        token = mint_token(settings, user_id=uid, tenant_id=tid, roles=roles or [], permissions=permissions, tier=tier)
        return Caller(client, token, tid, uid)

    return factory


@pytest.fixture
def admin(make_caller: CallerFactory) -> Caller:
    return make_caller(["admin"])


@pytest.fixture
def viewer(make_caller: CallerFactory) -> Caller:
    return make_caller(["viewer"])


@pytest.fixture
def other_admin(make_caller: CallerFactory) -> Caller:
    """An admin of a different tenant."""
    return make_caller(["admin"], tenant_id=f"tenant-{uuid.uuid4().hex[:10]}")


def run_sql(database_url: str, statement: str, params: dict[str, Any] | None = None) -> list[Any]:
    """Raw SQL for tests that must tamper with or inspect storage directly."""

    async def run() -> list[Any]:
        engine = create_async_engine(database_url, poolclass=NullPool)
        async with engine.begin() as conn:
            result = await conn.execute(text(statement), params or {})
            rows = list(result.fetchall()) if result.returns_rows else []
        await engine.dispose()
        return rows

    return asyncio.run(run())


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code, body
    assert body["meta"]["requestId"] == response.headers["x-request-id"]
    return body["error"]


def once_on_sqlite(why: str) -> pytest.MarkDecorator:
    """Skip under ``SHIPLANE_TEST_DATABASE_URL``: for tests whose subject is not the
    storage (a browser, a command-line client) and whose API calls the API tests already
    run on both databases; CI's 45 minutes cannot hold them twice."""
    return pytest.mark.skipif(bool(os.environ.get("SHIPLANE_TEST_DATABASE_URL")), reason=f"runs once, on SQLite: {why}")
