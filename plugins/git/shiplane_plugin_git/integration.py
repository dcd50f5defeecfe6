"""The ``git`` integration type: a repository's tags (optionally branch heads) as versions.

One integration is one repository. ``discover`` returns it as a single item whose
reference is ``"."`` (so components keep working when the url changes), and
``list_versions(config, ".")`` lists its tags, each with the commit it points to:
``digest`` is ``git:<commit id>`` (40 hex digits, or 64 in a SHA-256 repository),
annotated tags peeled to the commit, never the tag object's id.

Remotes are read with ``git ls-remote`` (nothing is cloned; ``created_at`` is None).
A local repository (an absolute path) is read with ``git for-each-ref``, which also
gives ``created_at``: the tagger date of an annotated tag, the committer date of the
commit otherwise. ``file:///path`` is read like a remote. See :mod:`.runner` for how
git runs (no shell, clean environment, secrets in 0600 files, hard timeout).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from shiplane_sdk import (
    ConfigError,
    ConnectionTestResult,
    DiscoveredItem,
    HealthReport,
    IntegrationType,
    PluginError,
    VersionInfo,
)

from shiplane_plugin_git.runner import GitFailure, GitSession, Ref, Secrets, for_each_ref, ls_remote, mask
from shiplane_plugin_git.urls import RepoUrl, UrlError, parse_url, repository_name

#: The reference of the one repository an integration names (``discover`` returns it).
REFERENCE = "."
DIGEST_PREFIX = "git:"
_TAGS = "refs/tags/"
_HEADS = "refs/heads/"
_NO_CONTROL_CHARACTERS = "^[^\\u0000-\\u001f\\u007f]*$"
_URL_MESSAGES = {
    "type": "url must be a string",
    "minLength": "url is empty",
    "maxLength": "url is longer than 2048 characters",
}


@dataclass(frozen=True)
class _Settings:
    repo: RepoUrl
    secrets: Secrets
    include_branches: bool
    timeout: float


class Git(IntegrationType):
    id = "git"
    category = "scm"
    display_name = "Git repository"
    description = (
        "A git repository's tags (optionally its branch heads) as versions, with the commit id as digest. "
        "Local paths, https (user name and password or token) and ssh (private key, verified host key)."
    )
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "url": {
                "type": "string",
                "minLength": 1,
                "maxLength": 2048,
                "description": (
                    "The repository: an absolute path on the Shiplane host, file:///absolute/path, "
                    "https://host/path, ssh://[user@]host[:port]/path or [user@]host:path. No credentials in it."
                ),
            },
            "username": {
                "type": "string",
                "minLength": 1,
                "maxLength": 256,
                "pattern": _NO_CONTROL_CHARACTERS,
                "description": "https: the user name (with password).",
            },
            "password": {
                "type": "string",
                "minLength": 1,
                "maxLength": 4096,
                "pattern": _NO_CONTROL_CHARACTERS,
                "writeOnly": True,
                "description": "https: the password or access token (with username).",
            },
            "privateKey": {
                "type": "string",
                "minLength": 1,
                "maxLength": 16384,
                "writeOnly": True,
                "description": "ssh: the private key, OpenSSH format (or PEM), without a passphrase.",
            },
            "knownHosts": {
                "type": "string",
                "minLength": 1,
                "maxLength": 65536,
                "description": "ssh: known_hosts lines for the server ('host ssh-ed25519 AAAA...').",
            },
            "includeBranches": {
                "type": "boolean",
                "default": False,
                "description": "Also list branch heads as versions.",
            },
            "timeoutSeconds": {
                "type": "number",
                "minimum": 1,
                "maximum": 300,
                "default": 30,
                "description": "How long one operation may take; git is killed after it.",
            },
        },
        "dependentRequired": {"password": ["username"], "username": ["password"]},
    }
    # The url decides where the password or key is used; its format is not "uri"
    # (local paths, scp-like urls), so it is listed here: changing it needs the secret again.
    secret_destinations = ["url"]

    # -- configuration ---------------------------------------------------------------------------

    def validate_config(self, config: Any) -> list[ConfigError]:
        """The schema's errors, then what the url and the credentials must be together."""
        errors = []
        for error in super().validate_config(config):
            if error.field == "url":
                # jsonschema's messages quote the value, and a url may hold a password.
                error = ConfigError(
                    field="url",
                    message=_URL_MESSAGES.get(error.code, f"url is not valid ({error.code})"),
                    code=error.code,
                )
            errors.append(error)
        if not isinstance(config, dict) or not isinstance(config.get("url"), str):
            return errors
        if any(error.field == "url" for error in errors):
            return errors
        try:
            repo = parse_url(config["url"])
        except UrlError as exc:
            return [*errors, ConfigError(field="url", message=str(exc), code="format")]
        return errors + _credential_errors(repo, config)

    def _settings(self, config: dict[str, Any]) -> _Settings:
        errors = self.validate_config(config)
        if errors:
            described = "; ".join(f"{error.field or '<config>'}: {error.message}" for error in errors)
            raise PluginError(
                f"invalid configuration: {described}",
                details={"validationErrors": [error.model_dump() for error in errors]},
            )
        repo = parse_url(config["url"])
        if repo.is_local:
            repo = RepoUrl(url=os.path.normpath(repo.url), kind="local")
        secrets = Secrets(
            username=config.get("username"),
            password=config.get("password"),
            private_key=config.get("privateKey"),
            known_hosts=config.get("knownHosts"),
        )
        return _Settings(
            repo=repo,
            secrets=secrets,
            include_branches=bool(config.get("includeBranches", False)),
            timeout=float(config.get("timeoutSeconds", 30)),
        )

    def _refs(self, settings: _Settings, *, heads: bool) -> list[Ref]:
        repo = settings.repo
        try:
            with GitSession(repo, settings.secrets, settings.timeout) as session:
                if repo.is_local:
                    if not os.path.isdir(repo.url):
                        raise GitFailure("not_found", ["for-each-ref"])
                    return for_each_ref(session, repo.url, heads=heads)
                return ls_remote(session, heads=heads)
        except GitFailure as failure:
            raise failure.plugin_error(repo, settings.secrets, settings.timeout) from None
        except OSError as exc:  # the temporary directory or a file in it
            raise PluginError(f"cannot prepare to run git: {type(exc).__name__}") from None

    # -- operations ------------------------------------------------------------------------------

    def test(self, config: dict[str, Any]) -> ConnectionTestResult:
        """``git ls-remote`` (``for-each-ref`` for a local path) succeeds: ok, with the number of refs."""
        try:
            settings = self._settings(config)
            refs = self._refs(settings, heads=True)
        except PluginError as exc:
            return ConnectionTestResult(ok=False, message=exc.message, details=exc.details)
        tags, branches = _count(refs)
        return ConnectionTestResult(
            ok=True,
            message=f"{settings.repo.url} is reachable: {tags} tag(s), {branches} branch(es)",
            details={"refs": tags + branches, "tags": tags, "branches": branches},
        )

    def health(self, config: dict[str, Any]) -> HealthReport:
        result = self.test(config)
        return HealthReport(status="ok" if result.ok else "failing", message=result.message, details=result.details)

    def discover(self, config: dict[str, Any], query: dict[str, Any]) -> list[DiscoveredItem]:
        """The one repository, reference ``"."``; fails if it cannot be read (``query`` is not used)."""
        settings = self._settings(config)
        tags, branches = _count(self._refs(settings, heads=True))
        repo = settings.repo
        return [
            DiscoveredItem(
                kind="repository",
                reference=REFERENCE,
                name=repository_name(repo.url),
                metadata={
                    "url": mask(repo.url, settings.secrets.values),
                    "local": repo.kind in ("local", "file"),
                    "tags": tags,
                    "branches": branches,
                },
            )
        ]

    def list_versions(self, config: dict[str, Any], reference: str) -> list[VersionInfo]:
        """Tags (and, with ``includeBranches``, branch heads), sorted by name, tags first."""
        if reference not in (REFERENCE, ""):
            shown = reference[:100] if isinstance(reference, str) else type(reference).__name__
            raise PluginError(
                f"unknown reference {shown!r}: a git integration is one repository, its reference is {REFERENCE!r}"
            )
        settings = self._settings(config)
        return _versions(self._refs(settings, heads=settings.include_branches), settings.include_branches)


def _credential_errors(repo: RepoUrl, config: dict[str, Any]) -> list[ConfigError]:
    """Credentials go with the url's kind: username/password with https, privateKey/knownHosts with ssh."""
    errors = []
    allowed = {"https": ("username", "password"), "ssh": ("privateKey", "knownHosts")}.get(repo.kind, ())
    for name, used_with in (("username", "https"), ("password", "https"), ("privateKey", "ssh"), ("knownHosts", "ssh")):
        if name in config and name not in allowed:
            errors.append(ConfigError(field=name, message=f"{name} is only used with {used_with} urls", code="not"))
    if repo.kind == "ssh":
        for name, why in (
            ("privateKey", "an ssh url needs privateKey (the key to log in with)"),
            ("knownHosts", "an ssh url needs knownHosts (host keys are always verified)"),
        ):
            if not config.get(name):
                errors.append(ConfigError(field=name, message=why, code="required"))
        key = config.get("privateKey")
        if isinstance(key, str) and key and not ("-----BEGIN" in key and "PRIVATE KEY-----" in key):
            errors.append(
                ConfigError(
                    field="privateKey",
                    message="privateKey must be a private key in OpenSSH format (-----BEGIN OPENSSH PRIVATE KEY-----)",
                    code="format",
                )
            )
        known_hosts = config.get("knownHosts")
        if isinstance(known_hosts, str) and known_hosts and not _has_host_key_line(known_hosts):
            errors.append(
                ConfigError(
                    field="knownHosts",
                    message="knownHosts has no host key line (known_hosts format: 'host ssh-ed25519 AAAA...')",
                    code="format",
                )
            )
    return errors


def _has_host_key_line(text: str) -> bool:
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and len(line.split()) >= 3:
            return True
    return False


def _count(refs: list[Ref]) -> tuple[int, int]:
    tags = sum(1 for ref in refs if ref.name.startswith(_TAGS))
    return tags, sum(1 for ref in refs if ref.name.startswith(_HEADS))


def _versions(refs: list[Ref], include_branches: bool) -> list[VersionInfo]:
    tags = sorted((ref for ref in refs if ref.name.startswith(_TAGS)), key=lambda ref: ref.name)
    branches = sorted((ref for ref in refs if ref.name.startswith(_HEADS)), key=lambda ref: ref.name)
    tag_names = {ref.name[len(_TAGS) :] for ref in tags}
    versions = []
    for ref in tags:
        versions.append(_version(ref, ref.name[len(_TAGS) :], "tag"))
    if include_branches:
        for ref in branches:
            name = ref.name[len(_HEADS) :]
            # A branch named like a tag: "heads/<name>", as git itself disambiguates.
            versions.append(_version(ref, f"heads/{name}" if name in tag_names else name, "branch"))
    return versions


def _version(ref: Ref, tag: str, kind: str) -> VersionInfo:
    metadata: dict[str, Any] = {
        "kind": kind,
        "ref": ref.name,
        "annotated": ref.annotated,
        "objectFormat": "sha256" if len(ref.target) == 64 else "sha1",
    }
    if ref.target_type in (None, "commit"):
        metadata["commit"] = ref.target
    else:
        metadata["objectType"] = ref.target_type  # a tag of a tree or blob (local repositories tell)
    if ref.annotated:
        metadata["tagObject"] = ref.object_id
    return VersionInfo(tag=tag, digest=f"{DIGEST_PREFIX}{ref.target}", created_at=ref.created_at, metadata=metadata)
