"""Running the ``git`` command: no shell, a clean environment, secrets in files, a hard timeout.

Each operation opens a :class:`GitSession`: a private temporary directory (0700) that
is git's ``HOME`` and holds, for https, a credential file read by a credential helper
scoped to the url's origin, and for ssh the private key (0600) and the known-hosts
file. Secrets are never in argv, never in the environment and never in a message
(:func:`mask`). The session's deadline kills git's whole process group (``git``,
``git-remote-https``, ``ssh``) when it passes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shiplane_sdk import PluginError

from shiplane_plugin_git.urls import RepoUrl

GIT = "git"
#: Environment variables passed through from the server's own: how to reach the
#: network (proxies) and which certificate authorities to trust (an operator's choice).
PASSTHROUGH = (
    "PATH",
    "TMPDIR",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
)
_OID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_USERINFO_PASSWORD = re.compile(r"(://[^/\s@:]*):[^/\s@]*@")
_STDERR_TAIL = 600
_ADVICE = re.compile(r"^(?:hint:|To add an exception for this directory|git config --global)")


@dataclass(frozen=True)
class Ref:
    """One ref of the repository."""

    name: str  # full ref name: refs/tags/v1.0, refs/heads/main
    object_id: str  # what the ref points to: the tag object of an annotated tag
    target: str  # fully peeled: the commit an annotated tag points to
    annotated: bool
    created_at: datetime | None = None  # local repositories only
    target_type: str | None = None  # local repositories only ("commit", rarely "tree"/"blob")


@dataclass
class Secrets:
    """The config's secrets, to hand to git through files and to mask in any text."""

    username: str | None = None
    password: str | None = None
    private_key: str | None = None
    known_hosts: str | None = None
    values: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        values = [v for v in (self.password, self.private_key) if v]
        if self.private_key:
            # A key's lines, in case a tool quotes part of it.
            values += [line.strip() for line in self.private_key.splitlines() if len(line.strip()) >= 8]
        # Longest first, so a secret containing another is masked whole.
        self.values = sorted(set(values), key=len, reverse=True)


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value, and the password of any ``scheme://user:password@``, as ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _USERINFO_PASSWORD.sub(r"\1:***@", text)


class GitSession:
    """A context manager running git commands for one repository and one operation."""

    def __init__(self, repo: RepoUrl, secrets: Secrets, timeout: float) -> None:
        self.repo = repo
        self.secrets = secrets
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.home = ""
        self.env: dict[str, str] = {}

    def __enter__(self) -> GitSession:
        self.home = tempfile.mkdtemp(prefix="shiplane-git-")  # mode 0700
        try:
            self.env = self._environment()
        except BaseException:
            shutil.rmtree(self.home, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    # -- environment -----------------------------------------------------------------------------

    def _write(self, name: str, content: str) -> str:
        path = os.path.join(self.home, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as file:
            file.write(content)
        return path

    def _environment(self) -> dict[str, str]:
        env = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
        env.setdefault("PATH", os.defpath)
        env.update(
            {
                "HOME": self.home,  # no ~/.gitconfig, ~/.netrc, ~/.ssh of the server's user
                "XDG_CONFIG_HOME": self.home,
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_TERMINAL_PROMPT": "0",
                "GIT_ALLOW_PROTOCOL": "file:https:ssh",  # also for redirects; never ext::, http, git
                "GIT_OPTIONAL_LOCKS": "0",
                "GIT_NO_REPLACE_OBJECTS": "1",
                "GIT_PAGER": "cat",
                "LC_ALL": "C",
                "LANG": "C",
                # Outside a local repository git must not find one above its directory.
                "GIT_CEILING_DIRECTORIES": os.path.dirname(self.home),
            }
        )
        config: list[tuple[str, str]] = []
        if self.repo.kind == "https" and self.secrets.password is not None and self.repo.origin:
            credential = self._write(
                "credential", f"username={self.secrets.username or ''}\npassword={self.secrets.password}\n"
            )
            # A helper scoped to the url's origin: a redirect to another host gets nothing.
            helper = f'!f() {{ if [ "$1" = get ]; then cat {shlex.quote(credential)}; fi; }}; f'
            config.append((f"credential.{self.repo.origin}.helper", helper))
        if self.repo.uses_ssh:
            env["GIT_SSH_COMMAND"] = self._ssh_command()
        config.append(("core.fsmonitor", "false"))
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for index, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        return env

    def _ssh_command(self) -> str:
        key = (self.secrets.private_key or "").replace("\r\n", "\n").strip() + "\n"
        key_file = self._write("id_key", key)
        known_hosts = self._write("known_hosts", (self.secrets.known_hosts or "").replace("\r\n", "\n") + "\n")
        connect_timeout = max(1, min(int(self.timeout), 60))
        options = {
            "IdentityFile": key_file,
            "IdentitiesOnly": "yes",
            "IdentityAgent": "none",
            "StrictHostKeyChecking": "yes",
            "UserKnownHostsFile": known_hosts,
            "GlobalKnownHostsFile": os.devnull,
            "UpdateHostKeys": "no",
            "BatchMode": "yes",
            "PasswordAuthentication": "no",
            "KbdInteractiveAuthentication": "no",
            "ControlMaster": "no",
            "ControlPath": "none",
            "ConnectTimeout": str(connect_timeout),
            "LogLevel": "ERROR",
        }
        # -F /dev/null: neither ~/.ssh/config nor /etc/ssh/ssh_config. Git runs this with sh.
        parts = ["ssh", "-F", os.devnull]
        for name, value in options.items():
            parts += ["-o", f"{name}={value}"]
        return shlex.join(parts)

    # -- running ---------------------------------------------------------------------------------

    def run(self, args: list[str], *, cwd: str | None = None, stdin: str | None = None) -> str:
        """git's stdout; :class:`GitFailure` if it fails or outlives the deadline."""
        env = dict(self.env)
        if cwd is not None:
            # A local repository: found at cwd, never in a directory above it.
            cwd = os.path.realpath(cwd)
            env["GIT_CEILING_DIRECTORIES"] = os.path.dirname(cwd)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise GitFailure("timeout", args)
        try:
            # argv, no shell; the url is checked (urls.py) and follows "--"
            process = subprocess.Popen(
                [GIT, *args],
                cwd=cwd or self.home,
                env=env,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, killed as a whole on timeout
            )
        except FileNotFoundError as exc:
            if cwd is not None and exc.filename == cwd:
                raise GitFailure("not_found", args, "No such file or directory") from None
            raise PluginError("the git command is not installed on the Shiplane host") from None
        except NotADirectoryError:
            raise GitFailure("not_found", args, "Not a directory") from None
        try:
            out, err = process.communicate(stdin.encode() if stdin is not None else None, timeout=remaining)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            _reap(process)
            raise GitFailure("timeout", args) from None
        except BaseException:
            _kill_group(process)
            _reap(process)
            raise
        if process.returncode != 0:
            raise GitFailure(None, args, err.decode("utf-8", "replace"), process.returncode)
        return out.decode("utf-8", "replace")


def _reap(process: subprocess.Popen[bytes]) -> None:
    try:
        process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        # A descendant that left the process group still holds the pipes: stop waiting for it.
        process.kill()
        process.wait()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


class GitFailure(Exception):
    """A git command that failed; :meth:`plugin_error` words it for the user."""

    def __init__(self, reason: str | None, args: list[str], stderr: str = "", returncode: int | None = None) -> None:
        self.reason = reason or classify(stderr)
        self.command = args[0] if args else "git"
        self.stderr = stderr
        self.returncode = returncode
        super().__init__(self.reason)

    def message(self, repo: RepoUrl, secrets: Secrets, timeout: float) -> str:
        where = repo.url
        configured = secrets.password is not None if repo.kind == "https" else bool(secrets.private_key)
        texts = {
            "timeout": f"git {self.command} did not finish within {timeout:g}s (timeoutSeconds): {where}",
            "not_found": f"no git repository at {where}" if repo.is_local else f"repository not found: {where}",
            "authentication": (
                f"authentication failed: the server refused the configured credentials for {where}"
                if configured and repo.kind == "https"
                else f"authentication failed: the ssh server refused the key for {where}"
                if configured
                else f"authentication required (no credentials configured) or the repository does not exist: {where}"
            ),
            "host_key": f"the ssh host key of {where} is not in knownHosts or has changed: refused",
            "tls": f"TLS failed (certificate not trusted or handshake error): {where}",
            "unreachable": f"cannot reach the server of {where}",
            "ownership": (
                f"git refuses the repository {where}: it is owned by another user than Shiplane's "
                "(git's safe.directory protection)"
            ),
            "protocol": f"git refused the transport of {where} (only file, https and ssh are allowed)",
        }
        text = texts.get(self.reason) or f"git {self.command} failed (exit status {self.returncode}): {where}"
        return mask(text, secrets.values)

    def plugin_error(self, repo: RepoUrl, secrets: Secrets, timeout: float) -> PluginError:
        details: dict[str, Any] = {"reason": self.reason}
        tail = stderr_tail(self.stderr, secrets.values)
        if tail:
            details["git"] = tail
        return PluginError(self.message(repo, secrets, timeout), details=details)


_REASONS: list[tuple[str, re.Pattern[str]]] = [
    ("ownership", re.compile(r"dubious ownership")),
    ("protocol", re.compile(r"transport '[^']*' not allowed|unsupported protocol", re.I)),
    (
        "host_key",
        re.compile(r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No \S+ host key is known"),
    ),
    (
        "authentication",
        re.compile(
            r"Authentication failed|could not read (?:Username|Password)|terminal prompts disabled|"
            r"Permission denied \(|HTTP Basic: Access denied|returned error: 40[13]|Invalid username or password"
        ),
    ),
    (
        "not_found",
        re.compile(
            r"does not appear to be a git repository|[Rr]epository (?:'[^']*' )?not found|returned error: 404|"
            r"not a git repository|No such file or directory|Not a directory|cannot change to"
        ),
    ),
    ("tls", re.compile(r"SSL certificate problem|certificate verify|server certificate|SSL_ERROR|gnutls_handshake")),
    (
        "unreachable",
        re.compile(
            r"Could not resolve host|Could not resolve hostname|Failed to connect|Connection refused|"
            r"Connection timed out|Network is unreachable|No route to host|Connection reset|Connection closed|"
            r"kex_exchange_identification|Operation timed out|unable to access"
        ),
    ),
]


def classify(stderr: str) -> str:
    """The reason a git command failed, from its (``LC_ALL=C``) stderr."""
    for reason, pattern in _REASONS:
        if pattern.search(stderr):
            return reason
    return "error"


def stderr_tail(stderr: str, secrets: Iterable[str]) -> str:
    """The last lines of git's stderr worth showing (no hints), masked and bounded."""
    lines = [line.strip() for line in stderr.splitlines()]
    # Not git's hints, nor its advice to edit a global config this plugin never reads.
    lines = [line for line in lines if line and not _ADVICE.match(line)]
    return mask("\n".join(lines[-6:]), secrets)[-_STDERR_TAIL:]


# -- reading refs ----------------------------------------------------------------------------------


def ls_remote(session: GitSession, *, heads: bool) -> list[Ref]:
    """The tags (and branch heads) of a remote, with annotated tags peeled (``^{}``)."""
    args = ["ls-remote", "--tags", *(["--heads"] if heads else []), "--", session.repo.url]
    return parse_ls_remote(session.run(args))


def parse_ls_remote(text: str) -> list[Ref]:
    direct: dict[str, str] = {}
    peeled: dict[str, str] = {}
    for line in text.splitlines():
        object_id, _, name = line.partition("\t")
        if not _OID.match(object_id) or not name.startswith(("refs/tags/", "refs/heads/")):
            continue
        if name.endswith("^{}"):
            peeled[name[: -len("^{}")]] = object_id
        else:
            direct[name] = object_id
    refs = []
    for name, object_id in direct.items():
        target = peeled.get(name)
        refs.append(Ref(name=name, object_id=object_id, target=target or object_id, annotated=target is not None))
    return refs


_FOR_EACH_REF_FORMAT = "%00".join(
    ["%(refname)", "%(objectname)", "%(objecttype)", "%(*objectname)", "%(*objecttype)", "%(creatordate:iso-strict)"]
)


def for_each_ref(session: GitSession, path: str, *, heads: bool) -> list[Ref]:
    """The tags (and branch heads) of a local repository, with dates, annotated tags peeled."""
    patterns = ["refs/tags/", *(["refs/heads/"] if heads else [])]
    text = session.run(["for-each-ref", f"--format={_FOR_EACH_REF_FORMAT}", *patterns], cwd=path)
    rows = []
    nested: list[str] = []
    for line in text.splitlines():
        fields = line.split("\0")
        if len(fields) != 6 or not _OID.match(fields[1]):
            continue
        rows.append(fields)
        if fields[2] == "tag" and fields[4] == "tag":
            nested.append(fields[1])  # a tag of a tag: peel it all the way
    peeled: dict[str, tuple[str, str]] = {}
    if nested:
        out = session.run(
            ["cat-file", "--batch-check=%(objectname) %(objecttype)"],
            cwd=path,
            stdin="".join(f"{object_id}^{{}}\n" for object_id in nested),
        )
        for object_id, line in zip(nested, out.splitlines(), strict=False):
            parts = line.split(" ")
            if len(parts) == 2 and _OID.match(parts[0]):
                peeled[object_id] = (parts[0], parts[1])
    refs = []
    for name, object_id, object_type, star_id, star_type, created in rows:
        annotated = object_type == "tag"
        if annotated:
            target, target_type = peeled.get(object_id, (star_id, star_type))
        else:
            target, target_type = object_id, object_type
        refs.append(
            Ref(
                name=name,
                object_id=object_id,
                target=target,
                annotated=annotated,
                created_at=_parse_date(created),
                target_type=target_type or None,
            )
        )
    return refs


def _parse_date(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
