"""Helpers for the repositories the git tests create: real ``git init``, commits, tags and branches.

Git runs with a clean environment (no global or system config), names and dates set
by environment variables, so the tests do not depend on the machine's git config.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


def git(cwd: Path, *args: str, date: str | None = None, stdin: str | None = None) -> str:
    """Run git in ``cwd`` with a clean environment; its stdout, stripped."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Shiplane Test",
        "GIT_AUTHOR_EMAIL": "test@shiplane.invalid",
        "GIT_COMMITTER_NAME": "Shiplane Test",
        "GIT_COMMITTER_EMAIL": "test@shiplane.invalid",
        "LC_ALL": "C",
    }
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    result = subprocess.run(["git", *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"git {' '.join(args)} failed: {result.stderr}"
    return result.stdout.strip()


@dataclass
class Repo:
    path: Path
    commits: dict[str, str] = field(default_factory=dict)  # label -> commit id

    def git(self, *args: str, date: str | None = None) -> str:
        return git(self.path, *args, date=date)

    def commit(self, label: str, date: str = "2024-01-01T10:00:00+00:00") -> str:
        self.git("commit", "-q", "--allow-empty", "-m", label, date=date)
        self.commits[label] = self.git("rev-parse", "HEAD")
        return self.commits[label]

    def rev(self, name: str) -> str:
        return self.git("rev-parse", name)

    @property
    def file_url(self) -> str:
        return f"file://{self.path}"


@dataclass
class SampleRepo(Repo):
    """main at c2; tags v1.0.0 (lightweight, c1), v1.1.0 (annotated, c2), v1.1.0-final (a tag of v1.1.0);
    branches release-1.0 (c1) and v1.0.0 (c2, named like a tag)."""
