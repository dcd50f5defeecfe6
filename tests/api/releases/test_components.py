"""Components: CRUD, sync-versions against a real git repository, versions in order."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.plugins import disable
from tests.api.releases import (
    COMPONENTS,
    INTEGRATIONS,
    Repo,
    component,
    digest_of,
    git_integration,
    sync,
    versions,
)
from tests.conftest import Caller, assert_error


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def test_sync_stores_every_tag_with_its_commit_and_reports_changes(admin: Caller, repo: Repo) -> None:
    first = repo.commit()
    repo.tag("v1.0.0", annotated=True)
    repo.tag("1.2.0")
    second = repo.commit()
    repo.tag("v1.10.0")
    repo.tag("v1.10.0-rc.1")
    repo.tag("nightly")
    comp = component(admin, git_integration(admin, repo.path)["id"])
    assert comp["lastSync"] == {"status": "never", "message": "", "at": None} and comp["versionCount"] == 0

    report = sync(admin, comp["id"])
    assert sorted(v["tag"] for v in report["added"]) == ["1.2.0", "nightly", "v1.0.0", "v1.10.0", "v1.10.0-rc.1"]
    assert report["updated"] == [] and report["removed"] == [] and report["unchanged"] == 0
    listed = versions(admin, comp["id"])
    # Newest first by semver (v1.10.0 above v1.2.0 above its rc... numerically, not as text), then the rest.
    assert [v["tag"] for v in listed] == ["v1.10.0", "v1.10.0-rc.1", "1.2.0", "v1.0.0", "nightly"]
    by_tag = {v["tag"]: v for v in listed}
    assert by_tag["v1.0.0"]["digest"] == digest_of(first)  # the commit, not the annotated tag object
    assert by_tag["v1.10.0"]["digest"] == digest_of(second)
    assert by_tag["v1.0.0"]["createdAt"] is not None
    shown = admin.get(f"{COMPONENTS}/{comp['id']}").json()["data"]
    assert shown["versionCount"] == 5 and shown["lastSync"]["status"] == "ok"
    assert shown["version"] == 1  # a sync is not an edit of the component

    # A moved tag shows its new commit; a deleted tag is removed; a new one is added.
    third = repo.commit()
    repo.tag("1.2.0", force=True)
    repo.git("tag", "-d", "nightly")
    repo.tag("v2.0.0")
    report = sync(admin, comp["id"])
    assert report["added"] == [{"tag": "v2.0.0", "digest": digest_of(third)}]
    assert report["removed"] == [{"tag": "nightly", "digest": digest_of(second)}]
    assert report["updated"] == [{"tag": "1.2.0", "digest": digest_of(third), "previousDigest": digest_of(first)}]
    assert report["unchanged"] == 3
    assert {v["tag"]: v["digest"] for v in versions(admin, comp["id"])}["1.2.0"] == digest_of(third)

    # The list conventions: pages, sort, filter.
    page = admin.get(f"{COMPONENTS}/{comp['id']}/versions", params={"pageSize": 2})
    body = page.json()
    assert [v["tag"] for v in body["data"]] == ["v2.0.0", "v1.10.0"]
    assert body["meta"]["pagination"]["totalItems"] == 5 and body["meta"]["pagination"]["hasNext"] is True
    oldest = versions(admin, comp["id"], sort="precedence")
    assert oldest[0]["tag"] == "v1.0.0"
    only = versions(admin, comp["id"], filter='{"tag": {"$startsWith": "v1"}}')
    assert {v["tag"] for v in only} == {"v1.0.0", "v1.10.0", "v1.10.0-rc.1"}


@pytest.mark.parametrize(
    ("pattern", "kind", "expected"),
    [
        (r"v[0-9]+\.[0-9]+\.[0-9]+", "regex", ["v1.10.0", "v1.0.0"]),
        ("~1.2", "semver", ["1.2.0"]),
        ("^1.2", "semver", ["v1.10.0", "1.2.0"]),
        (">=1.0.0 <2.0.0", "semver", ["v1.10.0", "1.2.0", "v1.0.0"]),
    ],
)
def test_the_version_pattern_chooses_the_tags(
    admin: Caller, repo: Repo, pattern: str, kind: str, expected: list[str]
) -> None:
    repo.commit()
    for tag in ("v1.0.0", "1.2.0", "v1.10.0", "v1.10.0-rc.1", "v2.0.0-beta", "nightly"):
        repo.tag(tag)
    comp = component(admin, git_integration(admin, repo.path)["id"], versionPattern=pattern, versionPatternType=kind)
    report = sync(admin, comp["id"])
    assert report["listed"] == 6 and report["skipped"] == 6 - len(expected)
    assert [v["tag"] for v in versions(admin, comp["id"])] == expected


@pytest.mark.parametrize(
    ("pattern", "kind", "says"),
    [
        ("(a+)\\1", "regex", "not a supported regular expression"),
        ("x" * 1001, "regex", "at most"),
        ("~>= nonsense", "semver", "not a semver range"),
    ],
)
def test_a_pattern_that_cannot_run_is_a_400_naming_it(
    admin: Caller, repo: Repo, pattern: str, kind: str, says: str
) -> None:
    integration = git_integration(admin, repo.path)
    body = {"name": "api", "integrationId": integration["id"], "reference": ".", "versionPattern": pattern}
    error = assert_error(admin.post(COMPONENTS, json={**body, "versionPatternType": kind}), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["field"] == "versionPattern"
    assert says in error["validationErrors"][0]["message"]


def test_a_failed_sync_keeps_the_stored_versions(admin: Caller, repo: Repo, tmp_path: Path) -> None:
    commit = repo.commit()
    repo.tag("v1.0.0")
    integration = git_integration(admin, repo.path)
    comp = component(admin, integration["id"])
    sync(admin, comp["id"])
    # The repository goes away: a clear error, and the versions stay as they were.
    repo.path.rename(tmp_path / "moved")
    error = assert_error(admin.post(f"{COMPONENTS}/{comp['id']}/sync-versions"), 422, "INTEGRATION_FAILED")
    assert error["details"]["integrationId"] == integration["id"] and error["details"]["plugin"] == "git"
    assert [(v["tag"], v["digest"]) for v in versions(admin, comp["id"])] == [("v1.0.0", digest_of(commit))]
    shown = admin.get(f"{COMPONENTS}/{comp['id']}").json()["data"]
    assert shown["lastSync"]["status"] == "failed" and shown["lastSync"]["message"]
    metrics = admin.client.get("/metrics").text
    assert 'shiplane_component_syncs_total{outcome="integration_failed"}' in metrics
    assert 'shiplane_component_syncs_total{outcome="ok"}' in metrics
    assert shown["versionCount"] == 1

    # A disabled plugin: 422 PLUGIN_DISABLED, versions intact, no new component on it.
    disable(admin, "git")
    assert_error(admin.post(f"{COMPONENTS}/{comp['id']}/sync-versions"), 422, "PLUGIN_DISABLED")
    assert len(versions(admin, comp["id"])) == 1
    body = {"name": "web", "integrationId": integration["id"], "reference": "."}
    assert_error(admin.post(COMPONENTS, json=body), 422, "PLUGIN_DISABLED")


def test_references_to_unknown_or_unusable_integrations_are_400s(
    admin: Caller, other_admin: Caller, repo: Repo
) -> None:
    theirs = git_integration(other_admin, repo.path)
    body = {"name": "api", "integrationId": theirs["id"], "reference": "."}
    error = assert_error(admin.post(COMPONENTS, json=body), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["field"] == "integrationId"
    # An integration type that cannot list versions (acme-registry) is refused too.
    admin.post("/api/v1/plugins/acme/enable")
    acme = admin.post(
        INTEGRATIONS,
        json={
            "name": "acme",
            "typeId": "acme-registry",
            "config": {"url": "https://r.example", "apiToken": "t0ken-x-long-enough-123"},
        },
    ).json()["data"]
    error = assert_error(admin.post(COMPONENTS, json={**body, "integrationId": acme["id"]}), 400, "VALIDATION_ERROR")
    assert "does not list versions" in error["validationErrors"][0]["message"]


def test_crud_conflicts_and_tenant_isolation(admin: Caller, other_admin: Caller, viewer: Caller, repo: Repo) -> None:
    repo.commit()
    repo.tag("v1.0.0")
    integration = git_integration(admin, repo.path)
    comp = component(admin, integration["id"])
    assert_error(
        admin.post(COMPONENTS, json={"name": "api", "integrationId": integration["id"], "reference": "."}),
        409,
        "ALREADY_EXISTS",
    )
    replaced = admin.put(
        f"{COMPONENTS}/{comp['id']}",
        json={
            "name": "api",
            "integrationId": integration["id"],
            "reference": ".",
            "description": "the API",
            "version": 1,
        },
    )
    assert replaced.status_code == 200 and replaced.json()["data"]["description"] == "the API"
    stale = {"name": "api", "integrationId": integration["id"], "reference": ".", "version": 1}
    assert_error(admin.put(f"{COMPONENTS}/{comp['id']}", json=stale), 409, "VERSION_CONFLICT")
    # The integration cannot go while a component uses it.
    assert_error(admin.delete(f"{INTEGRATIONS}/{integration['id']}"), 409, "RESOURCE_IN_USE")
    # Another tenant sees nothing of it.
    for path in (f"{COMPONENTS}/{comp['id']}", f"{COMPONENTS}/{comp['id']}/versions"):
        assert_error(other_admin.get(path), 404, "NOT_FOUND")
    assert_error(other_admin.post(f"{COMPONENTS}/{comp['id']}/sync-versions"), 404, "NOT_FOUND")
    assert_error(other_admin.delete(f"{COMPONENTS}/{comp['id']}"), 404, "NOT_FOUND")
    assert other_admin.get(COMPONENTS).json()["data"] == []
    # A viewer reads but does not change.
    assert viewer.get(f"{COMPONENTS}/{comp['id']}").status_code == 200
    assert_error(viewer.post(f"{COMPONENTS}/{comp['id']}/sync-versions"), 403, "FORBIDDEN")
    assert admin.delete(f"{COMPONENTS}/{comp['id']}").status_code == 204
    assert admin.delete(f"{INTEGRATIONS}/{integration['id']}").status_code == 204


def test_the_precedence_key_orders_as_semver_says() -> None:
    from shiplane.components.versions import precedence

    # SemVer 2.0 §11's own example, lowest first, with a leading v on some.
    ordered = [
        "1.0.0-alpha",
        "v1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "v1.0.0",
        "1.0.1",
        "1.10.0",
        "2.0.0",
    ]
    keys = [precedence(tag, None) for tag in ordered]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # Tags that are not semantic versions come below every semantic version; untimed, the tag decides.
    others = sorted(precedence(tag, None) for tag in ("main", "latest", "sha-0a1b"))
    assert others == [precedence(tag, None) for tag in ("latest", "main", "sha-0a1b")]
    assert max(others) < min(keys)


def test_a_sync_of_thousands_of_versions_upserts_in_bulk(admin: Caller, repo: Repo) -> None:
    import subprocess

    commit = repo.commit()
    script = "".join(f"create refs/tags/v1.{i // 100}.{i % 100} {commit}\n" for i in range(2000))
    subprocess.run(["git", "update-ref", "--stdin"], cwd=repo.path, input=script, text=True, check=True)
    comp = component(admin, git_integration(admin, repo.path)["id"])
    report = sync(admin, comp["id"])
    assert len(report["added"]) == 2000 and report["listed"] == 2000
    newer = repo.commit()
    repo.tag("v1.19.99", force=True)
    repo.git("tag", "-d", "v1.0.0")
    report = sync(admin, comp["id"])
    assert report["updated"] == [{"tag": "v1.19.99", "digest": digest_of(newer), "previousDigest": digest_of(commit)}]
    assert report["removed"] == [{"tag": "v1.0.0", "digest": digest_of(commit)}]
    assert report["added"] == [] and report["unchanged"] == 1998
    page = admin.get(f"{COMPONENTS}/{comp['id']}/versions", params={"pageSize": 3}).json()
    assert [v["tag"] for v in page["data"]] == ["v1.19.99", "v1.19.98", "v1.19.97"]
    assert page["meta"]["pagination"]["totalItems"] == 1999
    assert admin.get(f"{COMPONENTS}/{comp['id']}").json()["data"]["versionCount"] == 1999
