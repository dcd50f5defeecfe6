"""The ``local`` target type, against real directories, processes and sockets."""

from __future__ import annotations

import http.server
import json
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shiplane_plugin_builtin.targets import STICKER, Local
from shiplane_sdk.testing import FakeTargetContext, TargetTypeContract

MANIFEST = {
    "release": {"id": "rel-7", "name": "shop-1.4.0"},
    "components": [
        {"name": "api", "version": "1.4.0", "digest": "sha256:" + "a" * 64},
        {"name": "web-ui", "version": "2.0.1", "digest": "sha256:" + "b" * 64},
    ],
}
# Writes what it was given: its arguments and the release's environment variables.
RECORDER = [
    sys.executable,
    "-c",
    "import json, os, sys; json.dump({'argv': sys.argv[1:], 'env': {k: v for k, v in os.environ.items() "
    "if k.startswith('SHIPLANE_')}}, open('deployed.json', 'w'))",
]


class TestLocalContract(TargetTypeContract):
    valid_configs = [
        {"directory": "/tmp/x"},
        {"directory": "/srv/app", "healthCheck": {"tcp": {"host": "h", "port": 1}}},
    ]
    invalid_configs = [
        {},
        {"directory": "relative/path"},
        {"directory": "/x", "deployCommand": "rm -rf /"},
        {"directory": "/x", "healthCheck": {"http": {"url": "ftp://x"}}},
        {"directory": "/x", "healthCheck": {}},
        {"directory": "/x", "unknown": 1},
    ]

    def make_capability(self) -> Local:
        return Local()

    def make_context(self, config: dict[str, Any]) -> FakeTargetContext:
        # A real directory for the contract's deploy, sticker and inspect calls.
        return FakeTargetContext.for_config({**config, "directory": tempfile.mkdtemp(prefix="shiplane-local-")})


def context(directory: Path, **config: Any) -> FakeTargetContext:
    return FakeTargetContext.for_config({"directory": str(directory), **config})


def test_deploy_runs_the_command_with_the_release_and_records_the_versions(tmp_path: Path) -> None:
    argv = [*RECORDER, "{release.name}", "{components.api.version}", "{components.web-ui.digest}", "{unknown}"]
    ctx = context(tmp_path, deployCommand=argv)
    result = Local().deploy(ctx, MANIFEST)
    assert result.ok, result.message
    seen = json.loads((tmp_path / "deployed.json").read_text())
    assert seen["argv"] == ["shop-1.4.0", "1.4.0", "sha256:" + "b" * 64, "{unknown}"]
    assert seen["env"]["SHIPLANE_RELEASE_ID"] == "rel-7"
    assert seen["env"]["SHIPLANE_COMPONENT_API_VERSION"] == "1.4.0"
    assert seen["env"]["SHIPLANE_COMPONENT_WEB_UI_DIGEST"] == "sha256:" + "b" * 64
    assert json.loads(seen["env"]["SHIPLANE_COMPONENTS"])[0]["name"] == "api"
    assert result.outputs["exitCode"] == 0
    assert (tmp_path / "api.version").read_text() == f"1.4.0 sha256:{'a' * 64}\n"
    state = Local().inspect(ctx)
    assert state["components"] == [
        {"name": "api", "version": "1.4.0", "digest": "sha256:" + "a" * 64},
        {"name": "web-ui", "version": "2.0.1", "digest": "sha256:" + "b" * 64},
    ]


def test_a_version_file_changed_by_hand_shows_in_inspect(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    assert Local().deploy(ctx, MANIFEST).ok
    (tmp_path / "api.version").write_text("1.3.9 sha256:" + "c" * 64 + "\n")
    components = {c["name"]: c for c in Local().inspect(ctx)["components"]}
    assert components["api"]["version"] == "1.3.9"
    assert components["web-ui"]["version"] == "2.0.1"


def test_a_failing_command_fails_the_deploy_and_records_nothing(tmp_path: Path) -> None:
    ctx = context(
        tmp_path, deployCommand=[sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(4)"]
    )
    result = Local().deploy(ctx, MANIFEST)
    assert not result.ok and "exited with 4" in result.message
    assert "boom" in result.outputs["stderr"]
    assert not list(tmp_path.glob("*.version"))


def test_a_command_that_outlives_its_timeout_fails(tmp_path: Path) -> None:
    ctx = context(tmp_path, deployCommand=[sys.executable, "-c", "import time; time.sleep(30)"], deployTimeoutSeconds=1)
    result = Local().deploy(ctx, MANIFEST)
    assert not result.ok and "did not finish in time" in result.message


def test_a_component_name_that_is_a_path_is_refused(tmp_path: Path) -> None:
    manifest = {"components": [{"name": "../../etc/passwd", "version": "1"}]}
    result = Local().deploy(context(tmp_path / "target"), manifest)
    assert not result.ok and "component names" in result.message
    assert not (tmp_path / "etc").exists()


def test_the_sticker_is_written_atomically_and_read_back(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    assert Local().read_sticker(ctx) is None
    Local().write_sticker(ctx, {"releaseId": "rel-7"})
    assert Local().read_sticker(ctx) == {"releaseId": "rel-7"}
    assert [p.name for p in tmp_path.iterdir()] == [STICKER]  # no temporary file left
    (tmp_path / STICKER).write_text("{not json")
    assert Local().read_sticker(ctx) == {"unreadable": True}


@pytest.fixture
def http_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200 if self.path == "/healthz" else 503)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_health_by_http(tmp_path: Path, http_server: str) -> None:
    good = Local().health_check(context(tmp_path, healthCheck={"http": {"url": f"{http_server}/healthz"}}))
    assert good.status == "ok" and good.details["status"] == 200 and "latencyMs" in good.details
    bad = Local().health_check(context(tmp_path, healthCheck={"http": {"url": f"{http_server}/other"}}))
    assert bad.status == "failing" and "503" in bad.message


def test_health_by_tcp(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert (
            Local().health_check(context(tmp_path, healthCheck={"tcp": {"host": "127.0.0.1", "port": port}})).status
            == "ok"
        )
    closed = Local().health_check(context(tmp_path, healthCheck={"tcp": {"host": "127.0.0.1", "port": port}}))
    assert closed.status == "failing"


def test_health_by_command_and_by_default(tmp_path: Path) -> None:
    ok = Local().health_check(context(tmp_path, healthCheck={"command": [sys.executable, "-c", "print('fine')"]}))
    assert ok.status == "ok" and "fine" in ok.details["output"]
    failing = Local().health_check(
        context(tmp_path, healthCheck={"command": [sys.executable, "-c", "raise SystemExit(2)"]})
    )
    assert failing.status == "failing" and failing.details["exitCode"] == 2
    assert Local().health_check(context(tmp_path)).status == "ok"
    assert Local().health_check(context(tmp_path / "missing")).status == "failing"
