"""The path from a real OCI registry to a sealed release, through the API.

Debian's docker-registry runs on a loopback port with htpasswd basic auth; the test
pushes images (and a multi-arch index) over the registry's HTTP API and checks that
what Shiplane stores and seals is exactly what the registry computed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.releases import COMPONENTS, INTEGRATIONS, RELEASES, component, sync, versions
from tests.conftest import Caller
from tests.oci_registry import Registry, start_registry, unavailable_reason

PASSWORD = "registry-pass-9f2c1e"


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


def test_registry_versions_become_a_sealed_release(admin: Caller, registry: Registry, tmp_path: Path) -> None:
    api_1 = registry.push_image("shop/api", "1.0.0")
    api_2 = registry.push_image("shop/api", "1.1.0")
    web = registry.push_index("shop/web", "2.0.0")
    created = admin.post(INTEGRATIONS, json={"name": "registry", "typeId": "oci-registry", "config": registry.config()})
    assert created.status_code == 201, created.text
    integration = created.json()["data"]
    assert integration["config"]["password"] == "***"

    found = admin.post(f"{INTEGRATIONS}/{integration['id']}/discover", json={})
    assert found.status_code == 200, found.text
    assert {"shop/api", "shop/web"} <= {item["reference"] for item in found.json()["data"]}

    api = component(admin, integration["id"], name="api", reference="shop/api")
    report = sync(admin, api["id"])
    assert {v["tag"]: v["digest"] for v in report["added"]} == {"1.0.0": api_1, "1.1.0": api_2}
    assert [v["tag"] for v in versions(admin, api["id"])] == ["1.1.0", "1.0.0"]

    # The tag 1.1.0 moves to another image: the sync reports it, the version shows it.
    moved = registry.push_image("shop/api", "1.1.0", content="a rebuilt image")
    assert moved != api_2
    report = sync(admin, api["id"])
    assert report["updated"] == [{"tag": "1.1.0", "digest": moved, "previousDigest": api_2}]

    # A multi-arch index is pinned by the index's own digest, not a platform manifest's.
    web_component = component(admin, integration["id"], name="web", reference="shop/web")
    sync(admin, web_component["id"])
    [stored] = versions(admin, web_component["id"])
    assert stored["digest"] == web and stored["digest"] not in registry.platform_digests("shop/web", "2.0.0")

    release = admin.post(
        f"{RELEASES}/from-latest", json={"name": "shop-1", "componentIds": [api["id"], web_component["id"]]}
    )
    assert release.status_code == 201, release.text
    pinned = {c["componentName"]: (c["version"], c["digest"]) for c in release.json()["data"]["components"]}
    assert pinned == {"api": ("1.1.0", moved), "web": ("2.0.0", web)}

    # The registry password is in no response and no audit entry.
    for text in (
        created.text,
        admin.get(f"{INTEGRATIONS}/{integration['id']}").text,
        admin.get(f"{COMPONENTS}/{api['id']}").text,
        release.text,
        admin.get("/api/v1/audit-events", params={"pageSize": 100}).text,
    ):
        assert PASSWORD not in text


def test_a_wrong_password_is_a_clear_error_and_keeps_the_versions(admin: Caller, registry: Registry) -> None:
    digest = registry.push_image("shop/worker", "0.1.0")
    created = admin.post(
        INTEGRATIONS, json={"name": "registry", "typeId": "oci-registry", "config": registry.config()}
    ).json()["data"]
    worker = component(admin, created["id"], name="worker", reference="shop/worker")
    sync(admin, worker["id"])
    wrong = {**registry.config(), "password": "not-the-password"}
    replaced = admin.put(
        f"{INTEGRATIONS}/{created['id']}", json={"name": "registry", "typeId": "oci-registry", "config": wrong}
    )
    assert replaced.status_code == 200, replaced.text
    failed = admin.post(f"{COMPONENTS}/{worker['id']}/sync-versions")
    assert failed.status_code == 422 and failed.json()["error"]["code"] == "INTEGRATION_FAILED"
    assert "unauthorized" in failed.json()["error"]["message"].lower()
    assert "not-the-password" not in failed.text
    assert [(v["tag"], v["digest"]) for v in versions(admin, worker["id"])] == [("0.1.0", digest)]
    tested = admin.post(f"{INTEGRATIONS}/{created['id']}/test").json()["data"]
    assert tested["ok"] is False and "not-the-password" not in str(tested)
