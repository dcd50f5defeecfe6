"""Real server processes for tests: start ``shiplane serve`` on a free loopback port,
wait for ``/healthz``, and always stop it by its pid.

Every wait is bounded. Output goes to a log file (never a pipe a busy server could
fill and block on), so a test can read what the server printed, such as the
development token, and show it when something fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def shiplane_command() -> list[str]:
    """The installed ``shiplane`` console script next to this interpreter (else ``-m``)."""
    script = Path(sys.executable).parent / "shiplane"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "shiplane.cli"]


def clean_env(**values: str) -> dict[str, str]:
    """The current environment without any inherited ``SHIPLANE_*`` variable, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLANE_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(values)
    return env


def run_cli(args: Sequence[str], env: dict[str, str], cwd: Path, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run the real ``shiplane`` command to completion (bounded) and capture its output."""
    return subprocess.run(
        [*shiplane_command(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def production_env(database_url: str, data_dir: Path, secret: str, encryption_key: str, **extra: str) -> dict[str, str]:
    """A server environment in production mode: explicit keys, an already migrated database,
    rate limits off so concurrent test load is never refused, quiet logs, and the evidence
    and OAuth signing keys (generated in ``data_dir`` unless given)."""
    if "SHIPLANE_SIGNING_KEY_PATH" not in extra:
        from shiplane.platform.signing import _write_new_key

        key = data_dir / "signing-key.pem"
        if not key.exists():
            _write_new_key(key)
        extra["SHIPLANE_SIGNING_KEY_PATH"] = str(key)
    if "SHIPLANE_OAUTH_SIGNING_KEY_PATH" not in extra:
        from shiplane.serviceaccounts.tokens import write_new_key

        oauth_key = data_dir / "oauth-key.pem"
        if not oauth_key.exists():
            write_new_key(oauth_key)
        extra["SHIPLANE_OAUTH_SIGNING_KEY_PATH"] = str(oauth_key)
    return clean_env(
        SHIPLANE_MODE="production",
        SHIPLANE_DATABASE_URL=database_url,
        SHIPLANE_AUTH_HS_SECRET=secret,
        SHIPLANE_ENCRYPTION_KEY=encryption_key,
        SHIPLANE_DATA_DIR=str(data_dir),
        SHIPLANE_RATE_LIMIT_ENABLED="false",
        SHIPLANE_LOG_LEVEL="WARNING",
        **extra,
    )


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never one handed out before in this test run.

    The kernel may offer a just-released port again before the server given it has
    bound it; a second server on the same port would then pass its health check by
    reaching the first one.
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def port_is_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log_path: Path
    _log_file: object = field(repr=False, default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(f"server on port {self.port} exited with {code}:\n{self.output()[-4000:]}")
            try:
                response = httpx.get(f"{self.url}/healthz", timeout=2.0)
                if response.status_code == 200:
                    return
                last_error = f"status {response.status_code}"
            except httpx.HTTPError as exc:
                last_error = repr(exc)
            time.sleep(0.1)
        raise TimeoutError(
            f"server on port {self.port} not healthy after {timeout}s ({last_error}):\n{self.output()[-4000:]}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM by pid, then SIGKILL if it has not exited in ``timeout`` seconds."""
        try:
            if self.process.poll() is None:
                try:
                    os.kill(self.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    try:
                        os.kill(self.process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    self.process.wait(timeout=timeout)
        finally:
            if self._log_file is not None:
                self._log_file.close()  # type: ignore[attr-defined]
                self._log_file = None


def spawn_server(
    env: dict[str, str], workdir: Path, *, port: int | None = None, args: Sequence[str] = (), name: str = "server"
) -> Server:
    """Start ``shiplane serve --port <port>`` (not waiting for it); the caller must ``stop()`` it."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}-{port}.log"
    log_file = open(log_path, "w")  # noqa: SIM115 - closed in Server.stop()
    try:
        process = subprocess.Popen(
            [*shiplane_command(), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            env=env,
            cwd=workdir,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    except BaseException:
        log_file.close()
        raise
    return Server(process, port, log_path, log_file)


BIND_ERRORS = ("address already in use", "error while attempting to bind")


def _healthy_or_respawn(
    server: Server, env: dict[str, str], workdir: Path, args: Sequence[str], name: str, timeout: float
) -> Server:
    """Wait for ``server``; if another process took its port meanwhile, start it again elsewhere.

    Whatever goes wrong, the process this started is stopped before the error propagates.
    """
    try:
        for _attempt in range(2):
            try:
                server.wait_healthy(timeout)
                return server
            except RuntimeError:
                if not any(marker in server.output().lower() for marker in BIND_ERRORS):
                    raise
                server.stop()
                server = spawn_server(env, workdir, args=args, name=name)
        server.wait_healthy(timeout)
        return server
    except BaseException:
        server.stop()
        raise


def start_server(
    env: dict[str, str],
    workdir: Path,
    *,
    args: Sequence[str] = (),
    name: str = "server",
    timeout: float = START_TIMEOUT,
) -> Server:
    """One server, healthy; the caller must ``stop()`` it (in a finally or a fixture teardown)."""
    return _healthy_or_respawn(spawn_server(env, workdir, args=args, name=name), env, workdir, args, name, timeout)


@contextmanager
def running_servers(
    count: int, env: dict[str, str], workdir: Path, *, args: Sequence[str] = (), timeout: float = START_TIMEOUT
) -> Iterator[list[Server]]:
    """``count`` servers started side by side and healthy; all stopped (by pid) on exit."""
    servers: list[Server] = []
    try:
        for index in range(count):
            servers.append(spawn_server(env, workdir, args=args, name=f"server{index}"))
        for index, server in enumerate(servers):
            servers[index] = _healthy_or_respawn(server, env, workdir, args, f"server{index}", timeout)
        yield servers
    finally:
        for server in servers:
            server.stop()
