"""Fixtures: repositories the git tests create (see gitrepos.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from gitrepos import Repo, SampleRepo, git


@pytest.fixture
def new_repo(tmp_path: Path) -> Callable[..., Repo]:
    """A factory of empty repositories (branch ``main``) under the test's tmp_path."""

    def make(name: str = "repo", object_format: str = "sha1", bare: bool = False) -> Repo:
        path = tmp_path / name
        args = ["init", "-q", "-b", "main", f"--object-format={object_format}"]
        git(tmp_path, *args, *(["--bare"] if bare else []), str(path))
        return Repo(path)

    return make


@pytest.fixture(scope="session")
def sample_repo(tmp_path_factory: pytest.TempPathFactory) -> SampleRepo:
    root = tmp_path_factory.mktemp("git-sample")
    git(root, "init", "-q", "-b", "main", str(root / "app"))
    repo = SampleRepo(root / "app")
    repo.commit("c1", date="2024-01-01T10:00:00+00:00")
    repo.git("tag", "v1.0.0")
    repo.git("branch", "release-1.0")
    repo.commit("c2", date="2024-02-01T10:00:00+00:00")
    repo.git("tag", "-a", "v1.1.0", "-m", "release 1.1.0", date="2024-02-02T12:00:00+02:00")
    repo.git("tag", "-a", "v1.1.0-final", "-m", "a tag of a tag", "v1.1.0", date="2024-02-03T09:00:00+00:00")
    repo.git("branch", "v1.0.0")
    return repo
