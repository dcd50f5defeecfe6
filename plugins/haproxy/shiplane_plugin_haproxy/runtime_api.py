"""A small client of HAProxy's runtime API (the ``stats socket``), over a UNIX socket or TCP.

One command per connection, in HAProxy's non-interactive mode: the client sends a
line, HAProxy answers and closes. Every connection, write and read is bounded by the
deadline the client was created with, so nothing waits longer than that. The caller
builds commands from names already checked against :data:`NAME_PATTERN`; the client
refuses a line holding ``;`` (HAProxy's command separator) or a line break anyway.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass

from shiplane_sdk import PluginError

__all__ = [
    "ADMIN_DRAIN",
    "ADMIN_MAINT",
    "MAX_ANSWER_BYTES",
    "NAME_PATTERN",
    "UNIX_PATH_MAX_BYTES",
    "Address",
    "RuntimeApi",
    "ServerState",
    "excerpt",
    "parse_address",
]

#: A backend or server name the plugin accepts (also the schema's pattern).
NAME_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
#: ``sun_path`` holds 108 bytes on Linux, the last one a NUL.
UNIX_PATH_MAX_BYTES = 107
#: The most the client reads of one answer (``show servers state`` of a big backend fits easily).
MAX_ANSWER_BYTES = 4 << 20

# srv_admin_state bits (HAProxy's enum srv_admin): forced, inherited or DNS maintenance; forced or inherited drain.
ADMIN_MAINT = 0x01 | 0x02 | 0x20
ADMIN_DRAIN = 0x08 | 0x10
# srv_op_state values: 0 stopped, 1 starting, 2 running, 3 stopping.
_OP_STATES = {0: "down", 1: "starting", 2: "up", 3: "stopping"}

_HOST_PORT = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]{2,45})\]|(?P<host>[A-Za-z0-9.-]{1,253})):(?P<port>[0-9]{1,5})")
_WEIGHT_ANSWER = re.compile(r"(?P<current>[0-9]+) \(initial (?P<initial>[0-9]+)\)")
_REQUIRED_COLUMNS = ("srv_name", "srv_op_state", "srv_admin_state", "srv_uweight", "srv_iweight")


@dataclass(frozen=True)
class Address:
    """Where the runtime API listens: a UNIX socket ``path``, or ``host`` and ``port``."""

    path: str | None = None
    host: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        if self.path is not None:
            return self.path
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(text: str) -> Address:
    """``/run/haproxy/admin.sock``, ``127.0.0.1:9999``, ``lb.internal:9999`` or ``[::1]:9999``.

    Raises ``ValueError`` saying what is wrong.
    """
    if not isinstance(text, str) or not text or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError("must be an absolute UNIX socket path or host:port, on one line")
    if text.startswith("/"):
        if len(text.encode()) > UNIX_PATH_MAX_BYTES:
            raise ValueError(f"a UNIX socket path may have at most {UNIX_PATH_MAX_BYTES} bytes")
        return Address(path=text)
    match = _HOST_PORT.fullmatch(text)
    if match is None:
        raise ValueError("must be an absolute UNIX socket path or host:port")
    port = int(match["port"])
    if not 1 <= port <= 65535:
        raise ValueError("the port must be from 1 to 65535")
    return Address(host=match["v6"] or match["host"], port=port)


def excerpt(answer: str, limit: int = 300) -> str:
    """HAProxy's answer on one line, shortened: safe to put in a message."""
    text = " ".join(answer.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class ServerState:
    """One line of ``show servers state``: the parts the router uses."""

    name: str
    op_state: int
    admin_state: int
    weight: int
    initial_weight: int

    @property
    def takes_new_traffic(self) -> bool:
        """Up (or starting) and neither in maintenance nor draining: load balancing may pick it."""
        return self.op_state in (1, 2) and not self.admin_state & (ADMIN_MAINT | ADMIN_DRAIN)

    def why_not(self) -> str:
        """Why load balancing skips the server (for messages)."""
        if self.admin_state & ADMIN_MAINT:
            return "in maintenance"
        if self.admin_state & ADMIN_DRAIN:
            return "draining"
        return _OP_STATES.get(self.op_state, f"in state {self.op_state}")


class RuntimeApi:
    """Commands to one HAProxy runtime API, all within ``timeout`` seconds from creation."""

    def __init__(self, address: str, timeout: float) -> None:
        try:
            self.address = parse_address(address)
        except ValueError as exc:
            raise PluginError(f"the runtime API address {address!r} is not valid: it {exc}.") from None
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    def command(self, line: str) -> str:
        """Send one command, return HAProxy's whole answer (text; ``""`` means done, no message).

        Raises :class:`PluginError` when the runtime API can't be reached or does not
        answer in time.
        """
        if any(c in line for c in ";\r\n\0"):
            raise PluginError(f"refusing to send a runtime API command holding ';' or a line break: {line!r}.")
        try:
            return self._exchange(line)
        except TimeoutError:
            raise PluginError(
                f"HAProxy's runtime API at {self.address} did not answer {line!r} within {self.timeout:g} s.",
                details={"runtimeApi": str(self.address), "command": line},
            ) from None
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise PluginError(
                f"cannot reach HAProxy's runtime API at {self.address}: {reason}.",
                details={"runtimeApi": str(self.address), "command": line},
            ) from None

    def _exchange(self, line: str) -> str:
        address = self.address
        if address.path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(self._remaining())
                sock.connect(address.path)
            except BaseException:
                sock.close()
                raise
        else:
            assert address.host is not None and address.port is not None
            sock = socket.create_connection((address.host, address.port), timeout=self._remaining())
        with sock:
            sock.settimeout(self._remaining())
            sock.sendall(line.encode("ascii") + b"\n")
            chunks: list[bytes] = []
            size = 0
            while True:
                sock.settimeout(self._remaining())
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise PluginError(
                        f"the runtime API at {address} answered more than {MAX_ANSWER_BYTES} bytes to {line!r}; "
                        "is it HAProxy's stats socket?"
                    )
        return b"".join(chunks).decode("utf-8", "replace")

    def servers(self, backend: str) -> dict[str, ServerState]:
        """The servers of ``backend`` (``show servers state <backend>``), by name."""
        command = f"show servers state {backend}"
        answer = self.command(command)
        lines = answer.splitlines()
        header = next((line[2:].split() for line in lines[1:3] if line.startswith("# ")), None)
        if not lines or not lines[0].strip().isdigit() or header is None:  # a format version, then "# columns"
            message = excerpt(answer) or "an empty answer"
            if "find backend" in answer.lower():
                raise PluginError(
                    f"HAProxy has no backend {backend!r} (it answered {message!r}).",
                    details={"backend": backend, "haproxy": message},
                )
            raise PluginError(
                f"HAProxy refused {command!r}: {message}.", details={"command": command, "haproxy": message}
            )
        if not all(column in header for column in _REQUIRED_COLUMNS):
            raise PluginError(f"HAProxy's answer to {command!r} lacks the columns {', '.join(_REQUIRED_COLUMNS)}.")
        index = {column: header.index(column) for column in _REQUIRED_COLUMNS}
        servers: dict[str, ServerState] = {}
        for line in lines:
            fields = line.split()
            if not fields or line.startswith("#") or len(fields) < len(header):
                continue
            try:
                state = ServerState(
                    name=fields[index["srv_name"]],
                    op_state=int(fields[index["srv_op_state"]]),
                    admin_state=int(fields[index["srv_admin_state"]]),
                    weight=int(fields[index["srv_uweight"]]),
                    initial_weight=int(fields[index["srv_iweight"]]),
                )
            except ValueError:
                raise PluginError(
                    f"HAProxy's answer to {command!r} is not a server state: {excerpt(line)!r}."
                ) from None
            servers[state.name] = state
        return servers

    def weight(self, backend: str, server: str) -> int:
        """The server's current weight (``get weight <backend>/<server>``)."""
        command = f"get weight {backend}/{server}"
        answer = self.command(command)
        match = _WEIGHT_ANSWER.fullmatch(answer.strip())
        if match is None:
            message = excerpt(answer) or "an empty answer"
            raise PluginError(
                f"HAProxy refused {command!r}: {message}.", details={"command": command, "haproxy": message}
            )
        return int(match["current"])
