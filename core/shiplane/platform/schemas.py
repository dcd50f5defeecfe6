"""The base of every request model: camelCase on the wire, unknown fields refused,
no NUL character anywhere in the body, and no nesting deeper than MAX_DEPTH."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

# The error type a NUL character yields; its context lists the dotted paths (below
# the model's own location) of every offending string, which the error handler in
# platform/http.py turns into one validation error per path.
NUL_ERROR_TYPE = "string_contains_nul"
NUL_MESSAGE = "must not contain the NUL character (\\u0000)"
MAX_REPORTED_PATHS = 20
# Objects and arrays nested deeper than this anywhere in a body are refused before any
# other code sees them: recursive code further on (JSON Schema, policy rules, the JSON
# encoder) would otherwise hit RecursionError. The error's context names the path of
# the first container past the limit, in the same form as NUL_ERROR_TYPE.
MAX_DEPTH = 32
TOO_DEEP_ERROR_TYPE = "too_deep"
TOO_DEEP_MESSAGE = f"must not nest objects and arrays more than {MAX_DEPTH} levels deep"
# Error types whose context carries ``paths`` (see platform/http.py).
PATH_ERROR_TYPES = frozenset({NUL_ERROR_TYPE, TOO_DEEP_ERROR_TYPE})


def scan_body(data: Any, limit: int = MAX_REPORTED_PATHS, max_depth: int = MAX_DEPTH) -> tuple[list[str], str | None]:
    """The dotted paths of the strings (values or keys) that contain NUL, and the path
    of the first object or array nested more than ``max_depth`` levels deep (the body
    itself is level 1), or ``None``.

    Iterative and bounded: it never descends past ``max_depth`` and stops at the first
    container past it, so no body can exhaust the stack or make it walk for long.
    """
    found: list[str] = []
    stack: list[tuple[tuple[str, ...], Any, int]] = [((), data, 1)]
    while stack and len(found) < limit:
        path, value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                found.append(".".join(path))
            continue
        if not isinstance(value, dict | list | tuple):
            continue
        if depth > max_depth:
            return found, ".".join(path)
        if isinstance(value, dict):
            children = []
            for key, item in value.items():
                segment = str(key)
                if "\x00" in segment:
                    segment = segment.replace("\x00", "\\u0000")
                    found.append(".".join((*path, segment)))
                children.append(((*path, segment), item, depth + 1))
            stack.extend(reversed(children))
        else:
            stack.extend(reversed([((*path, str(i)), item, depth + 1) for i, item in enumerate(value)]))
    return found[:limit], None


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        # PostgreSQL cannot store NUL in text or JSON(B): refuse it here, in every
        # string of the body (nested free-form dicts included), not in the driver.
        # Bodies nested too deep are refused here too, before any recursive code runs.
        paths, too_deep = scan_body(data)
        if too_deep is not None:
            raise PydanticCustomError(TOO_DEEP_ERROR_TYPE, TOO_DEEP_MESSAGE, {"paths": [too_deep]})
        if paths:
            raise PydanticCustomError(NUL_ERROR_TYPE, NUL_MESSAGE, {"paths": paths})
        return data
