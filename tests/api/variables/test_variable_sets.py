"""Variable sets: secrets sealed and never shown, revisions, and the precedence of scoped
values, read from the snapshot a deployment keeps (the targets here have no agent, so
their tasks fail, but the job resolves and keeps the variables first)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.api.promotions import ENVIRONMENTS, environment, promote, sealed_release
from tests.api.promotions.test_promotions import finished, jobs_of
from tests.conftest import Caller, assert_error

SETS = "/api/v1/variable-sets"
SECRET = "s3cr3t-db-password-value"


def variable_set(caller: Caller, name: str, variables: list[dict[str, Any]]) -> dict[str, Any]:
    response = caller.post(SETS, json={"name": name, "variables": variables})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_secrets_are_sealed_kept_with_stars_and_never_shown(
    admin: Caller, viewer: Caller, other_admin: Caller, database_url: str
) -> None:
    created = variable_set(
        admin,
        "db",
        [{"name": "DB_URL", "value": "postgres://db"}, {"name": "DB_PASSWORD", "value": SECRET, "secret": True}],
    )
    assert [v["value"] for v in created["variables"]] == ["postgres://db", "***"] and created["revision"] == 1
    url = f"{SETS}/{created['id']}"
    # *** keeps the stored secret; a new revision.
    body = {
        "name": "db",
        "variables": [
            {"name": "DB_URL", "value": "postgres://db2"},
            {"name": "DB_PASSWORD", "value": "***", "secret": True},
        ],
    }
    replaced = admin.put(url, json=body)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["data"]["revision"] == 2
    stars_for_unknown = {"name": "db", "variables": [{"name": "OTHER", "value": "***", "secret": True}]}
    error = assert_error(admin.put(url, json=stars_for_unknown), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["field"] == "variables.0.value"
    for text in (
        admin.get(url).text,
        admin.get(SETS).text,
        admin.get("/api/v1/audit-events", params={"pageSize": 100}).text,
        json.dumps(
            [
                str(r)
                for r in __import__("tests.conftest", fromlist=["run_sql"]).run_sql(
                    database_url, "SELECT variables FROM variable_sets WHERE id = :id", {"id": created["id"]}
                )
            ]
        ),
    ):
        assert SECRET not in text
    assert_error(viewer.post(SETS, json={"name": "x"}), 403, "FORBIDDEN")
    assert viewer.get(url).status_code == 200
    assert_error(other_admin.get(url), 404, "NOT_FOUND")
    assert_error(other_admin.put(url, json=body), 404, "NOT_FOUND")
    assert_error(other_admin.delete(url), 404, "NOT_FOUND")
    dup = {"name": "dup", "variables": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}
    assert_error(admin.post(SETS, json=dup), 400, "VALIDATION_ERROR")
    assert admin.delete(url).status_code == 204


# (variable, its scope in the set "base" or "override", ...) -> the value each target gets.
PRECEDENCE = [
    # name, entries [(set, scope, value)], expected {target: value}
    ("UNSCOPED", [("base", {}, "base")], {"web-a": "base", "web-b": "base"}),
    (
        "LATER_SET_WINS",
        [("base", {}, "base"), ("override", {}, "override")],
        {"web-a": "override", "web-b": "override"},
    ),
    (
        "ENV_OVER_UNSCOPED",
        [("override", {}, "any"), ("base", {"environments": ["$env"]}, "env")],
        {"web-a": "env", "web-b": "env"},
    ),
    ("OTHER_ENV_IGNORED", [("base", {"environments": ["$other"]}, "other")], {}),
    (
        "LABELS_OVER_ENV",
        [("override", {"environments": ["$env"]}, "env"), ("base", {"targetLabels": {"zone": "eu"}}, "eu")],
        {"web-a": "eu", "web-b": "env"},
    ),
    (
        "TARGET_OVER_LABELS",
        [("override", {"targetLabels": {"zone": "eu"}}, "eu"), ("base", {"targets": ["$web-a"]}, "a")],
        {"web-a": "a"},
    ),
    (
        "ALL_OF_A_SCOPE",
        [("base", {"environments": ["$env"], "targetLabels": {"zone": "us"}}, "us-here")],
        {"web-b": "us-here"},
    ),
]


def test_precedence_and_the_snapshot_a_deployment_keeps(admin: Caller, tmp_path: Path) -> None:
    release = sealed_release(admin, tmp_path)
    env = environment(admin, "prod", 1)
    other = environment(admin, "qa", 2)
    targets = {}
    for name, zone in (("web-a", "eu"), ("web-b", "us")):
        body = {
            "name": name,
            "environmentId": env["id"],
            "type": "local",
            "config": {"directory": str(tmp_path / name)},
            "labels": {"zone": zone},
            "agentLabels": {"none": "such"},
        }
        response = admin.post("/api/v1/targets", json=body)
        assert response.status_code == 201, response.text
        targets[name] = response.json()["data"]["id"]
    ids = {"$env": env["id"], "$other": other["id"], **{f"${n}": i for n, i in targets.items()}}

    def bound(scope: dict[str, Any]) -> dict[str, Any]:
        return {k: [ids[x] for x in v] if isinstance(v, list) else v for k, v in scope.items()}

    sets: dict[str, list[dict[str, Any]]] = {"base": [], "override": []}
    for name, entries, _expected in PRECEDENCE:
        for set_name, scope, value in entries:
            sets[set_name].append({"name": name, "value": value, "scope": bound(scope)})
    sets["base"].append({"name": "DB_PASSWORD", "value": SECRET, "secret": True})
    made = {n: variable_set(admin, n, v) for n, v in sets.items()}
    updated = admin.put(
        f"{ENVIRONMENTS}/{env['id']}",
        json={"name": "prod", "order": 1, "variableSetIds": [made["base"]["id"], made["override"]["id"]]},
    )
    assert updated.status_code == 200, updated.text

    promotion = promote(admin, release["id"], env["id"]).json()["data"]
    finished(admin, promotion["id"])
    [job] = jobs_of(admin, promotion["id"])
    snapshot = admin.get(f"/api/v1/deployment-jobs/{job['id']}").json()["data"]["variables"]
    assert [(s["name"], s["revision"]) for s in snapshot["sets"]] == [("base", 1), ("override", 1)]
    for name, _entries, expected in PRECEDENCE:
        got = {t: snapshot["targets"][targets[t]].get(name) for t in targets}
        assert {t: v for t, v in got.items() if v is not None} == expected, name
    assert snapshot["targets"][targets["web-a"]]["DB_PASSWORD"] == "***"
    # A later change of a set leaves the deployment's snapshot as it was.
    base = made["base"]
    admin.put(
        f"{SETS}/{base['id']}",
        json={"name": "base", "variables": [{"name": "UNSCOPED", "value": "changed"}]},
    )
    again = admin.get(f"/api/v1/deployment-jobs/{job['id']}").json()["data"]["variables"]
    assert again == snapshot
    artifacts = admin.get(f"/api/v1/deployment-jobs/{job['id']}/artifacts").json()["data"]
    stored = next(a for a in artifacts if a["name"] == "variables.json")
    content = admin.get(f"/api/v1/deployment-jobs/{job['id']}/artifacts/{stored['id']}").text
    assert json.loads(content) == snapshot and SECRET not in content
    error = assert_error(
        admin.put(f"{ENVIRONMENTS}/{env['id']}", json={"name": "prod", "order": 1, "variableSetIds": ["nope"]}),
        400,
        "VALIDATION_ERROR",
    )
    assert error["validationErrors"][0]["field"] == "variableSetIds.0"
