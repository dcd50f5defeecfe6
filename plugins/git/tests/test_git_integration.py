"""The ``git`` integration type against repositories the tests create."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from gitrepos import Repo, SampleRepo
from shiplane_plugin_git import Git, plugin
from shiplane_plugin_git import runner as runner_module
from shiplane_plugin_git.runner import GitFailure, Secrets
from shiplane_plugin_git.urls import RepoUrl
from shiplane_sdk import PluginError, VersionInfo
from shiplane_sdk.testing import IntegrationTypeContract, PluginContract

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
KNOWN = "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
SECRET = "hunter2-S3cr3t-token"


def versions_by_tag(versions: list[VersionInfo]) -> dict[str, VersionInfo]:
    tags = [version.tag for version in versions]
    assert len(tags) == len(set(tags)), f"duplicate version tags: {tags}"
    return {version.tag: version for version in versions}


def list_versions(config: dict[str, Any]) -> dict[str, VersionInfo]:
    return versions_by_tag(Git().list_versions(config, "."))


# -- contracts -------------------------------------------------------------------------------------


class TestGitContract(IntegrationTypeContract):
    valid_configs = [
        {"url": "https://git.example.com/team/app.git"},
        {"url": "https://git.example.com/team/app.git", "username": "ci", "password": "token", "timeoutSeconds": 60},
        {"url": "/srv/git/app.git", "includeBranches": True},
        {"url": "file:///srv/git/app.git"},
        {"url": "git@github.com:team/app.git", "privateKey": KEY, "knownHosts": KNOWN},
        {"url": "ssh://git@git.example.com:2222/team/app.git", "privateKey": KEY, "knownHosts": KNOWN},
    ]
    invalid_configs = [
        {},
        {"url": "relative/path"},
        {"url": "-uploadpack=touch /tmp/x"},
        {"url": "http://git.example.com/app.git"},
        {"url": "https://ci:token@git.example.com/app.git"},
        {"url": "ext::sh -c touch% /tmp/x"},
        {"url": "/srv/git/app.git", "other": 1},
        {"url": "/srv/git/app.git", "timeoutSeconds": 0},
        {"url": "/srv/git/app.git", "timeoutSeconds": 3601},
        {"url": "https://git.example.com/app.git", "password": "token"},
        {"url": "git@github.com:team/app.git"},
        {"url": "/srv/git/app.git", "password": "token", "username": "ci"},
    ]
    sample_reference = "."

    @pytest.fixture(autouse=True)
    def _repository(self, sample_repo: SampleRepo) -> None:
        self.repo = sample_repo

    def make_capability(self) -> Git:
        return Git()

    def operation_config(self) -> dict[str, Any]:
        return {"url": str(self.repo.path), "includeBranches": True}


class TestGitPluginContract(PluginContract):
    plugin_name = "git"

    def make_plugin(self) -> object:
        return plugin


def test_describe_and_destinations() -> None:
    git = Git()
    description = git.describe()
    assert description["category"] == "scm"
    assert description["operations"] == ["test", "discover", "list_versions", "health"]
    assert git.secret_fields() == ["password", "privateKey"]
    assert "url" in git.destination_fields()


# -- versions and digests --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["local", "file"])
def test_tags_are_versions_with_commit_digests(sample_repo: SampleRepo, mode: str) -> None:
    url = str(sample_repo.path) if mode == "local" else sample_repo.file_url
    versions = list_versions({"url": url})
    assert sorted(versions) == ["v1.0.0", "v1.1.0", "v1.1.0-final"]
    c1, c2 = sample_repo.commits["c1"], sample_repo.commits["c2"]

    lightweight = versions["v1.0.0"]
    assert lightweight.digest == f"git:{c1}"
    assert lightweight.metadata == {
        "kind": "tag",
        "ref": "refs/tags/v1.0.0",
        "annotated": False,
        "commit": c1,
        "objectFormat": "sha1",
    }

    annotated = versions["v1.1.0"]
    tag_object = sample_repo.rev("refs/tags/v1.1.0")
    assert tag_object != c2
    # The digest is the commit the tag points to, not the tag object.
    assert annotated.digest == f"git:{c2}"
    assert annotated.metadata["annotated"] is True
    assert annotated.metadata["commit"] == c2
    assert annotated.metadata["tagObject"] == tag_object

    # A tag of a tag is peeled all the way to the commit.
    nested = versions["v1.1.0-final"]
    assert nested.digest == f"git:{c2}"
    assert nested.metadata["tagObject"] == sample_repo.rev("refs/tags/v1.1.0-final")


def test_created_at_of_a_local_repository(sample_repo: SampleRepo) -> None:
    versions = list_versions({"url": str(sample_repo.path), "includeBranches": True})
    # Lightweight tag and branch: the committer date; annotated tag: the tagger date.
    assert versions["v1.0.0"].created_at == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert versions["v1.1.0"].created_at == datetime(2024, 2, 2, 12, tzinfo=timezone(timedelta(hours=2)))
    assert versions["v1.1.0-final"].created_at == datetime(2024, 2, 3, 9, tzinfo=UTC)
    assert versions["release-1.0"].created_at == datetime(2024, 1, 1, 10, tzinfo=UTC)


def test_created_at_of_a_remote_is_unknown(sample_repo: SampleRepo) -> None:
    versions = list_versions({"url": sample_repo.file_url, "includeBranches": True})
    assert all(version.created_at is None for version in versions.values())


@pytest.mark.parametrize("mode", ["local", "file"])
def test_branch_heads_only_with_include_branches(sample_repo: SampleRepo, mode: str) -> None:
    url = str(sample_repo.path) if mode == "local" else sample_repo.file_url
    assert not any(v.metadata["kind"] == "branch" for v in list_versions({"url": url}).values())
    versions = list_versions({"url": url, "includeBranches": True})
    branches = {tag: v for tag, v in versions.items() if v.metadata["kind"] == "branch"}
    # The branch named like the tag v1.0.0 is "heads/v1.0.0"; the tag keeps its name.
    assert sorted(branches) == ["heads/v1.0.0", "main", "release-1.0"]
    assert branches["main"].digest == f"git:{sample_repo.commits['c2']}"
    assert branches["release-1.0"].digest == f"git:{sample_repo.commits['c1']}"
    assert branches["heads/v1.0.0"].metadata["ref"] == "refs/heads/v1.0.0"
    assert branches["heads/v1.0.0"].digest == f"git:{sample_repo.commits['c2']}"
    assert versions["v1.0.0"].metadata["kind"] == "tag"
    assert versions["v1.0.0"].digest == f"git:{sample_repo.commits['c1']}"


@pytest.mark.parametrize("mode", ["local", "file"])
def test_a_moved_tag_shows_its_new_commit(new_repo: Callable[..., Repo], mode: str) -> None:
    repo = new_repo()
    first = repo.commit("first")
    repo.git("tag", "-a", "v1", "-m", "v1")
    config = {"url": str(repo.path) if mode == "local" else repo.file_url}
    assert list_versions(config)["v1"].digest == f"git:{first}"
    second = repo.commit("second", date="2024-03-01T00:00:00+00:00")
    repo.git("tag", "-f", "-a", "v1", "-m", "v1 again")
    moved = list_versions(config)["v1"]
    assert moved.digest == f"git:{second}"
    assert moved.metadata["commit"] == second


def test_a_bare_repository_and_an_empty_one(new_repo: Callable[..., Repo]) -> None:
    empty = new_repo("empty")
    assert Git().list_versions({"url": str(empty.path)}, ".") == []
    result = Git().test({"url": str(empty.path)})
    assert result.ok and result.details == {"refs": 0, "tags": 0, "branches": 0}
    bare = new_repo("bare.git", bare=True)
    git_push_source = new_repo("source")
    commit = git_push_source.commit("one")
    git_push_source.git("tag", "v9")
    git_push_source.git("push", "-q", str(bare.path), "main", "v9")
    for url in (str(bare.path), bare.file_url):
        assert list_versions({"url": url})["v9"].digest == f"git:{commit}"


def test_a_sha256_repository(new_repo: Callable[..., Repo]) -> None:
    repo = new_repo("sha256", object_format="sha256")
    commit = repo.commit("one")
    repo.git("tag", "-a", "v1", "-m", "v1")
    assert len(commit) == 64
    for url in (str(repo.path), repo.file_url):
        version = list_versions({"url": url})["v1"]
        assert version.digest == f"git:{commit}"
        assert version.metadata["objectFormat"] == "sha256"


def test_a_subdirectory_of_a_work_tree_is_not_its_repository(sample_repo: SampleRepo, tmp_path: Path) -> None:
    inner = sample_repo.path / "sub"
    inner.mkdir(exist_ok=True)
    result = Git().test({"url": str(inner)})
    assert not result.ok
    assert result.message == f"no git repository at {inner}"


# -- operations ------------------------------------------------------------------------------------


def test_connection_test_counts_refs(sample_repo: SampleRepo) -> None:
    for url in (str(sample_repo.path), sample_repo.file_url):
        result = Git().test({"url": url})
        assert result.ok, result
        assert result.details == {"refs": 6, "tags": 3, "branches": 3}
        assert "3 tag(s), 3 branch(es)" in result.message
        assert Git().health({"url": url}).status == "ok"


def test_discover_returns_the_repository(sample_repo: SampleRepo) -> None:
    items = Git().discover({"url": sample_repo.file_url}, {})
    assert len(items) == 1
    item = items[0]
    assert (item.kind, item.reference, item.name) == ("repository", ".", "app")
    assert item.metadata == {"url": sample_repo.file_url, "local": True, "tags": 3, "branches": 3}
    # The reference discover returns is what list_versions takes ("" means the same).
    assert Git().list_versions({"url": sample_repo.file_url}, item.reference)
    assert Git().list_versions({"url": sample_repo.file_url}, "") == Git().list_versions(
        {"url": sample_repo.file_url}, "."
    )


def test_an_unknown_reference_is_an_error(sample_repo: SampleRepo) -> None:
    with pytest.raises(PluginError, match="unknown reference 'team/app'.*'\\.'"):
        Git().list_versions({"url": str(sample_repo.path)}, "team/app")


@pytest.mark.parametrize("form", ["path", "file"])
def test_a_missing_repository_is_a_clear_error(tmp_path: Path, form: str) -> None:
    missing = tmp_path / "nope"
    url = str(missing) if form == "path" else f"file://{missing}"
    expected = f"no git repository at {missing}" if form == "path" else f"repository not found: {url}"
    with pytest.raises(PluginError) as caught:
        Git().list_versions({"url": url}, ".")
    assert caught.value.message == expected
    assert caught.value.details["reason"] == "not_found"
    with pytest.raises(PluginError, match="not found|no git repository"):
        Git().discover({"url": url}, {})
    result = Git().test({"url": url})
    assert (result.ok, result.message) == (False, expected)
    assert Git().health({"url": url}).status == "failing"


def test_a_directory_that_is_not_a_repository(tmp_path: Path) -> None:
    result = Git().test({"url": str(tmp_path)})
    assert (result.ok, result.message) == (False, f"no git repository at {tmp_path}")


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
@pytest.mark.parametrize("form", ["path", "file"])
def test_a_repository_of_another_user_is_refused(new_repo: Callable[..., Repo], form: str) -> None:
    repo = new_repo("theirs")
    repo.commit("one")
    for path in [repo.path, *repo.path.rglob("*")]:
        os.lchown(path, 65534, 65534)
    url = str(repo.path) if form == "path" else repo.file_url
    result = Git().test({"url": url})
    assert not result.ok
    assert result.details["reason"] == "ownership"
    assert result.message == (
        f"git refuses the repository {url}: it is owned by another user than Shiplane's "
        "(git's safe.directory protection)"
    )
    assert "git config --global" not in result.details["git"]


def test_unreachable_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed: nothing listens
    url = f"https://127.0.0.1:{port}/app.git"
    result = Git().test({"url": url})
    assert (result.ok, result.message) == (False, f"cannot reach the server of {url}")
    assert result.details["reason"] == "unreachable"


def test_the_timeout_kills_the_whole_process_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in for git that hangs in a grandchild (as git waits on git-remote-https or ssh).
    marker = tmp_path / "grandchild.pid"
    fake = tmp_path / "git"
    fake.write_text(f"#!/bin/sh\nsleep 30 &\necho $! > {marker}\nwait\n")
    fake.chmod(0o755)
    monkeypatch.setattr(runner_module, "GIT", str(fake))
    started = time.monotonic()
    result = Git().test({"url": "https://git.example.com/app.git", "timeoutSeconds": 1})
    # Killing only git would leave the grandchild holding the output pipe (30 s here).
    assert time.monotonic() - started < 5
    assert not result.ok
    assert result.message == "git ls-remote did not finish within 1s (timeoutSeconds): https://git.example.com/app.git"
    assert result.details["reason"] == "timeout"
    pid = int(marker.read_text())
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        status = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
        if status == "Z":
            break  # killed, waiting for its (killed) parent to be reaped
        time.sleep(0.02)
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().split()[2] == "Z", "the grandchild outlived the timeout"


def test_git_not_installed(monkeypatch: pytest.MonkeyPatch, sample_repo: SampleRepo) -> None:
    monkeypatch.setattr(runner_module, "GIT", "/nonexistent/git")
    result = Git().test({"url": sample_repo.file_url})
    assert (result.ok, result.message) == (False, "the git command is not installed on the Shiplane host")


# -- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("relative/path", "a relative path is not allowed"),
        ("repo.git", "a relative path is not allowed"),
        ("-x", "must not start with '-'"),
        ("--upload-pack=touch /tmp/pwned", "must not start with '-'"),
        ("http://git.example.com/app.git", "plain http:// is not supported"),
        ("git://git.example.com/app.git", "scheme 'git' is not supported"),
        ("ext::sh -c touch% /tmp/pwned", "transport helpers"),
        ("file://host/srv/app.git", "file:///absolute/path"),
        ("https:///app.git", "host name is missing"),
        ("https://git.example.com", "repository path is missing"),
        ("ssh://-oProxyCommand=x/app.git", "host name is missing or not valid"),
        ("-oProxyCommand=x:app.git", "must not start with '-'"),
        ("git@-oProxyCommand=x:app.git", "host in an scp-like url"),
        (" /srv/app.git", "whitespace"),
        ("/srv/app.git\n", "control characters"),
    ],
)
def test_bad_urls_are_rejected_clearly(url: str, fragment: str) -> None:
    errors = Git().validate_config({"url": url})
    assert [(error.field, error.code) for error in errors] == [("url", "format")], errors
    assert fragment in errors[0].message
    # The operations refuse it too, with the same message (and never run git).
    with pytest.raises(PluginError, match="invalid configuration: url: "):
        Git().list_versions({"url": url}, ".")
    result = Git().test({"url": url})
    assert not result.ok and fragment in result.message


def test_credentials_go_with_the_url_kind() -> None:
    errors = Git().validate_config({"url": "/srv/app.git", "privateKey": KEY, "knownHosts": KNOWN})
    assert {(e.field, e.message) for e in errors} == {
        ("privateKey", "privateKey is only used with ssh urls"),
        ("knownHosts", "knownHosts is only used with ssh urls"),
    }
    errors = Git().validate_config({"url": "git@h.example:app.git", "username": "u", "password": SECRET})
    assert {e.field for e in errors} == {"username", "password", "privateKey", "knownHosts"}
    errors = Git().validate_config({"url": "git@h.example:app.git", "privateKey": "not a key", "knownHosts": "junk"})
    assert {(e.field, e.code) for e in errors} == {("privateKey", "format"), ("knownHosts", "format")}
    assert all("not a key" not in e.message for e in errors)
    errors = Git().validate_config({"url": "https://h.example/app.git", "username": "ci"})
    assert [(e.field, e.code) for e in errors] == [("password", "dependentRequired")]


# -- secrets ---------------------------------------------------------------------------------------


def all_text(value: Any) -> str:
    return repr(value)


@pytest.mark.parametrize(
    "url",
    [
        f"https://ci:{SECRET}@git.example.com/app.git",
        f"ssh://git:{SECRET}@git.example.com/app.git",
        f"git:{SECRET}@git.example.com:app.git",
        f"https://ci:{SECRET}@git.example.com/" + "x" * 3000,
    ],
)
def test_a_password_in_the_url_is_never_shown(url: str) -> None:
    git = Git()
    errors = git.validate_config({"url": url})
    assert errors and all(e.field == "url" for e in errors)
    assert SECRET not in all_text(errors)
    with pytest.raises(PluginError) as caught:
        git.list_versions({"url": url}, ".")
    assert SECRET not in str(caught.value) + all_text(caught.value.details)
    with pytest.raises(PluginError) as caught:
        git.discover({"url": url}, {})
    assert SECRET not in str(caught.value) + all_text(caught.value.details)
    result = git.test({"url": url})
    assert not result.ok and SECRET not in all_text(result)
    assert SECRET not in all_text(git.health({"url": url}))


def test_secrets_are_never_in_argv_environment_or_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []
    real_popen = subprocess.Popen

    def recording_popen(args: list[str], **kwargs: Any) -> Any:
        calls.append((list(args), dict(kwargs.get("env") or {})))
        return real_popen(args, **kwargs)

    monkeypatch.setattr(runner_module.subprocess, "Popen", recording_popen)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configs = [
        {"url": f"https://127.0.0.1:{port}/app.git", "username": "ci", "password": SECRET},
        {"url": f"ssh://git@127.0.0.1:{port}/app.git", "privateKey": KEY.replace("AAAAA", SECRET), "knownHosts": KNOWN},
    ]
    for config in configs:
        result = Git().test(config)
        assert not result.ok
        assert SECRET not in all_text(result)
        with pytest.raises(PluginError) as caught:
            Git().list_versions(config, ".")
        assert SECRET not in str(caught.value) + all_text(caught.value.details)
    assert calls
    for argv, env in calls:
        assert not any(SECRET in arg for arg in argv), argv
        assert not any(SECRET in value for value in env.values()), "a secret is in git's environment"
        assert env["GIT_TERMINAL_PROMPT"] == "0"


def test_git_output_is_masked() -> None:
    secrets = Secrets(username="ci", password=SECRET)
    failure = GitFailure(None, ["ls-remote"], f"remote: bad password {SECRET}\nfatal: Authentication failed", 128)
    error = failure.plugin_error(RepoUrl("https://h.example/app.git", "https", "https://h.example"), secrets, 30)
    assert error.details["reason"] == "authentication"
    assert SECRET not in str(error) + all_text(error.details)
    assert "remote: bad password ***" in error.details["git"]
    # Whatever the secrets, a password in a url git prints is masked (the user name stays).
    assert runner_module.mask("fatal: 'https://ci:other@h.example/a/' denied", []) == (
        "fatal: 'https://ci:***@h.example/a/' denied"
    )
    assert runner_module.mask("ssh://git@h.example:22/a", []) == "ssh://git@h.example:22/a"
    assert error.message == "authentication failed: the server refused the configured credentials for " + (
        "https://h.example/app.git"
    )
