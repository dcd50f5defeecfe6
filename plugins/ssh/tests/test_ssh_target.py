"""The ``ssh`` target type against Debian's OpenSSH server on a loopback port."""

from __future__ import annotations

import asyncio
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
from shiplane_plugin_ssh.target import STICKER, Ssh
from shiplane_sdk import PluginError
from shiplane_sdk.testing import FakeTargetContext, TargetTypeContract

SSHD = "/usr/sbin/sshd"
MANIFEST = {
    "release": {"id": "rel-9", "name": "shop-2.0.0"},
    "components": [{"name": "api", "version": "2.0.0", "digest": "sha256:" + "d" * 64}],
}


@dataclass
class SshServer:
    port: int
    host_key: str  # public, OpenSSH format
    client_key: str  # private, OpenSSH format
    known_hosts: Path
    root: Path

    def config(self, directory: Path, **extra: Any) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "username": os.environ.get("USER") or "root",
            "privateKey": self.client_key,
            "hostKey": self.host_key,
            "directory": str(directory),
            **extra,
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not Path(SSHD).exists() or os.geteuid() != 0:
        pytest.fail("the ssh tests need Debian's openssh-server and root (.ci/run installs it)")
    root = tmp_path_factory.mktemp("sshd")
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    _keygen(root / "host_key")
    _keygen(root / "client_key")
    authorized = root / "authorized_keys"
    shutil.copy(root / "client_key.pub", authorized)
    port = _free_port()
    process = subprocess.Popen(
        [
            SSHD, "-D", "-e", "-p", str(port),
            "-o", "ListenAddress=127.0.0.1",
            "-h", str(root / "host_key"),
            "-o", f"AuthorizedKeysFile={authorized}",
            "-o", "PasswordAuthentication=no",
            "-o", "StrictModes=no",
            "-o", f"PidFile={root / 'sshd.pid'}",
        ],
        stdout=open(root / "sshd.log", "wb"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        host_key = (root / "host_key.pub").read_text().strip()
        known_hosts = root / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_key}\n")
        yield SshServer(port, host_key, (root / "client_key").read_text(), known_hosts, root)
    finally:
        process.terminate()
        process.wait(timeout=10)


def context(config: dict[str, Any]) -> FakeTargetContext:
    return FakeTargetContext.for_config(config)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.fixture
def contract_server(sshd: SshServer) -> Iterator[SshServer]:
    TestSshContract.server = sshd
    yield sshd


@pytest.mark.usefixtures("contract_server")
class TestSshContract(TargetTypeContract):
    server: SshServer | None = None
    valid_configs = [
        {"host": "h.example", "username": "deploy", "privateKey": "k", "directory": "/srv/app"},
        {"host": "h.example", "port": 2222, "username": "d", "privateKey": "k", "directory": "/a", "hostKey": "x"},
    ]
    invalid_configs = [
        {"host": "h", "username": "d", "directory": "/a"},
        {"host": "h", "username": "d", "privateKey": "k", "directory": "relative"},
        {"host": "h", "username": "d", "privateKey": "k", "directory": "/a", "port": 0},
    ]

    def make_capability(self) -> Ssh:
        return Ssh()

    def make_context(self, config: dict[str, Any]) -> FakeTargetContext:
        assert self.server is not None
        directory = self.server.root / f"contract-{time.monotonic_ns()}"
        return context(self.server.config(directory))


def test_deploy_sticker_inspect_and_health_over_ssh(sshd: SshServer, tmp_path: Path) -> None:
    directory = tmp_path / "remote"
    recorder = ["sh", "-c", 'echo "$SHIPLANE_RELEASE_NAME $1" > deployed.txt', "deploy", "{components.api.version}"]
    ctx = context(sshd.config(directory, deployCommand=recorder))
    result = run(Ssh().deploy(ctx, MANIFEST))
    assert result.ok, result
    assert (directory / "deployed.txt").read_text() == "shop-2.0.0 2.0.0\n"
    assert (directory / "api.version").read_text() == f"2.0.0 sha256:{'d' * 64}\n"
    run(Ssh().write_sticker(ctx, {"releaseId": "rel-9"}))
    assert run(Ssh().read_sticker(ctx)) == {"releaseId": "rel-9"}
    assert sorted(p.name for p in directory.iterdir()) == [STICKER, "api.version", "deployed.txt"]
    state = run(Ssh().inspect(ctx))
    assert state["components"] == [{"name": "api", "version": "2.0.0", "digest": "sha256:" + "d" * 64}]
    (directory / "api.version").write_text("1.9.9 sha256:x\n")  # changed by hand
    assert run(Ssh().inspect(ctx))["components"][0]["version"] == "1.9.9"
    assert run(Ssh().health_check(ctx)).status == "ok"


def test_a_failing_deploy_command_fails_the_deploy(sshd: SshServer, tmp_path: Path) -> None:
    ctx = context(sshd.config(tmp_path / "remote", deployCommand=["sh", "-c", "echo nope >&2; exit 7"]))
    result = run(Ssh().deploy(ctx, MANIFEST))
    assert not result.ok and "exited with 7" in result.message and "nope" in result.outputs["stderr"]


def test_the_agents_known_hosts_file_is_used_when_nothing_is_pinned(sshd: SshServer, tmp_path: Path) -> None:
    (tmp_path / "remote").mkdir()
    config = sshd.config(tmp_path / "remote", knownHostsFile=str(sshd.known_hosts))
    del config["hostKey"]
    report = run(Ssh().health_check(context(config)))
    assert report.status == "ok", report.message


def test_a_wrong_or_unknown_host_key_is_refused(sshd: SshServer, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    _keygen(other)
    wrong = sshd.config(tmp_path / "remote", hostKey=(other.with_suffix(".pub")).read_text().strip())
    with pytest.raises(PluginError, match="unknown or changed: refused"):
        run(Ssh().deploy(context(wrong), MANIFEST))
    report = run(Ssh().health_check(context(wrong)))
    assert report.status == "failing" and "refused" in report.message
    assert not (tmp_path / "remote").exists()  # nothing ran on the host
    # Not pinned, and the host is not in the known-hosts file: refused, never trusted on first use.
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    unknown = sshd.config(tmp_path / "remote", knownHostsFile=str(empty))
    del unknown["hostKey"]
    assert "refused" in run(Ssh().health_check(context(unknown))).message


def test_a_key_the_host_does_not_accept_is_refused(sshd: SshServer, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    _keygen(stranger)
    config = sshd.config(tmp_path / "remote", privateKey=stranger.read_text())
    report = run(Ssh().health_check(context(config)))
    assert report.status == "failing" and "refused the key" in report.message


def test_the_private_key_is_a_secret_and_moving_the_host_needs_it_again() -> None:
    ssh = Ssh()
    assert set(ssh.secret_fields()) == {"privateKey", "passphrase"}
    assert {"host", "port"} <= set(ssh.destination_fields())
