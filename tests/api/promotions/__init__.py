"""Promotions through the API: sealed releases of a component on a local git repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.api.releases import RELEASES, Repo, component, git_integration, sync
from tests.conftest import Caller

PROMOTIONS = "/api/v1/promotions"
POLICIES = "/api/v1/approval-policies"
ENVIRONMENTS = "/api/v1/environments"


def sealed_release(
    caller: Caller, tmp_path: Path, name: str = "r1", tags: tuple[str, ...] = ("v1.0.0",)
) -> dict[str, Any]:
    """A sealed release of one component (``api``) at the last of ``tags``."""
    repo = Repo(tmp_path / f"repo-{name}")
    for tag in tags:
        repo.commit()
        repo.tag(tag)
    comp = component(caller, git_integration(caller, repo.path, name=f"repo-{name}")["id"], name=f"api-{name}")
    sync(caller, comp["id"])
    body = {"name": name, "components": [{"componentId": comp["id"], "version": tags[-1]}], "state": "ready"}
    response = caller.post(RELEASES, json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def environment(caller: Caller, name: str, order: int, **fields: Any) -> dict[str, Any]:
    response = caller.post(ENVIRONMENTS, json={"name": name, "displayName": name.title(), "order": order, **fields})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def policy(caller: Caller, name: str = "two-approvers", **fields: Any) -> dict[str, Any]:
    response = caller.post(POLICIES, json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def promote(caller: Caller, release_id: str, environment_id: str, **fields: Any) -> Any:
    return caller.post(PROMOTIONS, json={"releaseId": release_id, "environmentId": environment_id, **fields})
