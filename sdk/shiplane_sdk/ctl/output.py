"""``--output table|json|yaml``: what a command prints on stdout."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

import yaml

FORMATS = ("table", "json", "yaml")
MAX_CELL = 60
#: Columns shown first when present (the rest of the scalar fields follow, up to MAX_COLUMNS).
PREFERRED = ("id", "name", "displayName", "state", "status", "kind", "outcome", "type", "version", "createdAt")
MAX_COLUMNS = 7


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _columns(rows: Sequence[dict[str, Any]], wanted: Sequence[str] | None) -> list[str]:
    if wanted:
        return list(wanted)
    keys: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key not in keys and not isinstance(value, dict | list):
                keys.append(key)
    ordered = [k for k in PREFERRED if k in keys] + [k for k in keys if k not in PREFERRED]
    return ordered[:MAX_COLUMNS]


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "(none)"
    cols = _columns(rows, columns)
    cells = [[_cell(row.get(c)) for c in cols] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    header = "  ".join(c.upper().ljust(widths[i]) for i, c in enumerate(cols)).rstrip()
    lines = [header] + ["  ".join(r[i].ljust(widths[i]) for i in range(len(cols))).rstrip() for r in cells]
    return "\n".join(lines)


def key_values(value: dict[str, Any]) -> str:
    width = max((len(k) for k in value), default=0)
    return "\n".join(f"{k.ljust(width)}  {_cell(v) if not isinstance(v, str) else v}" for k, v in value.items())


def render(value: Any, fmt: str, columns: Sequence[str] | None = None) -> str:
    if fmt == "json":
        return json.dumps(value, indent=2, default=str)
    if fmt == "yaml":
        return yaml.safe_dump(value, sort_keys=False, allow_unicode=True).rstrip()
    if isinstance(value, list):
        if all(isinstance(v, dict) for v in value):
            return table(value, columns)
        return "\n".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return key_values(value)
    return "" if value is None else str(value)


def emit(value: Any, fmt: str, stream: TextIO, columns: Sequence[str] | None = None) -> None:
    text = render(value, fmt, columns)
    if text:
        stream.write(text + "\n")
