"""The base of every request model: camelCase on the wire, unknown fields refused,
no NUL character, lone surrogate or non-finite number anywhere in the body, and no
nesting deeper than MAX_DEPTH."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator
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
# JSON allows "\ud800" (a lone surrogate) and Python's parser allows NaN and Infinity;
# neither is text or a number that can be stored, hashed into the audit chain or sent
# back as valid JSON, so both are refused at the door.
SURROGATE_ERROR_TYPE = "invalid_unicode"
SURROGATE_MESSAGE = "must be valid Unicode text (no lone surrogate such as \\ud800)"
NON_FINITE_ERROR_TYPE = "non_finite_number"
NON_FINITE_MESSAGE = "must be a finite number (NaN and Infinity are not JSON)"
# Error types whose context carries ``paths`` (see platform/http.py).
PATH_ERROR_TYPES = frozenset({NUL_ERROR_TYPE, TOO_DEEP_ERROR_TYPE, SURROGATE_ERROR_TYPE, NON_FINITE_ERROR_TYPE})


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def scan_values(data: Any, limit: int = MAX_REPORTED_PATHS) -> tuple[list[str], list[str]]:
    """The dotted paths of strings (values or keys) holding a lone surrogate, and of
    numbers that are NaN or infinite. Bounded like ``scan_body`` (call it after that)."""
    bad_text: list[str] = []
    bad_numbers: list[str] = []
    stack: list[tuple[tuple[str, ...], Any]] = [((), data)]
    while stack and len(bad_text) + len(bad_numbers) < limit:
        path, value = stack.pop()
        if isinstance(value, str):
            if not _is_text(value):
                bad_text.append(".".join(path))
        elif isinstance(value, float):
            if not math.isfinite(value):
                bad_numbers.append(".".join(path))
        elif isinstance(value, dict):
            for key, item in value.items():
                segment = str(key)
                if not _is_text(segment):
                    segment = segment.encode("utf-8", "backslashreplace").decode("ascii", "replace")
                    bad_text.append(".".join((*path, segment)))
                stack.append(((*path, segment), item))
        elif isinstance(value, list | tuple):
            stack.extend(((*path, str(i)), item) for i, item in enumerate(value))
    return bad_text, bad_numbers


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


def _integral(value: Any) -> Any:
    # JSON has one number type: 3.0 is the integer 3 (JSON Schema agrees), 3.5 is not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An integer in a request body: ``Annotated[int, Field(ge=1), Integral]``, strict (no
#: strings, no booleans) with 3.0 taken as 3. ``Integral`` comes last, so the ``Field``
#: constraints stay on the integer and show in the OpenAPI document.
Integral = BeforeValidator(_integral)

#: Labels of agents and targets: at most 50, keys of letters, digits and ``._/-``.
LabelKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$")]
LabelValue = Annotated[str, StringConstraints(max_length=128)]
Labels = Annotated[dict[LabelKey, LabelValue], Field(max_length=50, json_schema_extra={"additionalProperties": False})]


class ApiModel(BaseModel):
    # strict: a body says what it means; 0 is not false and "1" is not 1 (the OpenAPI
    # document's types are the contract). A datetime field in a body needs
    # ``Field(strict=False)`` to be parsed from its RFC 3339 string.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True)

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
        bad_text, bad_numbers = scan_values(data)
        if bad_text:
            raise PydanticCustomError(SURROGATE_ERROR_TYPE, SURROGATE_MESSAGE, {"paths": sorted(bad_text)})
        if bad_numbers:
            raise PydanticCustomError(NON_FINITE_ERROR_TYPE, NON_FINITE_MESSAGE, {"paths": sorted(bad_numbers)})
        return data


class ApiOut(BaseModel):
    """The base of every response model (``platform.openapi.returns``): camelCase on the
    wire, and no key the model does not name (``additionalProperties: false`` in the
    document), so a response that grows a field the document lacks fails the suite's
    conformance check. Fields without a default are always present (``null`` where the
    type allows it). The routes build their JSON themselves; these models describe it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
