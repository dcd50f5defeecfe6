"""Secrets in stored configuration: encrypted at rest, masked in every output.

Secret fields are named by dotted paths (``auth.token``, ``endpoints.*.password``;
``*`` matches any key or index), as ``Capability.secret_fields()`` reports the
properties a plugin marks ``"writeOnly": true``. Stored values are Fernet tokens
(AES-128-CBC + HMAC-SHA256, from the ``cryptography`` package) wrapped as
``{"$encrypted": "<token>"}``; the key is derived from ``SHIPLANE_ENCRYPTION_KEY``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

MASK = "***"
ENCRYPTED = "$encrypted"


class SecretBox:
    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except ValueError:
            # Any passphrase works: it is stretched to a Fernet key by SHA-256.
            self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))

    def encrypt(self, value: Any) -> dict[str, str]:
        return {ENCRYPTED: self._fernet.encrypt(json.dumps(value).encode()).decode()}

    def decrypt(self, sealed: Any) -> Any:
        if not is_sealed(sealed):
            return sealed
        try:
            return json.loads(self._fernet.decrypt(sealed[ENCRYPTED].encode()))
        except InvalidToken:
            raise RuntimeError("a stored secret cannot be decrypted with the configured encryption key") from None


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {ENCRYPTED}


def _walk(value: Any, pattern: list[str], fn: Callable[[Any], Any]) -> Any:
    if not pattern:
        return fn(value)
    head, rest = pattern[0], pattern[1:]
    if isinstance(value, dict):
        out = dict(value)
        for key in list(value):
            if head in ("*", key) and not is_sealed(value):
                out[key] = _walk(value[key], rest, fn)
        return out
    if isinstance(value, list):
        return [_walk(item, rest, fn) if head in ("*", str(i)) else item for i, item in enumerate(value)]
    return value


def at_paths(value: Any, paths: Iterable[str], fn: Callable[[Any], Any]) -> Any:
    """A copy of ``value`` with ``fn`` applied at every location a path matches."""
    for path in paths:
        value = _walk(value, path.split("."), fn)
    return value


def seal(config: dict[str, Any], paths: Iterable[str], box: SecretBox) -> dict[str, Any]:
    return at_paths(config, paths, lambda v: v if v is None or is_sealed(v) else box.encrypt(v))


def unseal(config: dict[str, Any], paths: Iterable[str], box: SecretBox) -> dict[str, Any]:
    return at_paths(config, paths, box.decrypt)


def mask(config: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    return at_paths(config, paths, lambda v: None if v is None else MASK)


def mask_sealed(value: Any) -> Any:
    """A copy of ``value`` with every sealed secret shown as ``***`` (no schema needed)."""
    if is_sealed(value):
        return MASK
    if isinstance(value, dict):
        return {key: mask_sealed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_sealed(item) for item in value]
    return value


def secret_values(config: dict[str, Any], paths: Iterable[str]) -> list[str]:
    """The clear-text secret values in ``config`` (to scrub them from error messages)."""
    found: list[str] = []

    def collect(v: Any) -> Any:
        if v is not None and not is_sealed(v):
            found.append(v if isinstance(v, str) else json.dumps(v))
        return v

    at_paths(config, paths, collect)
    return [f for f in found if f]


def secret_paths_holding(config: Any, paths: Iterable[str], value: Any) -> list[str]:
    """The concrete dotted paths (``*`` expanded) of secret fields whose value is ``value``."""
    return sorted({where for path in paths for where, found in values_at(config, path) if found == value})


def values_at(config: Any, path: str) -> list[tuple[str, Any]]:
    """``(concrete path, value)`` for every location ``path`` (``*`` for any key or index) matches."""
    found: list[tuple[str, Any]] = []

    def walk(node: Any, pattern: list[str], where: list[str]) -> None:
        if not pattern:
            found.append((".".join(where), node))
            return
        head, rest = pattern[0], pattern[1:]
        if isinstance(node, dict):
            for key, item in node.items():
                if head in ("*", key):
                    walk(item, rest, [*where, str(key)])
        elif isinstance(node, list):
            for i, item in enumerate(node):
                if head in ("*", str(i)):
                    walk(item, rest, [*where, str(i)])

    walk(config, path.split("."), [])
    return found


def moved_destinations(new: Any, stored: Any, destinations: Iterable[str]) -> list[str]:
    """The destination fields (a URL, a host) whose value differs between ``stored`` and ``new``."""
    return sorted(
        {p for d in destinations for p, _ in set(_pairs(values_at(new, d))) ^ set(_pairs(values_at(stored, d)))}
    )


def _pairs(found: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    return [(path, json.dumps(value, sort_keys=True)) for path, value in found]


def keep_masked(new: dict[str, Any], stored: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """On update, a secret sent back as ``***`` keeps its stored (sealed) value."""
    for path in paths:
        new = _keep(new, stored, path.split("."))
    return new


def _keep(new: Any, stored: Any, pattern: list[str]) -> Any:
    if not pattern:
        return stored if new == MASK else new
    head, rest = pattern[0], pattern[1:]
    if isinstance(new, dict):
        out = dict(new)
        for key in new:
            if head in ("*", key):
                old = stored.get(key) if isinstance(stored, dict) else None
                out[key] = _keep(new[key], old, rest)
        return out
    if isinstance(new, list):
        out_list = []
        for i, item in enumerate(new):
            old = stored[i] if isinstance(stored, list) and i < len(stored) else None
            out_list.append(_keep(item, old, rest) if head in ("*", str(i)) else item)
        return out_list
    return new
