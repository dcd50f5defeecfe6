"""The base of every request model: camelCase on the wire, unknown fields refused,
and no NUL character anywhere in the body."""

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


def nul_paths(data: Any, limit: int = MAX_REPORTED_PATHS) -> list[str]:
    """Dotted paths of the strings (values or keys, at any depth) that contain NUL.

    Iterative, so a deeply nested ``dict[str, Any]`` value cannot exhaust the stack.
    """
    found: list[str] = []
    stack: list[tuple[tuple[str, ...], Any]] = [((), data)]
    while stack and len(found) < limit:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                found.append(".".join(path))
        elif isinstance(value, dict):
            children = []
            for key, item in value.items():
                segment = str(key)
                if "\x00" in segment:
                    segment = segment.replace("\x00", "\\u0000")
                    found.append(".".join((*path, segment)))
                children.append(((*path, segment), item))
            stack.extend(reversed(children))
        elif isinstance(value, list | tuple):
            stack.extend(reversed([((*path, str(i)), item) for i, item in enumerate(value)]))
    return found[:limit]


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        # PostgreSQL cannot store NUL in text or JSON(B): refuse it here, in every
        # string of the body (nested free-form dicts included), not in the driver.
        paths = nul_paths(data)
        if paths:
            raise PydanticCustomError(NUL_ERROR_TYPE, NUL_MESSAGE, {"paths": paths})
        return data
