"""Every problem of a workflow definition at once, each with its node and field.

Checked: the inputs schema; node ids unique; dependencies known, not repeated and
acyclic (a cycle is named: ``a -> b -> a``); step types known and their plugins
enabled; each config valid against its step type's schema (expressions left in
place are not judged by the schema); expressions (``${{ }}`` in configs, ``when``)
parse, name only declared inputs and known steps, and read steps that run before
(an upstream node: anything else would read outputs that do not exist yet).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from shiplane_sdk import StepType
from shiplane_sdk.patterns import schema_problems

from shiplane.platform.secrets import unseal
from shiplane.plugins.guard import PluginCallFailed
from shiplane.plugins.service import PluginService
from shiplane.workflows.expressions import Expression, ExpressionError, expressions_in, parse_condition

STEP_KIND = "step_type"


@dataclass(frozen=True)
class Problem:
    node: str | None
    field: str
    code: str
    message: str

    def out(self) -> dict[str, Any]:
        return {"node": self.node, "field": self.field, "code": self.code, "message": self.message}


def upstream(nodes: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each node's ancestors (what runs before it), for an acyclic graph of known ids."""
    deps = {n["id"]: [d for d in n.get("dependsOn", [])] for n in nodes}
    memo: dict[str, set[str]] = {}

    def ancestors(node_id: str, trail: frozenset[str]) -> set[str]:
        if node_id in memo:
            return memo[node_id]
        found: set[str] = set()
        for dep in deps.get(node_id, []):
            if dep in deps and dep not in trail:
                found.add(dep)
                found |= ancestors(dep, trail | {dep})
        memo[node_id] = found
        return found

    return {node_id: ancestors(node_id, frozenset({node_id})) for node_id in deps}


def find_cycle(nodes: list[dict[str, Any]]) -> list[str] | None:
    """One dependency cycle as the ids along it (first id repeated at the end), or None."""
    deps = {n["id"]: [d for d in n.get("dependsOn", []) if d != n["id"]] for n in nodes}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node_id: str) -> list[str] | None:
        state[node_id] = 1
        stack.append(node_id)
        for dep in deps.get(node_id, []):
            if dep not in deps:
                continue
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if state.get(dep) is None:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node_id] = 2
        return None

    for node_id in deps:
        if state.get(node_id) is None:
            cycle = visit(node_id)
            if cycle:
                return list(reversed(cycle))
    return None


def _check_reference(
    expression: Expression, node_id: str, field: str, inputs: set[str] | None, ids: set[str], before: set[str]
) -> list[Problem]:
    problems = []
    for reference in expression.references():
        path = reference.path
        root = path[0] if path else None
        if root == "inputs" and len(path) > 1 and inputs is not None and path[1] not in inputs:
            problems.append(
                Problem(node_id, field, "unknown_input", f"{expression.text!r} reads input {path[1]!r}, not declared")
            )
        if root != "steps" or len(path) < 2:
            continue
        step = str(path[1])
        if step not in ids:
            problems.append(Problem(node_id, field, "unknown_step", f"{expression.text!r} reads unknown step {step!r}"))
        elif step not in before:
            problems.append(
                Problem(
                    node_id,
                    field,
                    "not_upstream",
                    f"{expression.text!r} reads step {step!r}, which does not run before {node_id!r} "
                    "(add it to dependsOn)",
                )
            )
        elif len(path) > 2 and path[2] not in ("outputs", "state"):
            problems.append(
                Problem(node_id, field, "bad_reference", f"{expression.text!r}: a step offers outputs.<name> and state")
            )
    return problems


_CACHE: OrderedDict[tuple[Any, ...], list[Problem]] = OrderedDict()
_CACHE_SIZE = 1024
_PENDING: dict[tuple[Any, ...], asyncio.Lock] = {}


async def validate_version(
    plugins: PluginService, version_id: str, inputs_schema: dict[str, Any], nodes: list[dict[str, Any]]
) -> list[Problem]:
    """:func:`validate_definition` of a stored (immutable) template version, remembered per
    process for the tenant's set of enabled plugins: starting many runs of one version
    checks it once. Concurrent first checks of one version wait for a single one; a result
    holding an ``unchecked`` problem (a plugin that could not answer) is not remembered."""
    enabled = frozenset(await plugins.enabled_plugin_ids())
    key = (version_id, enabled, id(plugins.registry))
    cached = _CACHE.get(key)
    if cached is not None:
        _CACHE.move_to_end(key)
        return cached
    lock = _PENDING.setdefault(key, asyncio.Lock())
    async with lock:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        problems = await validate_definition(plugins, inputs_schema, nodes)
        if not any(p.code == "unchecked" for p in problems):
            _CACHE[key] = problems
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    _PENDING.pop(key, None)
    return problems


async def validate_definition(
    plugins: PluginService, inputs_schema: dict[str, Any], nodes: list[dict[str, Any]]
) -> list[Problem]:
    problems: list[Problem] = []
    for path, message in schema_problems(inputs_schema):
        problems.append(Problem(None, f"inputsSchema{'.' + path if path else ''}", "schema", message))
    properties = inputs_schema.get("properties") if isinstance(inputs_schema, dict) else None
    declared = set(properties) if isinstance(properties, dict) else None
    if isinstance(inputs_schema, dict) and inputs_schema.get("additionalProperties") is not False:
        # Inputs beyond the declared ones are allowed: any name may be read.
        declared = None

    ids: set[str] = set()
    for index, node in enumerate(nodes):
        if node["id"] in ids:
            problems.append(
                Problem(node["id"], f"nodes.{index}.id", "duplicate_id", f"node id {node['id']!r} is used twice")
            )
        ids.add(node["id"])
    for node in nodes:
        seen: set[str] = set()
        for k, dep in enumerate(node.get("dependsOn", [])):
            field = f"dependsOn.{k}"
            if dep == node["id"]:
                problems.append(Problem(node["id"], field, "cycle", f"{node['id']!r} depends on itself"))
            elif dep not in ids:
                problems.append(Problem(node["id"], field, "unknown_dependency", f"no node {dep!r}"))
            elif dep in seen:
                problems.append(Problem(node["id"], field, "duplicate_dependency", f"{dep!r} is listed twice"))
            seen.add(dep)
    cycle = find_cycle(nodes)
    if cycle:
        problems.append(Problem(cycle[0], "dependsOn", "cycle", "dependency cycle: " + " -> ".join(cycle)))
    before = upstream(nodes) if not cycle else {n["id"]: set() for n in nodes}

    enabled = await plugins.enabled_plugin_ids()
    steps = plugins.registry.capabilities.get(STEP_KIND, {})
    for node in nodes:
        node_id = node["id"]
        registered = steps.get(node["type"])
        if registered is None:
            problems.append(
                Problem(
                    node_id, "type", "unknown_step_type", f"no installed plugin provides step type {node['type']!r}"
                )
            )
        elif registered.plugin_id not in enabled:
            problems.append(
                Problem(
                    node_id,
                    "type",
                    "step_type_disabled",
                    f"step type {node['type']!r}: plugin {registered.plugin_id!r} is disabled",
                )
            )
        config = node.get("config") or {}
        try:
            found = expressions_in(config)
        except ExpressionError as exc:
            problems.append(Problem(node_id, "config", "expression", str(exc)))
            found = []
        templated = {path for path, _ in found}
        for path, expression in found:
            problems.extend(
                _check_reference(expression, node_id, f"config.{path}", declared, ids, before.get(node_id, set()))
            )
        if node.get("when"):
            try:
                condition = parse_condition(node["when"])
            except ExpressionError as exc:
                problems.append(Problem(node_id, "when", "expression", str(exc)))
            else:
                problems.extend(_check_reference(condition, node_id, "when", declared, ids, before.get(node_id, set())))
        if registered is not None and registered.plugin_id in enabled and isinstance(registered.capability, StepType):
            clear = unseal(config, registered.capability.secret_fields(), plugins.box)
            problems.extend(await _config_problems(plugins, registered, node_id, clear, templated))
    return problems


async def _config_problems(
    plugins: PluginService, registered: Any, node_id: str, config: dict[str, Any], templated: set[str]
) -> list[Problem]:
    try:
        errors = await plugins.registry.guard.call(
            registered.plugin_id,
            "validate config",
            registered.capability.validate_config,
            config,
            tenant_id=plugins.principal.tenant_id,
            breaker_free=True,
        )
    except PluginCallFailed as exc:
        return [Problem(node_id, "config", "unchecked", f"the configuration could not be checked: {exc.reason}")]
    problems = []
    for error in errors or []:
        field = getattr(error, "field", "")
        # A value still holding ${{ }} is judged once rendered, at run time.
        if field in templated:
            continue
        problems.append(
            Problem(
                node_id,
                f"config.{field}" if field else "config",
                getattr(error, "code", "invalid"),
                getattr(error, "message", str(error)),
            )
        )
    return problems
