"""The plugin host's wire format, shared by the server and its plugin workers.

A frame is a 4-byte big-endian length and that many bytes of JSON. Values are plain
JSON, except these, written as an object with the reserved key ``__shiplane_wire__``:

- ``{"__shiplane_wire__": "model", "name": "GateResult", "value": {...}}``: an SDK
  model (:mod:`shiplane_sdk.models`), as ``model_dump(mode="json")``;
- ``{"__shiplane_wire__": "datetime", "value": "2026-11-30T05:00:00+00:00"}``;
- ``{"__shiplane_wire__": "bytes", "value": "<base64>"}``;
- ``{"__shiplane_wire__": "context", "index": 0, "attrs": {...}}``: a call context
  (gate, step or target); its methods are served back over the channel
  (see ``docs/plugins/isolation.md``).

This module imports only the standard library and the SDK: it runs inside workers.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
from collections.abc import Callable
from datetime import datetime
from typing import Any

import shiplane_sdk.models as sdk_models
from pydantic import BaseModel

TAG = "__shiplane_wire__"
MAX_FRAME_BYTES = 64 * 1024 * 1024
_HEADER = struct.Struct(">I")
#: The attributes of each context protocol the core hands to capabilities.
CONTEXT_ATTRIBUTES = {
    "step": ("tenant_id", "run_id", "step_id", "inputs", "requested_by", "decisions"),
    "gate": ("tenant_id", "release", "environment", "promotion", "now"),
    "target": ("tenant_id", "target"),
}
#: The methods a context serves back to the worker; ``log`` needs no answer. The step
#: context's core services are coroutines: the server runs them on its event loop.
CONTEXT_METHODS = (
    "log",
    "write_artifact",
    "is_cancelled",
    "integration",
    "secret",
    "notify",
    "evaluate_gate",
    "check_target",
    "run_command",
    "deploy",
)
#: The step context's core services: how many leading arguments are positional, and the
#: names of the keyword-only ones after them (sent positionally, in this order).
CONTEXT_SERVICES: dict[str, tuple[int, tuple[str, ...]]] = {
    "notify": (3, ("severity", "data")),
    "evaluate_gate": (2, ("release", "environment")),
    "check_target": (1, ()),
    "run_command": (1, ("agent", "agent_labels", "env", "timeout_seconds", "working_directory", "secret_env")),
    "deploy": (2, ()),
}
_MODELS: dict[str, type[BaseModel]] = {
    name: value
    for name in dir(sdk_models)
    if isinstance(value := getattr(sdk_models, name), type) and issubclass(value, BaseModel) and value is not BaseModel
}


class WireError(ValueError):
    """The other side sent something that is not a frame of this protocol."""


def encoder(context_index: Callable[[Any], int | None] | None = None) -> Callable[[Any], Any]:
    """``default`` for ``json.dumps``: SDK models, datetimes, bytes and (on the server)
    contexts, which ``context_index`` numbers."""

    def default(value: Any) -> Any:
        if isinstance(value, BaseModel) and _MODELS.get(type(value).__name__) is type(value):
            return {TAG: "model", "name": type(value).__name__, "value": value.model_dump(mode="json")}
        if isinstance(value, datetime):
            return {TAG: "datetime", "value": value.isoformat()}
        if isinstance(value, bytes | bytearray):
            return {TAG: "bytes", "value": base64.b64encode(bytes(value)).decode("ascii")}
        if isinstance(value, tuple | set | frozenset):
            return list(value)
        if context_index is not None:
            index = context_index(value)
            if index is not None:
                return {TAG: "context", "index": index, "attrs": context_attributes(value)}
        raise TypeError(f"{type(value).__name__} cannot cross the plugin boundary")

    return default


def context_attributes(ctx: Any) -> dict[str, Any]:
    for names in CONTEXT_ATTRIBUTES.values():
        if all(hasattr(ctx, name) for name in names):
            return {name: getattr(ctx, name) for name in names}
    raise TypeError(f"{type(ctx).__name__} is not a context")


def is_context(value: Any) -> bool:
    return not isinstance(value, dict | list | str | int | float | bool | BaseModel) and any(
        all(hasattr(value, name) for name in names) for names in CONTEXT_ATTRIBUTES.values()
    )


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    return json.dumps(value, default=default or encoder(), separators=(",", ":"), allow_nan=False).encode()


def loads(data: bytes, make_context: Callable[[int, dict[str, Any]], Any] | None = None) -> Any:
    def hook(obj: dict[str, Any]) -> Any:
        tag = obj.get(TAG)
        if tag is None:
            return obj
        try:
            if tag == "model":
                return _MODELS[obj["name"]].model_validate(obj["value"])
            if tag == "datetime":
                return datetime.fromisoformat(obj["value"])
            if tag == "bytes":
                return base64.b64decode(obj["value"], validate=True)
            if tag == "context" and make_context is not None:
                return make_context(int(obj["index"]), dict(obj["attrs"]))
        except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            raise WireError(f"a {tag} value that does not decode: {type(exc).__name__}") from None
        raise WireError(f"unexpected {TAG} {tag!r}")

    try:
        return json.loads(data, object_hook=hook)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, nesting
        if isinstance(exc, WireError):
            raise
        raise WireError(f"a frame that is not JSON: {type(exc).__name__}") from None


def send(sock: socket.socket, payload: bytes) -> None:
    if len(payload) > MAX_FRAME_BYTES:
        raise WireError(f"a frame may have at most {MAX_FRAME_BYTES} bytes, this one has {len(payload)}")
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def _read_exact(sock: socket.socket, size: int) -> bytes | None:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        count = sock.recv_into(view[got:], size - got)
        if count == 0:
            return None
        got += count
    return bytes(buffer)


def receive(sock: socket.socket) -> bytes | None:
    """The next frame's payload, or ``None`` when the other side has closed."""
    header = _read_exact(sock, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME_BYTES:
        raise WireError(f"a frame of {size} bytes is over the limit")
    payload = _read_exact(sock, size)
    if payload is None:
        return None
    return payload
