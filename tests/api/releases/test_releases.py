"""Releases: drafts, sealing with pinned digests, immutability, compare, from-latest, deprecate."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from tests.api.releases import RELEASES, Repo, component, digest_of, git_integration, sync
from tests.conftest import Caller, assert_error, run_sql


@pytest.fixture
def shop(admin: Caller, tmp_path: Path) -> dict[str, Any]:
    """Two components (api, web) on two repositories, each with v1.0.0 and v1.1.0."""
    made: dict[str, Any] = {"repos": {}, "components": {}, "commits": {}}
    for name in ("api", "web"):
        repo = Repo(tmp_path / name)
        for tag in ("v1.0.0", "v1.1.0"):
            made["commits"][(name, tag)] = repo.commit()
            repo.tag(tag)
        comp = component(admin, git_integration(admin, repo.path, name=f"{name}-repo")["id"], name=name)
        sync(admin, comp["id"])
        made["repos"][name], made["components"][name] = repo, comp
    return made


def entries(shop: dict[str, Any], **versions: str) -> list[dict[str, Any]]:
    return [{"componentId": shop["components"][name]["id"], "version": tag} for name, tag in versions.items()]


def create(admin: Caller, name: str, components: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    response = admin.post(RELEASES, json={"name": name, "components": components, **fields})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def expected_digest(shop: dict[str, Any], **versions: str) -> str:
    """The documented canonical form, computed independently of the server's code."""
    components = sorted(
        (
            {
                "componentId": shop["components"][name]["id"],
                "name": name,
                "reference": ".",
                "version": tag,
                "digest": digest_of(shop["commits"][(name, tag)]),
            }
            for name, tag in versions.items()
        ),
        key=lambda c: c["name"],
    )
    document = {"mediaType": "application/vnd.shiplane.release.manifest.v1+json", "components": components}
    return "sha256:" + hashlib.sha256(rfc8785.dumps(document)).hexdigest()


def test_a_draft_is_sealed_once_then_immutable(admin: Caller, shop: dict[str, Any]) -> None:
    draft = create(admin, "shop-1.0", entries(shop, web="v1.0.0", api="v1.0.0"))
    assert draft["state"] == "draft" and draft["manifestDigest"] is None
    assert [c["componentName"] for c in draft["components"]] == ["api", "web"]
    # A draft changes freely; state ready seals it.
    sealed = admin.put(
        f"{RELEASES}/{draft['id']}",
        json={"name": "shop-1.0", "components": entries(shop, api="v1.1.0", web="v1.0.0"), "state": "ready"},
    )
    assert sealed.status_code == 200, sealed.text
    data = sealed.json()["data"]
    assert data["state"] == "ready" and data["sealedBy"] == admin.user_id and data["sealedAt"]
    assert data["manifestDigest"] == expected_digest(shop, api="v1.1.0", web="v1.0.0")
    pinned = {c["componentName"]: c["digest"] for c in data["components"]}
    assert pinned == {
        "api": digest_of(shop["commits"][("api", "v1.1.0")]),
        "web": digest_of(shop["commits"][("web", "v1.0.0")]),
    }
    # Sealed: no PUT, whatever it says.
    again = {"name": "shop-1.0", "components": entries(shop, api="v1.0.0", web="v1.0.0")}
    error = assert_error(admin.put(f"{RELEASES}/{draft['id']}", json=again), 409, "INVALID_STATE")
    assert "immutable" in error["message"]
    # A tag that moves later does not change the sealed release.
    shop["repos"]["api"].commit()
    shop["repos"]["api"].tag("v1.1.0", force=True)
    sync(admin, shop["components"]["api"]["id"])
    shown = admin.get(f"{RELEASES}/{draft['id']}").json()["data"]
    assert shown["manifestDigest"] == data["manifestDigest"] and shown["components"] == data["components"]


def test_the_manifest_digest_is_stable_and_follows_every_component_digest(admin: Caller, shop: dict[str, Any]) -> None:
    one = create(admin, "a", entries(shop, api="v1.0.0", web="v1.0.0"), state="ready")
    # Same components and digests, another name and order: the same digest.
    two = create(admin, "b", entries(shop, web="v1.0.0", api="v1.0.0"), state="ready", description="x")
    assert one["manifestDigest"] == two["manifestDigest"] == expected_digest(shop, api="v1.0.0", web="v1.0.0")
    # The tag v1.0.0 of web moves to another commit: same version, other digest, other manifest digest.
    moved = shop["repos"]["web"].commit()
    shop["repos"]["web"].tag("v1.0.0", force=True)
    sync(admin, shop["components"]["web"]["id"])
    three = create(admin, "c", entries(shop, api="v1.0.0", web="v1.0.0"), state="ready")
    assert three["manifestDigest"] != one["manifestDigest"]
    assert {c["componentName"]: c["digest"] for c in three["components"]}["web"] == digest_of(moved)


def test_component_problems_are_all_reported_with_their_fields(
    admin: Caller, other_admin: Caller, shop: dict[str, Any], tmp_path: Path
) -> None:
    repo = Repo(tmp_path / "theirs")
    repo.commit()
    repo.tag("v9.0.0")
    theirs = component(other_admin, git_integration(other_admin, repo.path)["id"], name="theirs")
    sync(other_admin, theirs["id"])
    api = shop["components"]["api"]["id"]
    body = {
        "name": "bad",
        "components": [
            {"componentId": api, "version": "v9.9.9"},
            {"componentId": theirs["id"], "version": "v9.0.0"},  # another tenant's: unknown here
            {"componentId": shop["components"]["web"]["id"], "version": "v1.0.0", "digest": "git:" + "0" * 40},
            {"componentId": api, "version": "v1.0.0"},
        ],
    }
    error = assert_error(admin.post(RELEASES, json=body), 400, "VALIDATION_ERROR")
    fields = {e["field"]: e["code"] for e in error["validationErrors"]}
    assert fields == {
        "components.0.version": "unknown",
        "components.1.componentId": "unknown",
        "components.2.digest": "mismatch",
        "components.3.componentId": "duplicate",
    }
    assert admin.get(RELEASES).json()["data"] == []


def test_compare_lists_added_removed_and_changed(admin: Caller, shop: dict[str, Any], tmp_path: Path) -> None:
    repo = Repo(tmp_path / "worker")
    repo.commit()
    repo.tag("v0.1.0")
    worker = component(admin, git_integration(admin, repo.path, name="worker-repo")["id"], name="worker")
    sync(admin, worker["id"])
    old = create(admin, "old", entries(shop, api="v1.0.0", web="v1.0.0"), state="ready")
    new = create(
        admin,
        "new",
        [*entries(shop, api="v1.1.0"), {"componentId": worker["id"], "version": "v0.1.0"}],
        state="ready",
    )
    diff = admin.get(f"{RELEASES}/{old['id']}/compare/{new['id']}").json()["data"]
    assert diff["base"]["id"] == old["id"] and diff["other"]["id"] == new["id"] and diff["identical"] is False
    assert [c["componentName"] for c in diff["added"]] == ["worker"]
    assert [c["componentName"] for c in diff["removed"]] == ["web"]
    [changed] = diff["changed"]
    assert changed["componentName"] == "api"
    assert changed["from"]["version"] == "v1.0.0" and changed["to"]["version"] == "v1.1.0"
    assert changed["versionChanged"] and changed["digestChanged"]
    same = admin.get(f"{RELEASES}/{old['id']}/compare/{old['id']}").json()["data"]
    assert same["identical"] is True and same["changed"] == same["added"] == same["removed"] == []


def test_from_latest_seals_the_newest_version_of_each_component(admin: Caller, shop: dict[str, Any]) -> None:
    ids = [shop["components"]["api"]["id"], shop["components"]["web"]["id"]]
    response = admin.post(f"{RELEASES}/from-latest", json={"name": "latest", "componentIds": ids})
    assert response.status_code == 201, response.text
    release = response.json()["data"]
    assert release["state"] == "ready"
    assert {c["componentName"]: c["version"] for c in release["components"]} == {"api": "v1.1.0", "web": "v1.1.0"}
    assert release["manifestDigest"] == expected_digest(shop, api="v1.1.0", web="v1.1.0")
    # Without a name one is made; an unknown component is a 400 naming its place.
    unnamed = admin.post(f"{RELEASES}/from-latest", json={"componentIds": ids[:1]})
    assert unnamed.status_code == 201 and unnamed.json()["data"]["name"].startswith("latest-")
    error = assert_error(
        admin.post(f"{RELEASES}/from-latest", json={"componentIds": [ids[0], "nope"]}), 400, "VALIDATION_ERROR"
    )
    assert [e["field"] for e in error["validationErrors"]] == ["componentIds.1"]


def test_deprecate_state_and_delete(admin: Caller, shop: dict[str, Any], database_url: str) -> None:
    draft = create(admin, "draft", entries(shop, api="v1.0.0"))
    assert_error(admin.post(f"{RELEASES}/{draft['id']}/deprecate", json={"reason": "bad"}), 409, "INVALID_STATE")
    release = create(admin, "r1", entries(shop, api="v1.0.0"), state="ready")
    assert_error(admin.post(f"{RELEASES}/{release['id']}/deprecate", json={}), 400, "VALIDATION_ERROR")
    deprecated = admin.post(f"{RELEASES}/{release['id']}/deprecate", json={"reason": "CVE-2026-1234 in api"})
    assert deprecated.status_code == 200, deprecated.text
    data = deprecated.json()["data"]
    assert data["state"] == "deprecated" and data["deprecationReason"] == "CVE-2026-1234 in api"
    assert data["deprecatedBy"] == admin.user_id
    assert_error(admin.post(f"{RELEASES}/{release['id']}/deprecate", json={"reason": "x"}), 409, "INVALID_STATE")

    env = admin.post("/api/v1/environments", json={"name": "dev", "displayName": "Dev", "order": 1})
    assert env.status_code == 201, env.text
    state = admin.get(f"{RELEASES}/{release['id']}/state").json()["data"]
    assert state["releaseState"] == "deprecated"
    assert [(e["environmentName"], e["state"]) for e in state["environments"]] == [("dev", "never")]

    # A release an environment runs (set by a deployment; here directly) cannot be deleted.
    run_sql(
        database_url,
        "UPDATE environments SET current_release_id = :r WHERE id = :e",
        {"r": release["id"], "e": env.json()["data"]["id"]},
    )
    state = admin.get(f"{RELEASES}/{release['id']}/state").json()["data"]
    assert state["environments"][0]["state"] == "deployed"
    assert_error(admin.delete(f"{RELEASES}/{release['id']}"), 409, "INVALID_STATE")
    assert admin.delete(f"{RELEASES}/{draft['id']}").status_code == 204
    assert_error(admin.get(f"{RELEASES}/{draft['id']}"), 404, "NOT_FOUND")
    # A component in a release cannot be deleted.
    error = assert_error(admin.delete(f"/api/v1/components/{shop['components']['api']['id']}"), 409, "RESOURCE_IN_USE")
    assert error["details"]["releases"] == ["r1"]


def test_another_tenant_sees_no_release(
    admin: Caller, other_admin: Caller, viewer: Caller, shop: dict[str, Any]
) -> None:
    release = create(admin, "r1", entries(shop, api="v1.0.0"), state="ready")
    other = create(admin, "r2", entries(shop, web="v1.0.0"))
    rid = release["id"]
    for path in (f"{RELEASES}/{rid}", f"{RELEASES}/{rid}/state", f"{RELEASES}/{rid}/compare/{other['id']}"):
        assert_error(other_admin.get(path), 404, "NOT_FOUND")
    assert_error(other_admin.post(f"{RELEASES}/{rid}/deprecate", json={"reason": "x"}), 404, "NOT_FOUND")
    assert_error(other_admin.delete(f"{RELEASES}/{other['id']}"), 404, "NOT_FOUND")
    assert other_admin.get(RELEASES).json()["data"] == []
    # The other tenant's own release compared with ours: ours is not found.
    assert viewer.get(f"{RELEASES}/{rid}").status_code == 200
    assert_error(viewer.post(f"{RELEASES}/{rid}/deprecate", json={"reason": "x"}), 403, "FORBIDDEN")
    listed = admin.get(RELEASES, params={"filter": '{"state": "ready"}'}).json()["data"]
    assert [r["name"] for r in listed] == ["r1"]
