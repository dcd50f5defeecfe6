"""Tenant-supplied regular expressions and JSON Schemas, safe to evaluate.

A tenant's pattern (a gate's ``pattern``, a ``policy`` gate's JSON Schema) runs
inside the server for every promotion. Python's ``re`` backtracks: ``(a+)+$``
against forty ``a`` and a ``b`` takes longer than the universe, holding the GIL
the whole time, so no timeout can stop it. These helpers run patterns on RE2
(``google-re2``), whose matching is linear in the input, and keep JSON Schemas
from fetching anything (``$ref`` to ``http://...`` or ``file:...``).

Use them for anything a tenant writes::

    from shiplane_sdk.patterns import PatternError, compile_pattern

    def validate_config(self, config):
        errors = super().validate_config(config)
        try:
            compile_pattern(config.get("pattern", ""))
        except PatternError as exc:
            errors.append(ConfigError(field="pattern", message=str(exc), code="pattern"))
        return errors

RE2 does not support backreferences or lookaround; a pattern using them is
refused with a message that says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import re2
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from referencing import Registry
from referencing.exceptions import NoSuchResource

__all__ = [
    "MAX_PATTERN_LENGTH",
    "MAX_SCHEMA_BYTES",
    "PatternError",
    "compile_pattern",
    "schema_problems",
    "schema_validator",
]

MAX_PATTERN_LENGTH = 1000
MAX_SCHEMA_BYTES = 64 * 1024
_MAX_PROGRAM_MEMORY = 8 << 20  # RE2's budget for one compiled pattern


class PatternError(ValueError):
    """A pattern that is too long, or that RE2 cannot compile (the message says why)."""


def _options() -> Any:
    options = re2.Options()
    options.max_mem = _MAX_PROGRAM_MEMORY
    options.log_errors = False
    return options


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (``.search(text)``, ``.fullmatch(text)`` as in ``re``).

    Raises :class:`PatternError` for a pattern longer than ``MAX_PATTERN_LENGTH``
    or one RE2 refuses (backreferences, lookaround, a repetition over 1000).
    """
    if not isinstance(pattern, str):
        raise PatternError("a pattern must be a string")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"a pattern may have at most {MAX_PATTERN_LENGTH} characters")
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(f"not a supported regular expression: {reason}") from None


# -- JSON Schemas ------------------------------------------------------------------------------


def _regex_format(value: object) -> bool:
    if not isinstance(value, str):
        return True
    compile_pattern(value)
    return True


_SCHEMA_FORMATS = FormatChecker(formats=())
_SCHEMA_FORMATS.checks("regex", raises=PatternError)(_regex_format)


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not compile_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        regex = compile_pattern(pattern)
        for key, value in instance.items():
            if regex.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    known = schema.get("properties", {})
    patterns = [compile_pattern(p) for p in schema.get("patternProperties", {})]
    extras = [key for key in instance if key not in known and not any(p.search(key) for p in patterns)]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        listed = ", ".join(repr(extra) for extra in sorted(extras))
        yield ValidationError(f"Additional properties are not allowed ({listed} unexpected)")


_SafeValidator = validators.extend(
    Draft202012Validator,
    {"pattern": _pattern, "patternProperties": _pattern_properties, "additionalProperties": _additional_properties},
)


def _no_retrieval(uri: str) -> Any:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


_LOCAL_ONLY: Registry[Any] = Registry(retrieve=_no_retrieval)  # type: ignore[call-arg]


def schema_validator(schema: dict[str, Any]) -> Any:
    """A draft 2020-12 validator for ``schema`` whose patterns run on RE2 and which never
    fetches a reference. Check the schema with :func:`schema_problems` first."""
    return _SafeValidator(schema, registry=_LOCAL_ONLY)


def schema_problems(schema: Any) -> list[tuple[str, str]]:
    """Why ``schema`` cannot be a tenant's JSON Schema, as ``(path, message)`` pairs; ``[]`` if it can.

    Checked: its size (``MAX_SCHEMA_BYTES`` of JSON), that it is a valid draft
    2020-12 schema, that every ``pattern`` and ``patternProperties`` key compiles
    on RE2, and that every ``$ref`` is local (``#...``): no remote or file
    reference. ``unevaluatedProperties`` beside ``patternProperties`` is refused
    (jsonschema would evaluate those patterns with ``re``).
    """
    if not isinstance(schema, dict | bool):
        return [("", "a JSON Schema is an object or a boolean")]
    try:
        size = len(json.dumps(schema))
    except (TypeError, ValueError, RecursionError):
        return [("", "not JSON")]
    if size > MAX_SCHEMA_BYTES:
        return [("", f"the schema has {size} bytes of JSON; at most {MAX_SCHEMA_BYTES} are allowed")]
    problems = list(_walk_problems(schema, ()))
    if problems:
        return problems
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA, format_checker=_SCHEMA_FORMATS)
    for error in meta.iter_errors(schema):
        path = ".".join(str(p) for p in error.absolute_path)
        problems.append((path, error.message))
    return problems


def _walk_problems(node: Any, path: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    stack: list[tuple[Any, tuple[str, ...]]] = [(node, path)]
    seen_keywords: set[str] = set()
    while stack:
        current, where = stack.pop()
        if isinstance(current, list):
            stack.extend((item, (*where, str(i))) for i, item in enumerate(current))
            continue
        if not isinstance(current, dict):
            continue
        dotted = ".".join(where)
        seen_keywords.update(k for k in ("patternProperties", "unevaluatedProperties") if k in current)
        for key in ("$ref", "$dynamicRef"):
            ref = current.get(key)
            if isinstance(ref, str) and not ref.startswith("#"):
                yield (f"{dotted}.{key}".lstrip("."), "only local references (#...) are allowed")
        pattern = current.get("pattern")
        if isinstance(pattern, str):
            try:
                compile_pattern(pattern)
            except PatternError as exc:
                yield (f"{dotted}.pattern".lstrip("."), str(exc))
        properties = current.get("patternProperties")
        if isinstance(properties, dict):
            for key in properties:
                try:
                    compile_pattern(key)
                except PatternError as exc:
                    yield (f"{dotted}.patternProperties".lstrip("."), f"{key[:40]!r}: {exc}")
        stack.extend((value, (*where, str(key))) for key, value in current.items())
    if {"patternProperties", "unevaluatedProperties"} <= seen_keywords:
        yield ("", "unevaluatedProperties cannot be combined with patternProperties in a tenant schema")
