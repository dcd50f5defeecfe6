"""The ssh path against Debian's OpenSSH server on a loopback port (skipped without sshd or root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from gitrepos import SampleRepo
from shiplane_plugin_git import Git
from shiplane_sdk import PluginError

SSHD = "/usr/sbin/sshd"


@dataclass
class SshServer:
    port: int
    client_key: str
    known_hosts: str
    root: Path

    def config(self, repository: Path, **extra: Any) -> dict[str, Any]:
        user = os.environ.get("USER") or "root"
        return {
            "url": f"ssh://{user}@127.0.0.1:{self.port}{repository}",
            "privateKey": self.client_key,
            "knownHosts": self.known_hosts,
            **extra,
        }


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not Path(SSHD).exists() or os.geteuid() != 0 or shutil.which("ssh-keygen") is None:
        pytest.skip("the git-over-ssh tests need Debian's openssh-server and root")
    root = tmp_path_factory.mktemp("git-sshd")
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    _keygen(root / "host_key")
    _keygen(root / "client_key")
    _keygen(root / "other_key")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process = subprocess.Popen(
        [
            SSHD, "-D", "-e", "-p", str(port),
            "-o", "ListenAddress=127.0.0.1",
            "-h", str(root / "host_key"),
            "-o", f"AuthorizedKeysFile={root / 'client_key.pub'}",
            "-o", "PasswordAuthentication=no",
            "-o", "StrictModes=no",
            "-o", f"PidFile={root / 'sshd.pid'}",
            # A quick login: no PAM session, motd, last-log or reverse DNS.
            "-o", "UsePAM=no", "-o", "PrintMotd=no", "-o", "PrintLastLog=no", "-o", "UseDNS=no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.02)
        host_key = (root / "host_key.pub").read_text().split()
        yield SshServer(
            port=port,
            client_key=(root / "client_key").read_text(),
            known_hosts=f"# the test server\n[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n",
            root=root,
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_versions_over_ssh(sshd: SshServer, sample_repo: SampleRepo) -> None:
    config = sshd.config(sample_repo.path, includeBranches=True)
    versions = {v.tag: v for v in Git().list_versions(config, ".")}
    assert versions["v1.1.0"].digest == f"git:{sample_repo.commits['c2']}"
    assert versions["v1.0.0"].digest == f"git:{sample_repo.commits['c1']}"
    assert versions["main"].metadata["kind"] == "branch"


def test_an_unknown_host_key_is_refused(sshd: SshServer, sample_repo: SampleRepo) -> None:
    other = (sshd.root / "other_key.pub").read_text().split()
    config = sshd.config(sample_repo.path, knownHosts=f"[127.0.0.1]:{sshd.port} {other[0]} {other[1]}\n")
    result = Git().test(config)
    assert not result.ok
    assert result.details["reason"] == "host_key"
    assert result.message == f"the ssh host key of {config['url']} is not in knownHosts or has changed: refused"


def test_a_key_the_server_does_not_accept(sshd: SshServer, sample_repo: SampleRepo) -> None:
    other_key = (sshd.root / "other_key").read_text()
    config = sshd.config(sample_repo.path, privateKey=other_key)
    with pytest.raises(PluginError) as caught:
        Git().list_versions(config, ".")
    assert caught.value.details["reason"] == "authentication"
    assert str(caught.value) == f"authentication failed: the ssh server refused the key for {config['url']}"
    key_lines = [line for line in other_key.splitlines() if "-----" not in line]
    assert not any(line in str(caught.value) + repr(caught.value.details) for line in key_lines)


def test_a_missing_repository_over_ssh(sshd: SshServer, tmp_path: Path) -> None:
    config = sshd.config(tmp_path / "nope.git")
    result = Git().test(config)
    assert (result.ok, result.details["reason"]) == (False, "not_found")
    assert result.message == f"repository not found: {config['url']}"
