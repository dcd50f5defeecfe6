"""Driving the local nginx: test a configuration (``nginx -T``) and reload it (``SIGHUP``).

The reload is confirmed from ``/proc`` (Linux): the master process answers ``SIGHUP`` by
starting new worker processes with the new configuration and telling the old ones to
stop accepting connections; :func:`reload` returns once a new child process exists and
every old one has exited or is "shutting down". If nginx refuses the configuration at
reload time it keeps its old workers, and :func:`reload` fails when its deadline passes.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from shiplane_sdk import PluginError

__all__ = ["TestResult", "find_binary", "first_error", "reload", "test_config"]

_SBIN_DIRECTORIES = ("/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin", "/sbin")
_DUMP_HEADER = re.compile(r"^# configuration file (.+):$")
_LEVELED = re.compile(r"\[(emerg|alert|crit|error)\]\s+(?:\d+#\d+:\s+)?(?:\*\d+\s+)?(.*)")
_ANY_LEVEL = re.compile(r"^(?:nginx: |\S+ \S+ )?\[\w+\]\s+(?:\d+#\d+:\s+)?(.*)")
_MESSAGE_LIMIT = 300
_POLL_SECONDS = 0.02


def _one_line(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def find_binary(binary: str) -> str:
    """The nginx executable: an absolute ``binary`` as is; ``nginx`` from PATH, else the usual sbin directories."""
    if os.path.isabs(binary):
        if not os.access(binary, os.X_OK):
            raise PluginError(f"the nginx binary {binary} does not exist or is not executable")
        return binary
    found = shutil.which(binary)
    if found:
        return found
    for directory in _SBIN_DIRECTORIES:
        candidate = os.path.join(directory, binary)
        if os.access(candidate, os.X_OK):
            return candidate
    raise PluginError(f"nginx was not found on PATH nor in {', '.join(_SBIN_DIRECTORIES)}: set nginxBinary")


def first_error(output: str) -> str:
    """The first error nginx printed (without its time stamp and pid), else its first line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        match = _LEVELED.search(line)
        if match:
            return _one_line(match.group(2))
    for line in lines:
        match = _ANY_LEVEL.match(line)
        return _one_line(match.group(1) if match else line.removeprefix("nginx: "))
    return "nginx gave no reason"


@dataclass(frozen=True)
class TestResult:
    """What ``nginx -T`` said: whether the configuration is valid, why not, and the files it read."""

    __test__ = False  # not a pytest test class

    ok: bool
    reason: str
    files: frozenset[str]


def test_config(binary: str, main_config: str, prefix: str | None, timeout: float) -> TestResult:
    """Run ``nginx -T -c <main_config>`` (``-p <prefix>``): test the configuration and list its files."""
    command = [find_binary(binary), "-T", "-c", main_config]
    if prefix:
        command[2:2] = ["-p", prefix.rstrip("/") + "/"]
    try:
        # A session of its own: on timeout the whole process group goes, so nothing it started keeps the pipes open.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise PluginError(f"could not run nginx: {_one_line(exc.strerror or str(exc))}") from None
    try:
        stdout, stderr_bytes = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise PluginError(f"nginx -T did not finish within {timeout:g} s") from None
    except BaseException:
        _kill_group(process)
        raise
    completed = subprocess.CompletedProcess(command, process.returncode, stdout, stderr_bytes)
    stderr = completed.stderr.decode("utf-8", "replace")
    if completed.returncode != 0:
        return TestResult(ok=False, reason=first_error(stderr), files=frozenset())
    files = set()
    for line in completed.stdout.decode("utf-8", "replace").splitlines():
        match = _DUMP_HEADER.match(line)
        if match:
            files.add(os.path.realpath(match.group(1)))
    return TestResult(ok=True, reason="", files=frozenset(files))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        process.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # something left the group and holds the pipes: stop waiting for it
        process.kill()


def _read_master_pid(pid_file: str) -> int:
    try:
        text = Path(pid_file).read_text(encoding="ascii", errors="replace")[:32].strip()
    except FileNotFoundError:
        raise PluginError(f"nginx is not running: its pid file {pid_file} does not exist") from None
    except OSError as exc:
        raise PluginError(f"could not read the pid file {pid_file}: {_one_line(exc.strerror or str(exc))}") from None
    if not text.isdigit() or int(text) <= 1:
        raise PluginError(f"the pid file {pid_file} does not hold a process id")
    return int(text)


def _cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def _children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (``/proc``; zombies count as gone)."""
    children_file = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        candidates = [int(part) for part in children_file.read_text().split()]
    except (OSError, ValueError):
        candidates = [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    found: set[int] = set()
    for child in candidates:
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 2 and fields[0] != "Z" and fields[1] == str(pid):
            found.add(child)
    return found


def _shutting_down(pid: int) -> bool:
    title = _cmdline(pid)
    return title is None or "shutting down" in title


def reload(pid_file: str, timeout: float) -> None:
    """Make nginx's master (pid from ``pid_file``) load its configuration again; return once it has.

    Raises :class:`PluginError` if nginx is not running, can't be signalled, or has not
    started new workers within ``timeout`` seconds (it refused the configuration, see its error log).
    """
    if not os.path.isdir("/proc/self"):
        raise PluginError("the nginx router needs Linux (it confirms reloads in /proc)")
    pid = _read_master_pid(pid_file)
    title = _cmdline(pid)
    if title is None:
        raise PluginError(f"nginx is not running: no process has the pid {pid} from {pid_file}")
    if not title.startswith("nginx: master process"):
        raise PluginError(f"the process {pid} from {pid_file} is not an nginx master process")
    before = _children(pid)
    try:
        os.kill(pid, signal.SIGHUP)
    except PermissionError:
        raise PluginError(
            f"not allowed to signal nginx's master process {pid}: run Shiplane as nginx's user or root"
        ) from None
    except ProcessLookupError:
        raise PluginError(f"nginx's master process {pid} exited") from None
    deadline = time.monotonic() + timeout
    while True:
        now = _children(pid)
        started = now - before
        if started and all(_shutting_down(old) for old in before & now):
            return
        if _cmdline(pid) is None:
            raise PluginError(f"nginx's master process {pid} exited during the reload")
        if time.monotonic() >= deadline:
            raise PluginError(f"nginx did not load the new configuration within {timeout:g} s (its error log says why)")
        time.sleep(_POLL_SECONDS)
