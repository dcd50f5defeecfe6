"""Components and releases, on local git repositories the tests make (the ``git`` plugin)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from shiplane_plugin_git.integration import DIGEST_PREFIX

from tests.conftest import Caller

INTEGRATIONS = "/api/v1/integrations"
COMPONENTS = "/api/v1/components"
RELEASES = "/api/v1/releases"
_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
}


class Repo:
    """A local git repository: ``commit()`` then ``tag(name)`` (lightweight) or ``tag(name, annotated=True)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.count = 0

    def git(self, *args: str) -> str:
        result = subprocess.run(["git", *args], cwd=self.path, env=_ENV, capture_output=True, text=True, check=True)
        return result.stdout.strip()

    def commit(self) -> str:
        self.count += 1
        (self.path / "file.txt").write_text(f"change {self.count}\n")
        self.git("add", "file.txt")
        self.git("commit", "-q", "-m", f"change {self.count}")
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str, *, annotated: bool = False, force: bool = False) -> str:
        args = ["tag", *(["-f"] if force else []), *(["-a", "-m", name] if annotated else []), name]
        self.git(*args)
        return self.git("rev-parse", f"{name}^{{commit}}")


def digest_of(commit: str) -> str:
    return f"{DIGEST_PREFIX}{commit}"


def git_integration(caller: Caller, repo: Path, name: str = "repo") -> dict[str, Any]:
    response = caller.post(INTEGRATIONS, json={"name": name, "typeId": "git", "config": {"url": str(repo)}})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def component(caller: Caller, integration_id: str, name: str = "api", **fields: Any) -> dict[str, Any]:
    body = {"name": name, "integrationId": integration_id, "reference": ".", **fields}
    response = caller.post(COMPONENTS, json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def sync(caller: Caller, component_id: str) -> dict[str, Any]:
    response = caller.post(f"{COMPONENTS}/{component_id}/sync-versions")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def versions(caller: Caller, component_id: str, **params: Any) -> list[dict[str, Any]]:
    response = caller.get(f"{COMPONENTS}/{component_id}/versions", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]
