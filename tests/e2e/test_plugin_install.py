"""Installing a plugin distribution is all it takes; uninstalling it is all it takes to remove it.

A real ``shiplane serve`` process is started with a ``PYTHONPATH`` that holds only a
fresh folder into which this test pip-installs the example vendor distribution
(examples/acme-plugin). Nothing in core changes: the server discovers ``acme``
through its entry point. Then the distribution is removed from the folder, the
server restarted, and ``acme`` is gone (while objects that used it say so).

The test process itself has the suite's plugin site (SHIPLANE_TEST_PLUGIN_SITE) on
``sys.path``; the server must not: its environment is built explicitly.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from shiplane.platform.jwt import mint_token
from shiplane.platform.settings import Settings

from tests.conftest import make_database, once_on_sqlite
from tests.plugin_site import pip_install_into
from tests.servers import Server, production_env, start_server

pytestmark = [pytest.mark.slow, once_on_sqlite("installing a plugin distribution with pip")]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "acme-plugin"
SECRET = "plugin-install-secret-" + "p" * 40
ENCRYPTION_KEY = "plugin-install-encryption-key-" + "e" * 20
TOKEN_VALUE = f"acme-token-{uuid.uuid4().hex}"


def install_example(site: Path, scratch: Path) -> None:
    """pip-install ONLY the example distribution into ``site`` (from a copy, so the repo stays clean)."""
    source = scratch / "acme-plugin"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    pip_install_into(site, source)


def uninstall_example(site: Path) -> None:
    """``pip uninstall`` cannot act on a --target folder: remove the package and its metadata."""
    removed = [p for p in site.iterdir() if p.name.startswith(("acme_shiplane", "acme-shiplane"))]
    assert {p.name for p in removed} >= {"acme_shiplane"}
    assert any(p.name.endswith(".dist-info") for p in removed)
    for path in removed:
        shutil.rmtree(path)
    assert not [p for p in site.iterdir() if "acme" in p.name.lower()]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "db"
    folder.mkdir()
    yield from make_database(folder)


def api(server: Server, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.request(method, f"{server.url}/api/v1{path}", headers=headers, timeout=30.0, **kwargs)


def plugin_ids(server: Server, token: str) -> dict[str, dict[str, Any]]:
    response = api(server, token, "GET", "/plugins", params={"pageSize": 100})
    assert response.status_code == 200, response.text
    return {p["id"]: p for p in response.json()["data"]}


def test_installing_and_uninstalling_the_example_distribution(tmp_path: Path, database: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install_example(site, tmp_path / "src")
    assert (site / "acme_shiplane" / "plugin.py").exists()

    # PYTHONPATH is only the fresh folder: never the suite's plugin site.
    env = production_env(database, tmp_path / "data", SECRET, ENCRYPTION_KEY, PYTHONPATH=str(site))
    assert "SHIPLANE_TEST_PLUGIN_SITE" not in env
    token = mint_token(
        Settings(auth_hs_secret=SECRET),
        user_id="e2e-admin",
        tenant_id=f"tenant-{uuid.uuid4().hex[:10]}",
        roles=["admin"],
    )
    workdir = tmp_path / "servers"

    # Installed: acme is listed (disabled until enabled), with the metadata of its distribution.
    server = start_server(env, workdir, name="installed")
    try:
        plugins = plugin_ids(server, token)
        assert "acme" in plugins, server.output()[-3000:]
        acme = plugins["acme"]
        assert acme["version"] == "1.2.0"
        assert acme["vendor"] == "Acme Corp"
        assert acme["distribution"] == "acme-shiplane-plugin"
        assert acme["state"] == "disabled"
        assert acme["capabilities"]["integrationTypes"] == ["acme-registry"]
        assert plugins["builtin"]["state"] == "enabled"
        # The server did not see the suite's test plugins: its path is only what we gave it.
        assert not [p for p in plugins if p.startswith("test-")]

        assert api(server, token, "POST", "/plugins/acme/enable").status_code == 200
        types = api(server, token, "GET", "/integration-types").json()["data"]
        assert "acme-registry" in [t["id"] for t in types]
        created = api(
            server,
            token,
            "POST",
            "/plugin-instances",
            json={
                "name": "acme-prod",
                "pluginId": "acme",
                "capabilityKind": "integration_type",
                "capabilityId": "acme-registry",
                "config": {"url": "https://registry.acme.example", "apiToken": TOKEN_VALUE},
            },
        )
        assert created.status_code == 201, created.text
        instance_id = created.json()["data"]["id"]
    finally:
        server.stop()

    # Uninstalled: acme is gone, and what used it says so without revealing its secret.
    uninstall_example(site)
    server = start_server(env, workdir, name="uninstalled")
    try:
        plugins = plugin_ids(server, token)
        assert "acme" not in plugins
        assert plugins["builtin"]["state"] == "enabled"
        missing = api(server, token, "GET", "/plugins/acme")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
        types = api(server, token, "GET", "/integration-types").json()["data"]
        assert "acme-registry" not in [t["id"] for t in types]
        assert api(server, token, "GET", "/step-types/checksum").status_code == 404
        instance = api(server, token, "GET", f"/plugin-instances/{instance_id}")
        assert instance.status_code == 200, instance.text
        data = instance.json()["data"]
        assert data["status"] == "unavailable"
        assert data["problem"]["code"] == "PLUGIN_UNAVAILABLE"
        assert data["config"]["apiToken"] == "***"
        assert TOKEN_VALUE not in instance.text
        assert TOKEN_VALUE not in server.output()
    finally:
        server.stop()
