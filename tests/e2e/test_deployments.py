"""Promotions that deploy, end to end: a real ``shiplane serve`` (engine on), a real agent
process, ``local`` targets in temporary directories. The default workflow deploys all at
once; a rolling one over five targets stops when one fails, by its maxUnavailable."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.api.agents import test_script_tasks as scripts
from tests.api.agents.test_script_tasks import Stack
from tests.api.releases import Repo

pytestmark = pytest.mark.slow

stack = scripts.stack  # the fixture: a server and real agents


def ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def release(stack: Stack, tmp_path: Path, name: str, version: str) -> dict[str, Any]:
    repo = Repo(tmp_path / f"repo-{name}")
    repo.commit()
    repo.tag(version)
    integration = ok(
        stack.call(
            "POST",
            "/api/v1/integrations",
            json={"name": f"git-{name}", "typeId": "git", "config": {"url": str(repo.path)}},
        )
    )
    component = ok(
        stack.call(
            "POST",
            "/api/v1/components",
            json={"name": "api", "integrationId": integration["id"], "reference": "."}
            if name == "a"
            else {"name": f"api-{name}", "integrationId": integration["id"], "reference": "."},
        )
    )
    ok(stack.call("POST", f"/api/v1/components/{component['id']}/sync-versions"), 200)
    body = {
        "name": f"rel-{name}",
        "components": [{"componentId": component["id"], "version": version}],
        "state": "ready",
    }
    return ok(stack.call("POST", "/api/v1/releases", json=body))


def targets(
    stack: Stack,
    env_id: str,
    tmp_path: Path,
    names: list[str],
    failing: str | None = None,
    labels: dict[str, dict[str, str]] | None = None,
) -> dict[str, Path]:
    made = {}
    for name in names:
        directory = tmp_path / name
        config: dict[str, Any] = {"directory": str(directory)}
        if name == failing:
            config["deployCommand"] = ["sh", "-c", "echo broken disk; exit 3"]
        ok(
            stack.call(
                "POST",
                "/api/v1/targets",
                json={
                    "name": name,
                    "environmentId": env_id,
                    "type": "local",
                    "config": config,
                    "agentId": stack.agent_id,
                    "labels": (labels or {}).get(name, {}),
                },
            )
        )
        made[name] = directory
    return made


def finished(stack: Stack, promotion_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        promotion = ok(stack.call("GET", f"/api/v1/promotions/{promotion_id}"), 200)
        if promotion["state"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return promotion
        time.sleep(0.2)


def job_of(stack: Stack, promotion_id: str) -> dict[str, Any]:
    params = {"filter": json.dumps({"promotionId": promotion_id})}
    [job] = ok(stack.call("GET", "/api/v1/deployment-jobs", params=params), 200)
    return ok(stack.call("GET", f"/api/v1/deployment-jobs/{job['id']}"), 200)


def test_an_approved_promotion_deploys_to_every_target_and_leaves_stickers(stack: Stack, tmp_path: Path) -> None:
    env = ok(stack.call("POST", "/api/v1/environments", json={"name": "dep-dev", "displayName": "Dev", "order": 11}))
    dirs = targets(stack, env["id"], tmp_path, ["dev-1", "dev-2"])
    rel = release(stack, tmp_path, "a", "v2.0.0")
    promotion = ok(stack.call("POST", "/api/v1/promotions", json={"releaseId": rel["id"], "environmentId": env["id"]}))
    done = finished(stack, promotion["id"])
    assert done["state"] == "succeeded", done
    job = job_of(stack, promotion["id"])
    assert job["state"] == "succeeded" and job["tasks"] == {"succeeded": 2}
    for directory in dirs.values():
        assert (directory / "api.version").read_text().split()[0] == "v2.0.0"
        sticker = json.loads((directory / ".shiplane-sticker.json").read_text())
        assert sticker["release"]["id"] == rel["id"] and sticker["jobId"] == job["id"]
    for task in ok(stack.call("GET", f"/api/v1/deployment-jobs/{job['id']}/tasks"), 200):
        assert task["state"] == "succeeded" and task["agentId"] == stack.agent_id
        drift = ok(stack.call("GET", f"/api/v1/targets/{task['targetId']}/drift"), 200)
        assert drift["status"] == "in_sync", drift
    artifacts = {a["name"]: a for a in ok(stack.call("GET", f"/api/v1/deployment-jobs/{job['id']}/artifacts"), 200)}
    manifest = stack.call("GET", f"/api/v1/deployment-jobs/{job['id']}/artifacts/{artifacts['manifest.json']['id']}")
    assert manifest.headers["Digest"] == artifacts["manifest.json"]["digest"]
    assert json.loads(manifest.content)["components"][0]["version"] == "v2.0.0"
    stickers = stack.call("GET", f"/api/v1/deployment-jobs/{job['id']}/artifacts/{artifacts['stickers.json']['id']}")
    assert set(json.loads(stickers.content)) == {"dev-1", "dev-2"}
    shown = ok(stack.call("GET", f"/api/v1/environments/{env['id']}"), 200)
    assert shown["currentReleaseId"] == rel["id"]


def test_a_rolling_deployment_stops_when_more_targets_fail_than_it_allows(stack: Stack, tmp_path: Path) -> None:
    env = ok(stack.call("POST", "/api/v1/environments", json={"name": "dep-prod", "displayName": "Prod", "order": 12}))
    dirs = {}
    for i in range(1, 6):
        name = f"web-{i}"
        config: dict[str, Any] = {"directory": str(tmp_path / name)}
        if name == "web-3":  # its disk breaks with v1.1.0
            config["deployCommand"] = [
                "sh",
                "-c",
                "test {components.roll.version} != v1.1.0 || { echo broken disk; exit 3; }",
            ]
        ok(
            stack.call(
                "POST",
                "/api/v1/targets",
                json={
                    "name": name,
                    "environmentId": env["id"],
                    "type": "local",
                    "config": config,
                    "agentId": stack.agent_id,
                },
            )
        )
        dirs[name] = tmp_path / name
    flow = ok(
        stack.call(
            "POST",
            "/api/v1/workflow-templates",
            json={
                "name": "rolling-deploy",
                "nodes": [
                    {
                        "id": "deploy",
                        "type": "deploy",
                        "config": {"strategy": "rolling", "strategyConfig": {"batchSize": 2, "maxUnavailable": 0}},
                    }
                ],
            },
        )
    )
    ok(
        stack.call(
            "PUT",
            f"/api/v1/environments/{env['id']}",
            json={"name": "dep-prod", "displayName": "Prod", "order": 12, "deploymentWorkflowTemplateId": flow["id"]},
        ),
        200,
    )
    releases = _shop(stack, tmp_path, "roll")
    first = ok(
        stack.call(
            "POST", "/api/v1/promotions", json={"releaseId": releases["v1.0.0"]["id"], "environmentId": env["id"]}
        )
    )
    assert finished(stack, first["id"])["state"] == "succeeded"
    promotion = ok(
        stack.call(
            "POST", "/api/v1/promotions", json={"releaseId": releases["v1.1.0"]["id"], "environmentId": env["id"]}
        )
    )
    done = finished(stack, promotion["id"])
    assert done["state"] == "failed" and "partially_applied" in done["message"], done
    job = job_of(stack, promotion["id"])
    assert job["state"] == "partially_applied" and job["strategy"] == "rolling"
    tasks = {t["targetName"]: t for t in ok(stack.call("GET", f"/api/v1/deployment-jobs/{job['id']}/tasks"), 200)}
    assert {name: (t["batch"], t["state"]) for name, t in tasks.items()} == {
        "web-1": (0, "succeeded"),
        "web-2": (0, "succeeded"),
        "web-3": (1, "failed"),
        "web-4": (1, "succeeded"),
        "web-5": (2, "cancelled"),
    }
    assert "exited with 3" in tasks["web-3"]["message"]
    assert "maxUnavailable" in tasks["web-5"]["message"]
    logs = ok(stack.call("GET", f"/api/v1/deployment-jobs/{job['id']}/tasks/{tasks['web-3']['id']}/logs"), 200)
    assert "broken disk" in [line["line"] for line in logs["lines"]]

    def versions() -> dict[str, str]:
        return {name: (d / "roll.version").read_text().split()[0] for name, d in dirs.items()}

    assert versions() == {"web-1": "v1.1.0", "web-2": "v1.1.0", "web-3": "v1.0.0", "web-4": "v1.1.0", "web-5": "v1.0.0"}
    # The environment keeps the release it had: this one was not fully deployed.
    assert (
        ok(stack.call("GET", f"/api/v1/environments/{env['id']}"), 200)["currentReleaseId"] == releases["v1.0.0"]["id"]
    )

    # Undoing the job restores the targets it changed.
    rollback = ok(stack.call("POST", "/api/v1/rollbacks", json={"jobId": job["id"], "reason": "half deployed"}))
    assert rollback["releaseId"] == releases["v1.0.0"]["id"]
    deadline = time.monotonic() + 120
    while ok(stack.call("GET", f"/api/v1/deployment-jobs/{rollback['id']}"), 200)["state"] in ("pending", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert versions() == dict.fromkeys(dirs, "v1.0.0")
    assert ok(stack.call("GET", f"/api/v1/deployment-jobs/{job['id']}"), 200)["state"] == "rolled_back"


def test_a_rollback_restores_the_previous_release_on_every_target(stack: Stack, tmp_path: Path) -> None:
    env = ok(
        stack.call("POST", "/api/v1/environments", json={"name": "dep-stage", "displayName": "Stage", "order": 13})
    )
    dirs = targets(stack, env["id"], tmp_path, ["stage-1", "stage-2"])
    nothing = stack.call("POST", "/api/v1/rollbacks", json={"environmentId": env["id"], "reason": "oops"})
    assert nothing.status_code == 409, nothing.text  # nothing deployed there yet
    repo = Repo(tmp_path / "repo-shop")
    for tag in ("v1.0.0", "v1.1.0"):
        repo.commit()
        repo.tag(tag)
    integration = ok(
        stack.call(
            "POST",
            "/api/v1/integrations",
            json={"name": "git-shop", "typeId": "git", "config": {"url": str(repo.path)}},
        )
    )
    component = ok(
        stack.call(
            "POST", "/api/v1/components", json={"name": "shop", "integrationId": integration["id"], "reference": "."}
        )
    )
    ok(stack.call("POST", f"/api/v1/components/{component['id']}/sync-versions"), 200)
    releases = {}
    for tag in ("v1.0.0", "v1.1.0"):
        body = {
            "name": f"shop-{tag}",
            "components": [{"componentId": component["id"], "version": tag}],
            "state": "ready",
        }
        releases[tag] = ok(stack.call("POST", "/api/v1/releases", json=body))
        promotion = ok(
            stack.call(
                "POST", "/api/v1/promotions", json={"releaseId": releases[tag]["id"], "environmentId": env["id"]}
            )
        )
        assert finished(stack, promotion["id"])["state"] == "succeeded"
        for directory in dirs.values():
            assert (directory / "shop.version").read_text().split()[0] == tag
    forward = job_of(stack, promotion["id"])

    rollback = ok(
        stack.call("POST", "/api/v1/rollbacks", json={"environmentId": env["id"], "reason": "checkout broke"})
    )
    assert rollback["kind"] == "rollback" and rollback["releaseId"] == releases["v1.0.0"]["id"]
    assert rollback["previousReleaseId"] == releases["v1.1.0"]["id"] and rollback["reason"] == "checkout broke"
    deadline = time.monotonic() + 120
    while (job := ok(stack.call("GET", f"/api/v1/deployment-jobs/{rollback['id']}"), 200))["state"] in (
        "pending",
        "running",
    ):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["state"] == "succeeded" and job["tasks"] == {"succeeded": 2}, job
    for directory in dirs.values():
        assert (directory / "shop.version").read_text().split()[0] == "v1.0.0"
    assert (
        ok(stack.call("GET", f"/api/v1/environments/{env['id']}"), 200)["currentReleaseId"] == releases["v1.0.0"]["id"]
    )
    assert ok(stack.call("GET", f"/api/v1/deployment-jobs/{forward['id']}"), 200)["state"] == "rolled_back"
    assert ok(stack.call("GET", f"/api/v1/promotions/{promotion['id']}"), 200)["state"] == "rolled_back"
    listed = ok(stack.call("GET", "/api/v1/rollbacks"), 200)
    assert rollback["id"] in [r["id"] for r in listed] and all(r["kind"] == "rollback" for r in listed)
    for task in ok(stack.call("GET", f"/api/v1/deployment-jobs/{rollback['id']}/tasks"), 200):
        drift = ok(stack.call("GET", f"/api/v1/targets/{task['targetId']}/drift"), 200)
        assert drift["status"] == "in_sync", drift


def _shop(stack: Stack, tmp_path: Path, name: str) -> dict[str, dict[str, Any]]:
    """Sealed releases of one component at v1.0.0 and v1.1.0."""
    repo = Repo(tmp_path / f"repo-{name}")
    for tag in ("v1.0.0", "v1.1.0"):
        repo.commit()
        repo.tag(tag)
    integration = ok(
        stack.call(
            "POST",
            "/api/v1/integrations",
            json={"name": f"git-{name}", "typeId": "git", "config": {"url": str(repo.path)}},
        )
    )
    component = ok(
        stack.call(
            "POST", "/api/v1/components", json={"name": name, "integrationId": integration["id"], "reference": "."}
        )
    )
    ok(stack.call("POST", f"/api/v1/components/{component['id']}/sync-versions"), 200)
    made = {}
    for tag in ("v1.0.0", "v1.1.0"):
        body = {
            "name": f"{name}-{tag}",
            "components": [{"componentId": component["id"], "version": tag}],
            "state": "ready",
        }
        made[tag] = ok(stack.call("POST", "/api/v1/releases", json=body))
    return made


def _checked_targets(stack: Stack, env_id: str, tmp_path: Path, component: str) -> dict[str, Path]:
    """Two targets whose health check passes only while v1.0.0 runs there."""
    made = {}
    for name in (f"{component}-1", f"{component}-2"):
        directory = tmp_path / name
        config = {
            "directory": str(directory),
            "healthCheck": {"command": ["sh", "-c", f"grep -q v1.0.0 {component}.version"]},
        }
        ok(
            stack.call(
                "POST",
                "/api/v1/targets",
                json={
                    "name": name,
                    "environmentId": env_id,
                    "type": "local",
                    "config": config,
                    "agentId": stack.agent_id,
                },
            )
        )
        made[name] = directory
    return made


def test_a_failing_post_deployment_check_rolls_back_by_itself_or_holds(stack: Stack, tmp_path: Path) -> None:
    hook = ok(
        stack.call(
            "POST",
            "/api/v1/workflow-templates",
            json={"name": "after-rollback", "nodes": [{"id": "tell", "type": "wait", "config": {"seconds": 0}}]},
        )
    )
    policies = {
        "auto": {"onFailedChecks": "rollback", "hookTemplateId": hook["id"]},
        "held": {"onFailedChecks": "hold"},
    }
    for order, (component, policy) in enumerate(policies.items(), start=20):
        env = ok(
            stack.call(
                "POST",
                "/api/v1/environments",
                json={"name": f"env-{component}", "displayName": component, "order": order, "rollbackPolicy": policy},
            )
        )
        dirs = _checked_targets(stack, env["id"], tmp_path, component)
        releases = _shop(stack, tmp_path, component)
        good = ok(
            stack.call(
                "POST", "/api/v1/promotions", json={"releaseId": releases["v1.0.0"]["id"], "environmentId": env["id"]}
            )
        )
        assert finished(stack, good["id"])["state"] == "succeeded"
        bad = ok(
            stack.call(
                "POST", "/api/v1/promotions", json={"releaseId": releases["v1.1.0"]["id"], "environmentId": env["id"]}
            )
        )
        done = finished(stack, bad["id"]) if component == "held" else _rolled(stack, bad["id"])
        job = job_of(stack, bad["id"])
        shown = ok(stack.call("GET", f"/api/v1/environments/{env['id']}"), 200)
        versions = {(d / f"{component}.version").read_text().split()[0] for d in dirs.values()}
        if component == "auto":
            assert done["state"] == "rolled_back" and "post-deployment checks" in done["message"], done
            assert job["state"] == "rolled_back" and "post-deployment health check failed" in job["message"]
            assert versions == {"v1.0.0"} and shown["currentReleaseId"] == releases["v1.0.0"]["id"]
            [rollback] = ok(
                stack.call("GET", "/api/v1/rollbacks", params={"filter": json.dumps({"environmentId": env["id"]})}), 200
            )
            assert rollback["state"] == "succeeded" and rollback["reason"].startswith("automatic: post-deployment")
            runs = ok(stack.call("GET", "/api/v1/workflow-runs", params={"pageSize": 100}), 200)
            hooks = [
                r
                for r in runs
                if r["context"].get("kind") == "rollback-hook" and r["context"]["jobId"] == rollback["id"]
            ]
            assert len(hooks) == 1 and hooks[0]["templateId"] == hook["id"]
        else:
            assert done["state"] == "failed" and "held in place" in done["message"], done
            assert job["state"] == "failed"
            assert versions == {"v1.1.0"} and shown["currentReleaseId"] == releases["v1.1.0"]["id"]
            assert (
                ok(
                    stack.call("GET", "/api/v1/rollbacks", params={"filter": json.dumps({"environmentId": env["id"]})}),
                    200,
                )
                == []
            )


def _rolled(stack: Stack, promotion_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        promotion = ok(stack.call("GET", f"/api/v1/promotions/{promotion_id}"), 200)
        if promotion["state"] in ("succeeded", "failed", "rolled_back") or time.monotonic() > deadline:
            return promotion
        time.sleep(0.2)


def test_a_secret_variable_reaches_the_deploy_command_and_nothing_else(stack: Stack, tmp_path: Path) -> None:
    secret = "pw-" + "7" * 20
    made = ok(
        stack.call(
            "POST",
            "/api/v1/variable-sets",
            json={
                "name": "vault",
                "variables": [
                    {"name": "DB_PASSWORD", "value": secret, "secret": True},
                    {"name": "REGION", "value": "eu-1"},
                ],
            },
        )
    )
    env = ok(
        stack.call(
            "POST",
            "/api/v1/environments",
            json={"name": "dep-vars", "displayName": "Vars", "order": 30, "variableSetIds": [made["id"]]},
        )
    )
    directory = tmp_path / "vars-1"
    command = [
        "sh",
        "-c",
        'echo "$SHIPLANE_VAR_DB_PASSWORD" > pw.txt; '
        'echo "connecting with $SHIPLANE_VAR_DB_PASSWORD in $SHIPLANE_VAR_REGION"',
    ]
    ok(
        stack.call(
            "POST",
            "/api/v1/targets",
            json={
                "name": "vars-1",
                "environmentId": env["id"],
                "type": "local",
                "config": {"directory": str(directory), "deployCommand": command},
                "agentId": stack.agent_id,
            },
        )
    )
    rel = release(stack, tmp_path, "v", "v9.0.0")
    promotion = ok(stack.call("POST", "/api/v1/promotions", json={"releaseId": rel["id"], "environmentId": env["id"]}))
    assert finished(stack, promotion["id"])["state"] == "succeeded"
    assert (directory / "pw.txt").read_text().strip() == secret  # it reached the command
    job = job_of(stack, promotion["id"])
    [task] = ok(stack.call("GET", f"/api/v1/deployment-jobs/{job['id']}/tasks"), 200)
    logs = ok(stack.call("GET", f"/api/v1/deployment-jobs/{job['id']}/tasks/{task['id']}/logs"), 200)
    assert "connecting with *** in eu-1" in [line["line"] for line in logs["lines"]]
    texts = [
        stack.call("GET", f"/api/v1/deployment-jobs/{job['id']}").text,
        stack.call("GET", f"/api/v1/deployment-jobs/{job['id']}/tasks").text,
        json.dumps(logs),
        stack.call("GET", "/api/v1/audit-events", params={"pageSize": 100}).text,
        stack.call("GET", f"/api/v1/variable-sets/{made['id']}").text,
        stack.call("GET", f"/api/v1/workflow-runs/{job['workflowRunId']}").text,
        stack.call("GET", f"/api/v1/workflow-runs/{job['workflowRunId']}/steps/deploy/logs").text,
    ]
    for artifact in ok(stack.call("GET", f"/api/v1/deployment-jobs/{job['id']}/artifacts"), 200):
        texts.append(stack.call("GET", f"/api/v1/deployment-jobs/{job['id']}/artifacts/{artifact['id']}").text)
    # The evidence: the packets (decoded and as downloaded) name the set's revision only.
    packets = ok(stack.call("GET", f"/api/v1/promotions/{promotion['id']}/evidence"), 200)
    outcome = next(p for p in packets if p["kind"] == "deployment-outcome")
    assert [s["id"] for s in outcome["statement"]["predicate"]["variableSets"]] == [made["id"]]
    texts.append(json.dumps(packets))
    for packet in packets:
        envelope = stack.call("GET", f"/api/v1/evidence-packets/{packet['id']}/download").json()
        texts.append(base64.b64decode(envelope["payload"]).decode())
    stickers = ok(
        stack.call("GET", "/api/v1/version-stickers", params={"filter": json.dumps({"deploymentJobId": job["id"]})}),
        200,
    )
    assert stickers and all(st["sticker"]["signature"]["keyId"] == st["keyId"] for st in stickers)
    texts.append(json.dumps(stickers))
    for text in texts:
        assert secret not in text
    items = scripts.run_sql(stack.database_url, "SELECT payload FROM work_items WHERE kind LIKE 'agent:%'", {})
    assert items and all(secret not in str(row[0]) for row in items)  # sealed in the queue


def test_an_ab_release_deploys_its_candidate_to_the_labelled_targets_first(stack: Stack, tmp_path: Path) -> None:
    """``candidateTargetLabels``: start deploys B to the candidate side only (a real agent
    runs it), then step 1 begins; the environment's release stays A until the promotion."""
    env = ok(stack.call("POST", "/api/v1/environments", json={"name": "ab-prod", "displayName": "AB", "order": 30}))
    sides = {"svc-ctl": {"side": "control"}, "svc-cand": {"side": "candidate"}}
    dirs = targets(stack, env["id"], tmp_path, list(sides), labels=sides)
    old, new = release(stack, tmp_path, "ab-old", "v1.0.0"), release(stack, tmp_path, "ab-new", "v2.0.0")
    promotion = ok(stack.call("POST", "/api/v1/promotions", json={"releaseId": old["id"], "environmentId": env["id"]}))
    assert finished(stack, promotion["id"])["state"] == "succeeded"
    ok(stack.call("POST", "/api/v1/plugins/nginx/enable"), 200)
    nginx_dir = tmp_path / "nginx"  # no nginx runs here: the router refuses, traffic is not the point
    router = ok(
        stack.call(
            "POST",
            "/api/v1/plugin-instances",
            json={
                "name": "ab-edge",
                "pluginId": "nginx",
                "capabilityKind": "traffic_router",
                "capabilityId": "nginx",
                "config": {
                    "name": "ab",
                    "includeFile": str(nginx_dir / "ab.conf"),
                    "mainConfig": str(nginx_dir / "nginx.conf"),
                    "controlServers": ["127.0.0.1:9"],
                    "candidateServers": ["127.0.0.1:10"],
                },
            },
        )
    )
    ab = ok(
        stack.call(
            "POST",
            "/api/v1/ab-releases",
            json={
                "name": "ab-candidate",
                "environmentId": env["id"],
                "controlReleaseId": old["id"],
                "candidateReleaseId": new["id"],
                "strategyConfig": {"steps": [{"weight": 10, "manual": True}, {"weight": 100}]},
                "routerInstanceId": router["id"],
                "candidateTargetLabels": {"side": "candidate"},
            },
        )
    )
    started = ok(stack.call("POST", f"/api/v1/ab-releases/{ab['id']}/start"), 200)
    assert started["state"] == "deploying"
    deadline = time.monotonic() + 120
    while (shown := ok(stack.call("GET", f"/api/v1/ab-releases/{ab['id']}"), 200))["state"] == "deploying":
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)
    assert shown["state"] == "running" and shown["currentStep"] == 0, shown
    assert shown["weights"] == {"control": 90, "candidate": 10}
    job = ok(stack.call("GET", f"/api/v1/deployment-jobs/{started['deploymentJobId']}"), 200)
    assert job["kind"] == "candidate" and job["state"] == "succeeded" and job["tasks"] == {"succeeded": 1}
    assert (dirs["svc-cand"] / "api-ab-new.version").read_text().split()[0] == "v2.0.0"  # B on the candidate side
    assert not (dirs["svc-ctl"] / "api-ab-new.version").exists()  # the control side left alone
    assert (dirs["svc-ctl"] / "api-ab-old.version").read_text().split()[0] == "v1.0.0"
    assert ok(stack.call("GET", f"/api/v1/environments/{env['id']}"), 200)["currentReleaseId"] == old["id"]
    promoted = ok(stack.call("POST", f"/api/v1/ab-releases/{ab['id']}/promote"), 200)
    assert promoted["state"] == "promoted"
    assert ok(stack.call("GET", f"/api/v1/environments/{env['id']}"), 200)["currentReleaseId"] == new["id"]
